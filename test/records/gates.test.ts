import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateName } from "../../src/meta/layout.js";
import { parseMetaConfig, renderMetaConfig } from "../../src/meta/model.js";
import { areaOf, writersOf } from "../../src/meta/policy.js";
import { promoteChannel, showChannel } from "../../src/records/channels.js";
import { approveChannel } from "../../src/records/gates.js";
import { createRelease, parseCommitSpec } from "../../src/records/releases.js";
import { cliWith, err, out } from "../helpers/cli.js";
import { git } from "../helpers/gitdir.js";
import { recordsRepo } from "../helpers/records.js";
import { sshKey } from "../helpers/ssh.js";

const HASH = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";
const T0 = Date.parse("2026-02-01T00:00:00Z");
const at = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** A records repo whose rules gate shop/stable as `gate` says (YAML flow map), and releases 1.0 and 1.1 on beta's 1.0. */
async function gatedRepo(gate: string): Promise<{ dir: string; r10: string; r11: string }> {
  const dir = await recordsRepo();
  const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
  const r10 = (await createRelease(dir, "shop", { version: "1.0", repos, now: "2026-01-01T00:00:00Z" })).value.id;
  const r11 = (await createRelease(dir, "shop", { version: "1.1", repos, now: "2026-01-02T00:00:00Z" })).value.id;
  await promoteChannel(dir, "shop", "beta", r10, { now: at(-600) });
  await promoteChannel(dir, "shop", "stable", r10, { now: at(-600) });
  const rules = join(dir, ".boot-meta.yaml");
  writeFileSync(rules, `${readFileSync(rules, "utf8")}\npromotion:\n  shop:\n    stable: ${gate}\n`);
  git(dir, "commit", "-qam", "gate shop/stable");
  return { dir, r10, r11 };
}

const head = (dir: string) => git(dir, "rev-parse", "HEAD");


/** Commits alice's SSH key to keys/ (unsigned) and returns it with that commit, the trust root of what follows. */
function aliceKeyAsTrustRoot(dir: string): { alice: ReturnType<typeof sshKey>; root: string } {
  const alice = sshKey("alice");
  mkdirSync(join(dir, "keys"), { recursive: true });
  writeFileSync(join(dir, "keys/alice.txt"), `${alice.line}\n`);
  git(dir, "add", "-A");
  git(dir, "commit", "-q", "--no-gpg-sign", "-m", "alice's key");
  return { alice, root: head(dir) };
}
describe("promotion gates in .boot-meta.yaml", () => {
  it("parses promotion gates and renders them back to the same rules", () => {
    const c = parseMetaConfig("version: 1\npromotion:\n  shop:\n    stable: { after: beta, soak: 1h, approvals: 2, approvers: [alice, bob] }\n  '*':\n    '*': { approvals: 1 }\n");
    expect(c.promotion?.shop?.stable).toEqual({ after: "beta", soakSeconds: 3600, approvals: 2, approvers: ["alice", "bob"] });
    expect(parseMetaConfig(renderMetaConfig(c)).promotion).toEqual(c.promotion);
  });

  it("refuses a gate it cannot read: a soak without after, a bad duration, an unknown gate", () => {
    expect(() => parseMetaConfig("version: 1\npromotion: { shop: { stable: { soak: 1h } } }\n")).toThrow(expect.objectContaining({ code: "META_INVALID_CONFIG", message: expect.stringContaining("promotion.shop.stable.soak needs after") }));
    expect(() => parseMetaConfig("version: 1\npromotion: { shop: { stable: { after: beta, soak: soon } } }\n")).toThrow(expect.objectContaining({ code: "META_INVALID_CONFIG", message: expect.stringContaining('must be a duration like 30s, 5m, 1h or 2d, got "soon"') }));
    expect(() => parseMetaConfig("version: 1\npromotion: { shop: { stable: { wait: 1 } } }\n")).toThrow(expect.objectContaining({ code: "META_INVALID_CONFIG", message: expect.stringContaining("promotion.shop.stable.wait is not a gate") }));
  });

  it("puts an approval in the approver's own write area: only they may write it, and only if they may approve", () => {
    const c = parseMetaConfig("version: 1\ngroups: { ci: [ci] }\npromotion: { shop: { stable: { approvals: 1, approvers: [alice] } } }\n");
    const path = "shop/approvals/eu/stable/20260101T000000Z-1.0/alice.json";
    expect(areaOf(path, ["shop"])).toEqual({ area: "channel-approval", project: "shop", channel: "eu/stable", release: "20260101T000000Z-1.0", principal: "alice" });
    expect(writersOf(c, "shop/approvals/stable/20260101T000000Z-1.0/alice.json", ["shop"]).principals).toEqual(["alice"]);
    expect(writersOf(c, "shop/approvals/stable/20260101T000000Z-1.0/ci.json", ["shop"]).principals).toEqual([]);
  });

  it("reserves approvals/ inside a project: no project is named after it", () => {
    expect(() => validateName("project", "shop/approvals")).toThrow(expect.objectContaining({ code: "META_INVALID_NAME", message: expect.stringContaining("reserved by the layout") }));
  });

  it("refuses a promotion without the approvals the gate needs, writing nothing, and accepts it once approved", async () => {
    const { dir, r11 } = await gatedRepo("{ approvals: 1, approvers: [alice, bob] }");
    const before = head(dir);
    await expect(promoteChannel(dir, "shop", "stable", r11)).rejects.toMatchObject({
      code: "CHANNEL_GATE_APPROVALS",
      exitCode: 1,
      message: expect.stringContaining(`cannot promote ${r11} to shop/stable: promotion.shop.stable needs 1 approval of it for stable and it has 0; who may approve: alice, bob`),
      suggestions: [expect.stringContaining(`boot-meta channel approve shop stable ${r11} --as NAME`)],
    });
    expect(head(dir)).toBe(before);
    await expect(approveChannel(dir, "shop", "stable", "1.1", { as: "mallory" })).rejects.toMatchObject({ code: "CHANNEL_APPROVER_NOT_ALLOWED", message: expect.stringContaining("mallory may not approve releases for shop/stable: promotion.shop.stable.approvers allows alice, bob") });
    expect(head(dir)).toBe(before);
    const a = await approveChannel(dir, "shop", "stable", "1.1", { as: "alice" });
    expect(a.value).toMatchObject({ path: `shop/approvals/stable/${r11}/alice.json`, releaseId: r11, approvedBy: "alice", changed: true });
    expect((await approveChannel(dir, "shop", "stable", "1.1", { as: "alice" })).commit).toBeUndefined();
    expect((await promoteChannel(dir, "shop", "stable", r11)).value.channel.releaseId).toBe(r11);
  });

  it("counts only approvals whose file says what its path says, by someone who may approve", async () => {
    const { dir, r11 } = await gatedRepo("{ approvals: 1, approvers: [alice] }");
    const p = join(dir, "shop/approvals/stable", r11);
    mkdirSync(p, { recursive: true });
    writeFileSync(join(p, "mallory.json"), JSON.stringify({ project: "shop", channel: "stable", releaseId: r11, approvedBy: "mallory" }));
    writeFileSync(join(p, "alice.json"), JSON.stringify({ project: "shop", channel: "beta", releaseId: r11, approvedBy: "alice" }));
    git(dir, "add", "-A");
    git(dir, "commit", "-qm", "forged approvals");
    await expect(promoteChannel(dir, "shop", "stable", r11)).rejects.toMatchObject({ code: "CHANNEL_GATE_APPROVALS", message: expect.stringContaining("it has 0") });
  });

  it("refuses a promotion before the release has soaked on all of the channel before, and accepts it after", async () => {
    const { dir, r11 } = await gatedRepo("{ after: beta, soak: 1h }");
    await expect(promoteChannel(dir, "shop", "stable", r11, { now: at(0) })).rejects.toMatchObject({
      code: "CHANNEL_GATE_SOAK",
      message: expect.stringContaining(`needs it to have run on all of beta for 1h first; it has never had all of beta`),
      suggestions: [expect.stringContaining(`boot-meta channel promote shop beta ${r11}`)],
    });
    // A rollout to part of beta is not a soak on beta.
    await promoteChannel(dir, "shop", "beta", r11, { percent: 50, now: at(0) });
    await expect(promoteChannel(dir, "shop", "stable", r11, { now: at(120) })).rejects.toMatchObject({ code: "CHANNEL_GATE_SOAK", message: expect.stringContaining("never had all of beta") });
    await promoteChannel(dir, "shop", "beta", r11, { now: at(10) });
    const mid = head(dir);
    await expect(promoteChannel(dir, "shop", "stable", r11, { now: at(40) })).rejects.toMatchObject({
      code: "CHANNEL_GATE_SOAK",
      message: expect.stringContaining(`it has had all of beta for 30m at most (since ${at(10)})`),
      suggestions: [expect.stringContaining("wait 30m more")],
    });
    expect(head(dir)).toBe(mid);
    expect((await showChannel(dir, "shop", "stable", { now: at(40) })).gates).toMatchObject({ rule: "promotion.shop.stable", releaseId: r11, met: false, soak: { after: "beta", seconds: 3600, soaked: 1800, met: false, since: at(10) } });
    expect((await promoteChannel(dir, "shop", "stable", r11, { now: at(70) })).value.channel.releaseId).toBe(r11);
    expect((await showChannel(dir, "shop", "stable", { now: at(70) })).gates).toMatchObject({ met: true, soak: { soaked: 3600, met: true } });
  });

  it("counts a soak that ended when beta moved on", async () => {
    const { dir, r10, r11 } = await gatedRepo("{ after: beta, soak: 1h }");
    await promoteChannel(dir, "shop", "beta", r11, { now: at(0) });
    await promoteChannel(dir, "shop", "beta", r10, { now: at(90) });
    expect((await promoteChannel(dir, "shop", "stable", r11, { now: at(200) })).value.channel.releaseId).toBe(r11);
  });

  it("with a trust root, an approval its approver did not sign counts for nothing; one they signed counts", async () => {
    const { dir, r11 } = await gatedRepo("{ approvals: 1, approvers: [alice] }");
    const { alice, root } = aliceKeyAsTrustRoot(dir);
    // Someone else writes alice's approval, unsigned.
    await approveChannel(dir, "shop", "stable", "1.1", { as: "alice" });
    await expect(promoteChannel(dir, "shop", "stable", r11, { trustRoot: root })).rejects.toMatchObject({ code: "CHANNEL_GATE_APPROVALS", message: expect.stringContaining("it has 0") });
    // Alice signs it herself (the same approval, re-committed by her: removed, then written again).
    git(dir, "rm", "-q", `shop/approvals/stable/${r11}/alice.json`);
    git(dir, "commit", "-q", "--no-gpg-sign", "-m", "withdraw the forged approval");
    for (const [k, v] of [["gpg.format", "ssh"], ["user.signingkey", alice.keyFile], ["commit.gpgsign", "true"]]) git(dir, "config", k as string, v as string);
    await approveChannel(dir, "shop", "stable", "1.1", { as: "alice" });
    git(dir, "config", "commit.gpgsign", "false");
    expect((await promoteChannel(dir, "shop", "stable", r11, { trustRoot: root })).value.channel.releaseId).toBe(r11);
  });
  it("channel show --trust-root (or BOOT_META_TRUST_ROOT) reads the channel and its gates as allowed signers wrote them, and says what it read at a trusted version", async () => {
    const { dir, r10, r11 } = await gatedRepo("{ approvals: 1, approvers: [alice] }");
    const { alice, root } = aliceKeyAsTrustRoot(dir);
    // Someone who may do neither writes alice's approval and promotes stable, unsigned.
    await approveChannel(dir, "shop", "stable", "1.1", { as: "alice" });
    await promoteChannel(dir, "shop", "stable", r11);
    const shown = await showChannel(dir, "shop", "stable", { release: "1.1" });
    expect(shown).toMatchObject({ channel: { releaseId: r11 }, gates: { met: true, approvals: { by: ["alice"] } } });
    expect(shown.untrusted).toBeUndefined();
    const trusted = await showChannel(dir, "shop", "stable", { release: "1.1", trustRoot: root });
    expect(trusted).toMatchObject({ channel: { releaseId: r10 }, gates: { met: false, approvals: { by: [], met: false } } });
    expect(trusted.untrusted?.map((u) => u.path)).toEqual([`shop/approvals/stable/${r11}/alice.json`, "shop/channels/stable.json"]);
    expect(trusted.untrusted?.[1]?.message).toMatch(/^commit [0-9a-f]{12}: /);

    const cli = cliWith();
    for (const [args, env] of [[["--trust-root", root], {}], [[], { BOOT_META_TRUST_ROOT: root }]] as const) {
      const r = await cli(["channel", "show", "shop", "stable", "--release", "1.1", "--meta", dir, "--json", ...args], { cwd: dir, env });
      expect(r.exitCode, err(r)).toBe(0);
      expect(JSON.parse(out(r))).toMatchObject({ channel: { releaseId: r10 }, gates: { met: false }, untrusted: [{ path: `shop/approvals/stable/${r11}/alice.json` }, { path: "shop/channels/stable.json" }] });
    }
    const human = await cli(["channel", "show", "shop", "stable", "--meta", dir, "--trust-root", root], { cwd: dir });
    expect(out(human)).toContain(`shop/stable → ${r10}`);
    expect(err(human)).toContain("note: shop/channels/stable.json is shown at its last trusted version: commit ");
    const bad = await cli(["channel", "show", "shop", "stable", "--meta", dir, "--trust-root", "0000000000000000000000000000000000000000", "--json"], { cwd: dir });
    expect(bad.exitCode).not.toBe(0);
    expect(JSON.parse(out(bad)).error.code).toMatch(/^VERIFY_/);
  });
});
