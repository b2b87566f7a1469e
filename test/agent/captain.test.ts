import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type CaptainClock, type CaptainProgress, runCaptain } from "../../src/agent/captain.js";
import { commitChanges } from "../../src/meta/commit.js";
import { withReader } from "../../src/meta/reader.js";
import { channelHistory, getChannel, promoteChannel, rollbackChannel } from "../../src/records/channels.js";
import { recordPath, writeRecord } from "../../src/records/files.js";
import { readInstances } from "../../src/records/fleet.js";
import { createRelease, parseCommitSpec } from "../../src/records/releases.js";
import { rolloutOf } from "../../src/records/rollout.js";
import type { Instance } from "../../src/records/types.js";
import { cliWith, err, out } from "../helpers/cli.js";
import { bareRemoteWithClones, git } from "../helpers/gitdir.js";
import { recordsRepo } from "../helpers/records.js";
import { sshKey } from "../helpers/ssh.js";

const HASH = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";
const T0 = Date.parse("2026-03-01T00:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const IDS = Array.from({ length: 10 }, (_, i) => `web-${i + 1}`);

/** What a simulated agent reports once it runs a release: its health, and optionally a status. */
type Behaviour = (id: string, release: string) => { health: string; status?: string; release?: string } | undefined;

/**
 * A meta repo with releases 1.0, 1.1 and 1.2, shop/stable on 1.0, and ten instances on it
 * reporting 1.0 healthy; plus a fleet of simulated agents. Instances report the way agents
 * do: their record (release, status, health), written by the instances' own commits.
 */
async function world() {
  const dir = await recordsRepo();
  const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
  const ids: string[] = [];
  for (const [i, v] of ["1.0", "1.1", "1.2"].entries()) ids.push((await createRelease(dir, "shop", { version: v, repos, now: `2026-01-0${i + 1}T00:00:00Z` })).value.id);
  const [r10, r11, r12] = ids as [string, string, string];
  await promoteChannel(dir, "shop", "stable", r10, { now: iso(T0 - 86_400_000) });
  const state = new Map<string, Instance>();
  const write = async (changes: Instance[]) => {
    if (changes.length === 0) return;
    await commitChanges(dir, { message: `fleet: ${changes.map((c) => `${c.id} ${c.releaseId} ${c.health}`).join(", ")}` }, async (tx) => {
      for (const c of changes) writeRecord(tx, "Instance", recordPath.instance("shop", c.id), c);
    });
    for (const c of changes) state.set(c.id, c);
  };
  await write(IDS.map((id) => ({ id, project: "shop", channel: "stable", releaseId: r10, status: "running", health: "healthy", changedAt: iso(T0 - 86_400_000) })));

  let now = T0;
  let behave: Behaviour = () => ({ health: "healthy" });
  /** Each agent that does not run what the channel gives it upgrades, and reports as `behave` says. */
  const agentsStep = async () => {
    const { c, fleet } = await withReader(dir, undefined, async (r) => ({ c: await getChannel(r, "shop", "stable"), fleet: (await readInstances(r, "shop")).map((i) => i.id) }));
    const ro = rolloutOf(c, fleet);
    const changes: Instance[] = [];
    for (const id of IDS) {
      const wants = ro.releaseFor(id);
      const cur = state.get(id) as Instance;
      if (cur.releaseId === wants && cur.status !== "failed") continue;
      if (cur.status === "failed" && cur.releaseId === wants) continue;
      const b = behave(id, wants);
      if (!b) continue;
      changes.push({ id, project: "shop", channel: "stable", releaseId: b.release ?? wants, status: b.status ?? "running", health: b.health, changedAt: iso(now) });
    }
    await write(changes);
  };
  /** Time passes only when the captain waits: then the agents act. */
  const hooks: (() => Promise<void>)[] = [];
  const clock: CaptainClock = {
    now: () => now,
    async sleep(ms) {
      now += ms;
      for (const h of hooks) await h();
      await agentsStep();
    },
  };
  return {
    dir,
    r10,
    r11,
    r12,
    clock,
    state,
    hooks,
    setBehaviour: (b: Behaviour) => {
      behave = b;
    },
    setNow: (t: number) => {
      now = t;
    },
    now: () => now,
  };
}

const stable = (dir: string) => withReader(dir, undefined, (r) => getChannel(r, "shop", "stable"));
const head = (dir: string) => git(dir, "rev-parse", "HEAD");

/** Commits (unsigned) an `admin` SSH key in keys/ and these rules; that commit is the trust root. */
function underRules(dir: string, rules: string, message: string): { admin: ReturnType<typeof sshKey>; root: string } {
  const admin = sshKey("admin");
  mkdirSync(join(dir, "keys"), { recursive: true });
  writeFileSync(join(dir, "keys/admin.txt"), `${admin.line}\n`);
  writeFileSync(join(dir, ".boot-meta.yaml"), rules);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "--no-gpg-sign", "-m", message);
  return { admin, root: head(dir) };
}

/** Every commit in `dir` from here on is signed with `key`'s SSH key. */
function signAs(dir: string, key: { keyFile: string }): void {
  for (const [k, v] of [["gpg.format", "ssh"], ["user.signingkey", key.keyFile], ["commit.gpgsign", "true"]] as const) git(dir, "config", k, v);
}

describe("boot-meta captain", () => {
  it("raises the rollout wave by wave, each only once its instances report the release healthy and have soaked", async () => {
    const w = await world();
    // Agents take two polls to come up healthy on a new release.
    const seen = new Map<string, number>();
    w.setBehaviour((id) => {
      const n = (seen.get(id) ?? 0) + 1;
      seen.set(id, n);
      return n >= 2 ? { health: "healthy" } : undefined;
    });
    const promotions: { percent: number; at: number; fleet: Map<string, Instance> }[] = [];
    const events: CaptainProgress[] = [];
    const r = await runCaptain(w.dir, {
      project: "shop",
      channel: "stable",
      to: "1.1",
      waves: [10, 50, 100],
      soakMs: 60_000,
      pollMs: 20_000,
      clock: w.clock,
      onProgress: (p) => {
        events.push(p);
        if (p.phase === "promote") promotions.push({ percent: p.percent, at: w.now(), fleet: new Map(w.state) });
      },
    });
    expect(r).toMatchObject({ project: "shop", channel: "stable", from: w.r10, to: w.r11, resumed: false });
    expect(r.waves.map((x) => [x.percent, x.instances, x.healthy])).toEqual([
      [10, 1, 1],
      [50, 5, 5],
      [100, 10, 10],
    ]);
    // Before each wider wave, the whole previous wave ran 1.1 healthy, for at least the soak.
    for (const [i, p] of promotions.entries()) {
      if (i === 0) continue;
      const prev = r.waves[i - 1] as { instances: number };
      const on = [...p.fleet.values()].filter((x) => x.releaseId === w.r11 && x.health === "healthy");
      expect(on.length).toBeGreaterThanOrEqual(prev.instances);
      for (const x of on) expect(p.at - Date.parse(x.changedAt)).toBeGreaterThanOrEqual(60_000);
    }
    expect(events.some((e) => e.phase === "wait" && e.healthy < e.needed)).toBe(true);
    // Every step is a commit: the channel's history is the audit log.
    const h = await channelHistory(w.dir, "shop", "stable", { limit: 3 });
    expect(h.map((c) => [c.to, c.percent ?? 100])).toEqual([
      [w.r11, 100],
      [w.r11, 50],
      [w.r11, 10],
    ]);
    expect(await stable(w.dir)).toMatchObject({ releaseId: w.r11 });
    expect((await stable(w.dir)).rollout).toBeUndefined();
  });

  it("rolls the channel back to the release it ran before when a wave reports the release unhealthy, and exits with CAPTAIN_ROLLOUT_FAILED naming the instances", async () => {
    const w = await world();
    w.setBehaviour((_id, release) => (release === w.r11 ? { health: "unhealthy", status: "failed" } : { health: "healthy" }));
    const err = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 100], soakMs: 60_000, pollMs: 20_000, clock: w.clock }).catch((e: unknown) => e);
    const bad = [...w.state.values()].filter((x) => x.releaseId === w.r11).map((x) => x.id);
    expect(bad).toHaveLength(1);
    expect(err).toMatchObject({
      code: "CAPTAIN_ROLLOUT_FAILED",
      exitCode: 1,
      message: expect.stringContaining(`the 10% wave of ${w.r11} on shop/stable failed: ${bad[0]} reports unhealthy`),
      data: { release: w.r11, percent: 10, rolledBackTo: w.r10, instances: [{ id: bad[0], releaseId: w.r11, health: "unhealthy", status: "failed" }] },
    });
    expect((err as Error).message).toContain(`rolled shop/stable back to ${w.r10}`);
    const c = await stable(w.dir);
    expect([c.releaseId, c.rollout]).toEqual([w.r10, undefined]);
    const h = await channelHistory(w.dir, "shop", "stable", { limit: 2 });
    expect(h.map((x) => [x.to, x.percent ?? 100, x.restores !== undefined])).toEqual([
      [w.r10, 100, true],
      [w.r11, 10, false],
    ]);
  });

  it("counts an agent that rolled itself back to the old release as a failure of the wave", async () => {
    const w = await world();
    w.setBehaviour((_id, release) => (release === w.r11 ? { release: w.r10, health: "healthy", status: "rolled-back" } : { health: "healthy" }));
    const err = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 100], soakMs: 0, pollMs: 20_000, clock: w.clock }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CAPTAIN_ROLLOUT_FAILED", message: expect.stringContaining(`went back to ${w.r10} (rolled-back)`), data: { rolledBackTo: w.r10 } });
    expect((await stable(w.dir)).releaseId).toBe(w.r10);
  });

  it("gives up a wave that does not become healthy within --wave-timeout, and rolls back", async () => {
    const w = await world();
    w.setBehaviour(() => undefined); // the agents never install it
    const err = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [50, 100], soakMs: 0, pollMs: 60_000, waveTimeoutMs: 300_000, clock: w.clock }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CAPTAIN_ROLLOUT_FAILED", message: expect.stringContaining(`0 of 5 instances reported ${w.r11} healthy within --wave-timeout 5m`), data: { rolledBackTo: w.r10 } });
    expect((err as { data: { instances: unknown[] } }).data.instances).toHaveLength(5);
    expect((await stable(w.dir)).releaseId).toBe(w.r10);
  });

  it("tolerates unhealthy instances down to --min-healthy", async () => {
    const w = await world();
    const sick = "web-3";
    w.setBehaviour((id, release) => (release === w.r11 && id === sick ? { health: "unhealthy" } : { health: "healthy" }));
    const r = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [100], soakMs: 0, pollMs: 10_000, minHealthy: 90, clock: w.clock });
    expect(r.waves).toEqual([{ percent: 100, commit: expect.any(String), instances: 10, healthy: 9 }]);
  });

  it("stops without rolling back when someone else moves the channel during the rollout", async () => {
    const w = await world();
    let moved = false;
    w.hooks.push(async () => {
      if (moved || (await stable(w.dir)).rollout?.percent !== 50) return;
      moved = true;
      await promoteChannel(w.dir, "shop", "stable", w.r12, { author: "Other <other@test.invalid>" });
    });
    const err = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 50, 100], soakMs: 60_000, pollMs: 20_000, clock: w.clock }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CAPTAIN_CHANNEL_MOVED", exitCode: 3, message: expect.stringContaining(`it now points at ${w.r12}`) });
    expect((err as Error).message).toContain("rolled nothing back");
    expect((await stable(w.dir)).releaseId).toBe(w.r12);
  });

  it("stops when someone else changes the rollout of the same release (a move a compare-and-swap on the release alone would miss)", async () => {
    const w = await world();
    let n = 0;
    w.hooks.push(async () => {
      if (n++ === 0) await promoteChannel(w.dir, "shop", "stable", w.r11, { percent: 20 });
    });
    const err = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 100], soakMs: 60_000, pollMs: 20_000, clock: w.clock }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CAPTAIN_CHANNEL_MOVED" });
    expect((await stable(w.dir)).rollout?.percent).toBe(20);
  });

  it("resumes from the wave the channel is at, crediting the soak from that promotion, never restarting at the first wave", async () => {
    const w = await world();
    // The first run dies mid-soak of the 50% wave (the process killed: its clock throws).
    const crash = new Error("killed");
    const dying: CaptainClock = {
      now: w.clock.now,
      async sleep(ms) {
        await w.clock.sleep(ms);
        if ((await stable(w.dir)).rollout?.percent === 50) throw crash;
      },
    };
    await expect(runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 50, 100], soakMs: 60_000, pollMs: 20_000, clock: dying })).rejects.toBe(crash);
    const promotedAt = Date.parse((await stable(w.dir)).updatedAt);
    // Started again after the soak's time has passed: it goes on to 100% at once.
    w.setNow(promotedAt + 61_000);
    const events: CaptainProgress[] = [];
    const r = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 50, 100], soakMs: 60_000, pollMs: 20_000, clock: w.clock, onProgress: (p) => events.push(p) });
    expect(r).toMatchObject({ resumed: true, from: w.r10, to: w.r11 });
    expect(r.waves.map((x) => [x.percent, x.commit === null])).toEqual([
      [50, true],
      [100, false],
    ]);
    expect(events[0]).toEqual({ phase: "resume", percent: 50, from: w.r10 });
    expect(events.filter((e) => e.phase === "soak" && e.percent === 50)).toEqual([]);
    const h = await channelHistory(w.dir, "shop", "stable");
    expect(h.map((c) => c.percent ?? 100).slice(0, 4)).toEqual([100, 50, 10, 100]);
    // Started once more, with the rollout done: nothing to write.
    const before = head(w.dir);
    const again = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 50, 100], soakMs: 0, pollMs: 20_000, clock: w.clock });
    expect(again.waves).toEqual([{ percent: 100, commit: null, instances: 10, healthy: 10 }]);
    expect(head(w.dir)).toBe(before);
  });

  it("a failure after a resume still rolls back to the release before the rollout", async () => {
    const w = await world();
    await promoteChannel(w.dir, "shop", "stable", w.r11, { percent: 10, now: iso(T0) });
    w.setBehaviour((_id, release) => (release === w.r11 ? { health: "unhealthy" } : { health: "healthy" }));
    const err = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 100], soakMs: 0, pollMs: 20_000, clock: w.clock }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "CAPTAIN_ROLLOUT_FAILED", data: { rolledBackTo: w.r10 } });
    expect((await stable(w.dir)).releaseId).toBe(w.r10);
  });

  it("promotes through the gates like anyone else: a missing approval stops it before it writes", async () => {
    const w = await world();
    const rules = join(w.dir, ".boot-meta.yaml");
    writeFileSync(rules, `${readFileSync(rules, "utf8")}\npromotion:\n  shop:\n    stable: { approvals: 1, approvers: [alice] }\n`);
    git(w.dir, "commit", "-qam", "gate shop/stable");
    const before = head(w.dir);
    await expect(runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 100], soakMs: 0, clock: w.clock })).rejects.toMatchObject({ code: "CHANNEL_GATE_APPROVALS" });
    expect(head(w.dir)).toBe(before);
  });

  it("refuses arguments it cannot follow, writing nothing", async () => {
    const w = await world();
    const before = head(w.dir);
    const run = (o: Partial<Parameters<typeof runCaptain>[1]>) => runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 100], soakMs: 0, clock: w.clock, ...o });
    await expect(run({ waves: [50, 10] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("--waves must be increasing whole percentages from 1 to 100 (like 1,10,50,100), got 50,10") });
    await expect(run({ waves: [0, 100] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(run({ minHealthy: 120 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("--min-healthy") });
    await expect(run({ to: "9.9" })).rejects.toMatchObject({ code: "RECORD_NOT_FOUND" });
    await expect(run({ channel: "nightly" })).rejects.toMatchObject({ code: "CHANNEL_NOT_FOUND" });
    expect(head(w.dir)).toBe(before);
  });

  it("with a trust root, acts only on reports the rules allow: forged healthy reports do not move it on", async () => {
    const w = await world();
    // From here on the rules say only admins report instances, and the admin signs every commit.
    const { admin, root } = underRules(w.dir, "version: 1\ngroups: { admins: [admin] }\naccess: { project: [admins], envs: {} }\nwrite: { instances: [admins] }\n", "rules: only admins report instances");
    signAs(w.dir, admin);
    // The agents never report; a stranger's unsigned commit claims every instance runs 1.1, healthy.
    w.setBehaviour(() => undefined);
    let forged = false;
    w.hooks.push(async () => {
      if (forged) return;
      forged = true;
      git(w.dir, "config", "commit.gpgsign", "false");
      try {
        await commitChanges(w.dir, { message: "forged reports" }, async (tx) => {
          for (const id of IDS) writeRecord(tx, "Instance", recordPath.instance("shop", id), { id, project: "shop", channel: "stable", releaseId: w.r11, status: "running", health: "healthy", changedAt: iso(w.now()) });
        });
      } finally {
        git(w.dir, "config", "commit.gpgsign", "true");
      }
    });
    const events: CaptainProgress[] = [];
    const err = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [100], soakMs: 0, pollMs: 60_000, waveTimeoutMs: 180_000, trustRoot: root, clock: w.clock, onProgress: (p) => events.push(p) }).catch((e: unknown) => e);
    expect(forged).toBe(true);
    expect(err).toMatchObject({ code: "CAPTAIN_ROLLOUT_FAILED", message: expect.stringContaining(`0 of 10 instances reported ${w.r11} healthy`), data: { rolledBackTo: w.r10 } });
    expect(events).toContainEqual(expect.objectContaining({ phase: "untrusted", path: recordPath.instance("shop", "web-1") }));
    expect((await stable(w.dir)).releaseId).toBe(w.r10);
  });

  it("with a trust root, a resumed rollout rolls back to the release before it as allowed signers wrote it, not to a forged history entry", async () => {
    const w = await world();
    const { admin, root } = underRules(w.dir, "version: 1\ngroups: { admins: [admin] }\naccess: { project: [admins], envs: {} }\n", "rules: admins (and ci, by default) move channels");
    // A stranger's unsigned commits point the channel at 1.2, then at 1.0 for 5% only (the other 95% on 1.2) ...
    await promoteChannel(w.dir, "shop", "stable", w.r12, { now: iso(T0 - 7_200_000) });
    await promoteChannel(w.dir, "shop", "stable", w.r10, { percent: 5, now: iso(T0 - 3_600_000) });
    // ... then the admin's (signed) captain starts rolling out 1.1 and dies after its first wave.
    signAs(w.dir, admin);
    await promoteChannel(w.dir, "shop", "stable", w.r11, { percent: 10, now: iso(T0), trustRoot: root });
    const before = await channelHistory(w.dir, "shop", "stable");
    expect(before.map((c) => [c.to, c.percent ?? 100]).slice(0, 4)).toEqual([[w.r11, 10], [w.r10, 5], [w.r12, 100], [w.r10, 100]]);
    w.setBehaviour((_id, release) => (release === w.r11 ? { health: "unhealthy" } : { health: "healthy" }));
    const events: CaptainProgress[] = [];
    const err = await runCaptain(w.dir, { project: "shop", channel: "stable", to: "1.1", waves: [10, 100], soakMs: 0, pollMs: 20_000, trustRoot: root, clock: w.clock, onProgress: (p) => events.push(p) }).catch((e: unknown) => e);
    expect(events[0]).toEqual({ phase: "resume", percent: 10, from: w.r10 });
    expect(err).toMatchObject({ code: "CAPTAIN_ROLLOUT_FAILED", data: { rolledBackTo: w.r10 } });
    // Restored: the state an allowed signer wrote (1.0 for everyone), not the forged 1.0-for-5% one.
    const now = await stable(w.dir);
    expect(now.releaseId).toBe(w.r10);
    expect(now.rollout?.previousReleaseId ?? "").toBe("");
    expect(now.restores).toBe(before[3]?.generation);
  });

  it("with a trust root, channel rollback goes only to points allowed signers wrote, and says why it refuses a forged one", async () => {
    const w = await world();
    const { admin, root } = underRules(w.dir, "version: 1\ngroups: { admins: [admin] }\naccess: { project: [admins], envs: {} }\n", "rules");
    const forged = (await promoteChannel(w.dir, "shop", "stable", w.r12)).commit as string;
    signAs(w.dir, admin);
    await promoteChannel(w.dir, "shop", "stable", w.r11, { trustRoot: root });
    const before = head(w.dir);
    await expect(rollbackChannel(w.dir, "shop", "stable", { to: "1.2", trustRoot: root })).rejects.toMatchObject({
      code: "CHANNEL_NO_SUCH_POINT",
      message: expect.stringContaining(`the point to roll back to was written without the right (commit ${forged.slice(0, 12)}: `),
      data: { untrusted: [forged] },
    });
    expect(head(w.dir)).toBe(before);
    // The command line says the same, with --trust-root.
    const r = await cliWith()(["channel", "rollback", "shop", "stable", "--to", "1.2", "--trust-root", root, "--meta", w.dir, "--json"]);
    expect(r.exitCode).not.toBe(0);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "CHANNEL_NO_SUCH_POINT" });
    expect(head(w.dir)).toBe(before);
    // The one step back lands on that forged point too: refused the same way. A trusted point is fine.
    await expect(rollbackChannel(w.dir, "shop", "stable", { trustRoot: root })).rejects.toMatchObject({ code: "CHANNEL_NO_SUCH_POINT" });
    expect((await rollbackChannel(w.dir, "shop", "stable", { to: "1.0", trustRoot: root })).value.channel.releaseId).toBe(w.r10);
  });

  describe("on the command line", () => {
    const cli = cliWith();

    it("rolls out and prints one JSON object; progress goes to stderr", async () => {
      const w = await world();
      // A channel with no recorded instances: each wave is healthy as soon as it is promoted.
      await promoteChannel(w.dir, "shop", "canary", w.r10);
      const r = await cli(["captain", "-p", "shop", "--channel", "canary", "--to", "1.1", "--waves", "10,100", "--soak", "0", "--poll", "1s", "--meta", w.dir, "--json"]);
      expect(r.exitCode, err(r)).toBe(0);
      expect(JSON.parse(out(r))).toMatchObject({ project: "shop", channel: "canary", from: w.r10, to: w.r11, resumed: false, waves: [{ percent: 10, instances: 0 }, { percent: 100, instances: 0 }] });
      expect(err(r)).toContain("wave 10%: promoted");
    });

    it("refuses bad arguments with a typed error and exit 2, leaving the repository as it was", async () => {
      const w = await world();
      const before = head(w.dir);
      for (const [args, words] of [
        [["--waves", "1,ten"], '--waves "1,ten" is not a list of percentages'],
        [["--soak", "soon"], '--soak "soon" is not a duration'],
        [["--min-healthy", "most"], '--min-healthy "most" is not a percentage'],
      ] as const) {
        const r = await cli(["captain", "-p", "shop", "--channel", "stable", "--to", "1.1", "--meta", w.dir, "--json", ...args]);
        expect(r.exitCode).toBe(2);
        expect(JSON.parse(out(r)).error).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining(words) });
      }
      expect(head(w.dir)).toBe(before);
      expect(git(w.dir, "status", "--porcelain")).toBe("");
    });

    it("refuses to drive a repository with a remote without --push: the fleet would never see its promotions", async () => {
      const w = await world();
      const { remote } = bareRemoteWithClones(0);
      git(w.dir, "remote", "add", "origin", remote);
      const before = head(w.dir);
      const r = await cli(["captain", "-p", "shop", "--channel", "stable", "--to", "1.1", "--meta", w.dir, "--no-push"]);
      expect(r.exitCode).toBe(2);
      expect(err(r)).toContain("a captain that does not push would wait for instances that never see its promotions. Give --push");
      expect(head(w.dir)).toBe(before);
    });

    it("channel approve records the approval, and refuses someone the rules do not let approve", async () => {
      const w = await world();
      const rules = join(w.dir, ".boot-meta.yaml");
      writeFileSync(rules, `${readFileSync(rules, "utf8")}\npromotion:\n  shop:\n    stable: { approvals: 1, approvers: [alice] }\n`);
      git(w.dir, "commit", "-qam", "gate shop/stable");
      const before = head(w.dir);
      const no = await cli(["channel", "approve", "shop", "stable", "1.1", "--as", "bob", "--meta", w.dir, "--json"]);
      expect(no.exitCode).toBe(1);
      expect(JSON.parse(out(no)).error).toMatchObject({ code: "CHANNEL_APPROVER_NOT_ALLOWED" });
      expect(head(w.dir)).toBe(before);
      const yes = await cli(["channel", "approve", "shop", "stable", "1.1", "--as", "alice", "--meta", w.dir, "--json"]);
      expect(yes.exitCode, err(yes)).toBe(0);
      expect(JSON.parse(out(yes))).toMatchObject({ path: `shop/approvals/stable/${w.r11}/alice.json`, approvedBy: "alice", changed: true });
      const shown = await cli(["channel", "show", "shop", "stable", "--release", "1.1", "--meta", w.dir, "--json"]);
      expect(JSON.parse(out(shown)).gates).toMatchObject({ rule: "promotion.shop.stable", releaseId: w.r11, met: true, approvals: { needed: 1, by: ["alice"], met: true } });
      const forPeople = await cli(["channel", "show", "shop", "stable", "--release", "1.1", "--meta", w.dir]);
      expect(out(forPeople)).toContain(`gates (promotion.shop.stable) for ${w.r11}: met\n  approvals: 1 of 1 (alice) ✓`);
    });
  });
});
