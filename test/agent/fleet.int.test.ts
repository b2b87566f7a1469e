import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentState, statePath } from "../../src/agent/state.js";
import { withReader } from "../../src/meta/reader.js";
import { getChannel } from "../../src/records/channels.js";
import { fleetOf, readInstances } from "../../src/records/fleet.js";
import { rolloutOf } from "../../src/records/rollout.js";
import { createToken } from "../../src/records/tokens.js";
import { ensureBuilt } from "../helpers/build.js";
import { BIN, cliWith, err, out } from "../helpers/cli.js";
import { agentArgs, type Fleet, fleetRepo } from "../helpers/fleet.js";
import { git, gitEnv, tempDir } from "../helpers/gitdir.js";
import { freePort } from "../helpers/net.js";
import { sshKey } from "../helpers/ssh.js";

// The proof of issue 13 with a whole fleet: 20 `boot-meta agent --supervise` processes (web-01..web-20),
// each running a real "server" binary (test/helpers/fleet.ts serverScript) on a port of its own,
// following channel shop/stable. They follow and report through a real `boot-meta serve` process
// over the bare remote (--server with a token of scope instances:report; the service batches the
// reports into commits and pushes them), and wake on its change stream. The captain is a process
// of its own over another clone of the remote, so it sees what the service pushed.
//
// Everything asserted about upgrades and rollbacks is asked of the servers themselves (GET / answers
// the version the process runs), not only of the records the agents write.
//
// Covered elsewhere, not repeated here: an agent killed -9 at each point of an install leaves a
// runnable binary and the next run finishes the job (agent.int.test.ts "a kill -9 at any point");
// every kind of untrusted binary for one agent (agent.test.ts "refuses a binary it cannot trust").
// Here the fleet meets a binary with a wrong digest and one signed by a stranger, through the
// service's /v1/signers, and none of the 20 installs either.

beforeAll(() => ensureBuilt());

const cli = cliWith();
const N = 20;
const IDS = Array.from({ length: N }, (_, i) => `web-${String(i + 1).padStart(2, "0")}`);
const AUTHOR = "Test Author <author@test.invalid>";

interface Proc {
  p: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}
const procs: Proc[] = [];

/** Every process this file started is the leader of its own group: a kill of the group takes its children (git, the supervised server) too. */
afterAll(async () => {
  for (const { p } of procs) if (p.exitCode === null && p.signalCode === null) signalGroup(p, "SIGTERM");
  await Promise.race([Promise.allSettled(procs.map((x) => x.exited)), sleep(15_000)]);
  for (const { p } of procs) signalGroup(p, "SIGKILL");
});

function signalGroup(p: ChildProcess, sig: NodeJS.Signals): void {
  try {
    process.kill(-(p.pid as number), sig);
  } catch {
    /* gone already */
  }
}

/** `node bin/run.js ARGS` in a process group of its own, its output kept. */
function start(args: string[], env: NodeJS.ProcessEnv, onStdout?: () => void): Proc {
  const p = spawn(process.execPath, [BIN, ...args], { detached: true, stdio: ["ignore", "pipe", "pipe"], env });
  let o = "";
  let e = "";
  p.stdout?.on("data", (b: Buffer) => {
    o += b.toString("utf8");
    onStdout?.();
  });
  p.stderr?.on("data", (b: Buffer) => (e = (e + b.toString("utf8")).slice(-20_000)));
  const exited = new Promise<number | null>((r) => p.on("close", (code) => r(code)));
  const x = { p, stdout: () => o, stderr: () => e, exited };
  procs.push(x);
  return x;
}

/** Waits for `check` to give a value, for as long as a very busy machine needs (a guard against a hang, not a timing assertion). */
async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, explain: () => string = () => ""): Promise<T> {
  for (let i = 0; i < 3000; i++) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    await sleep(200);
  }
  throw new Error(`waited 10 minutes for ${what}\n${explain()}`);
}

interface Agent {
  id: string;
  port: number;
  install: string;
  proc: Proc;
  /** The agent's --json lines so far. */
  lines: () => Record<string, any>[];
  /** The state file as it was the moment the agent printed each "rolled-back" step. */
  atRollback: AgentState[];
}

function startAgent(f: Fleet, id: string, port: number, server: string, token: string): Agent {
  const install = join(tempDir(`agent-${id}-`), "shop");
  const atRollback: AgentState[] = [];
  let seen = 0;
  const lines = () =>
    proc
      .stdout()
      .split("\n")
      .slice(0, -1)
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, any>);
  // A rolled-back agent forgets the failure once the channel moves off the release (state.ts), which
  // takes a report batch, a captain poll, a push and a service fetch after this line: read it now.
  const onStdout = () => {
    const all = lines();
    for (const l of all.slice(seen)) if (l.action === "rolled-back") atRollback.push(JSON.parse(readFileSync(statePath(install), "utf8")) as AgentState);
    seen = all.length;
  };
  const args = agentArgs(f, install, ["--server", server, "--token", token, "--supervise", "--health", `http://127.0.0.1:${port}/health`, "--health-timeout", "10", "--interval", "10", "--json"], id);
  const proc = start(args, { PATH: process.env.PATH, HOME: tempDir("agent-home-"), NO_COLOR: "1", PORT: String(port) }, onStdout);
  return { id, port, install, proc, lines, atRollback };
}

/** What the server an agent supervises answers at / (its version), or the error. */
const versionAt = async (a: Agent): Promise<string> => fetch(`http://127.0.0.1:${a.port}/`, { signal: AbortSignal.timeout(30_000) }).then(async (r) => (await r.text()).trim(), (e: Error) => `unreachable: ${e.message}`);
const versions = async (agents: Agent[]): Promise<Record<string, string>> => Object.fromEntries(await Promise.all(agents.map(async (a) => [a.id, await versionAt(a)] as const)));
const all = (v: string) => Object.fromEntries(IDS.map((id) => [id, v]));

/** The instance records on the remote's main: id → record. */
function instanceRecords(remote: string): Map<string, Record<string, any>> {
  const out = new Map<string, Record<string, any>>();
  const listing = git(remote, "ls-tree", "-r", "main", "shop/instances");
  for (const line of listing.split("\n").filter(Boolean)) {
    const [meta, path] = line.split("\t") as [string, string];
    const rec = JSON.parse(git(remote, "cat-file", "blob", meta.split(" ")[2] as string));
    out.set(path.replace(/^.*\//, "").replace(/\.json$/, ""), rec);
  }
  return out;
}

/** Every version an instance's record had on the remote's main, newest first. */
function recordHistory(remote: string, id: string): Record<string, any>[] {
  const path = git(remote, "ls-tree", "-r", "--name-only", "main", "shop/instances").split("\n").find((p) => p.endsWith(`/${id}.json`)) as string;
  return git(remote, "log", "--format=%H", "main", "--", path)
    .split("\n")
    .filter(Boolean)
    .flatMap((c) => {
      try {
        return [JSON.parse(git(remote, "show", `${c}:${path}`))];
      } catch {
        return [];
      }
    });
}

function captain(dir: string, to: string): Proc {
  return start(["captain", "--meta", dir, "-p", "shop", "--channel", "stable", "--to", to, "--waves", "10,50,100", "--soak", "2s", "--wave-timeout", "120s", "--poll", "1s", "--push", "--json"], gitEnv({ HOME: tempDir("captain-home-"), NO_COLOR: "1" }));
}

const filesBeside = (install: string) => readdirSync(join(install, "..")).sort();

describe("a fleet of 20 agents, the captain and the service", () => {
  it("rolls 1.0 → 1.1 out in waves; a broken 1.2 is rolled back by the agents that got it and stops the captain on 1.1; untrusted binaries are installed nowhere", async () => {
    const f = await fleetRepo();
    const r10 = await f.release("1.0");
    const r11 = await f.release("1.1");
    await f.promote("1.0");
    const token = (await createToken(f.admin, "agent", { scopes: ["instances:report"], projects: ["shop"], author: AUTHOR, push: true })).value.token;

    const service = start(["serve", "--meta", f.remote, "--listen", "127.0.0.1:0", "--poll", "1s", "--report-interval", "1s", "--cache-dir", tempDir("serve-cache-"), "--log-level", "warn", "--json"], gitEnv({ HOME: tempDir("serve-home-"), NO_COLOR: "1" }));
    const listening = await waitFor("the service to listen", () => {
      const line = service.stdout().split("\n")[0];
      if (service.p.exitCode !== null) throw new Error(`serve exited: ${service.stderr()}`);
      return line && service.stdout().includes("\n") ? (JSON.parse(line) as { url: string }) : undefined;
    });
    const url = listening.url;

    // Started five at a time, each batch once it runs 1.0, so 20 node processes never start at once on 2 cores.
    const agents: Agent[] = [];
    for (let b = 0; b < N; b += 5) {
      const batch = await Promise.all(IDS.slice(b, b + 5).map(async (id) => startAgent(f, id, await freePort(), url, token)));
      agents.push(...batch);
      for (const a of batch) await waitFor(`${a.id} to install 1.0`, () => a.lines().find((l) => l.action === "installed"), () => a.proc.stderr());
    }
    const describeFleet = () => agents.map((a) => `--- ${a.id}\n${a.proc.stderr().slice(-1500)}`).join("\n") + `\n--- serve\n${service.stderr().slice(-3000)}`;
    expect(await versions(agents)).toEqual(all("1.0"));
    await waitFor("all 20 to report 1.0 healthy", () => {
      const recs = instanceRecords(f.remote);
      return IDS.every((id) => recs.get(id)?.releaseId === r10.id && recs.get(id)?.health === "healthy" && recs.get(id)?.channel === "stable");
    }, describeFleet);

    // 1.0 → 1.1 in three waves.
    const capDir = join(tempDir("captain-"), "meta");
    git(tempDir(), "clone", "-q", f.remote, capDir);
    const up = captain(capDir, "1.1");
    const upCode = await up.exited;
    expect(upCode, `${up.stderr()}\n${describeFleet()}`).toBe(0);
    const upResult = JSON.parse(up.stdout());
    expect(upResult).toMatchObject({ from: r10.id, to: r11.id, resumed: false });
    expect(upResult.waves.map((w: any) => [w.percent, w.instances, w.healthy])).toEqual([
      [10, 2, 2],
      [50, 10, 10],
      [100, 20, 20],
    ]);
    expect(await versions(agents)).toEqual(all("1.1"));
    for (const a of agents) expect(readFileSync(a.install, "utf8")).toContain("test server 1.1 ");
    git(capDir, "pull", "-q", "--ff-only", "origin", "main");
    const h1 = await cli(["channel", "history", "shop", "stable", "--meta", capDir, "--json"]);
    expect(h1.exitCode, err(h1)).toBe(0);
    expect(JSON.parse(out(h1)).history.map((c: any) => [c.to, c.percent ?? 100])).toEqual([
      [r11.id, 100],
      [r11.id, 50],
      [r11.id, 10],
      [r10.id, 100],
    ]);

    // 1.2 is built broken: its /health answers 500.
    const r12 = await f.release("1.2", { healthy: false });
    const down = captain(capDir, "1.2");
    const downCode = await down.exited;
    expect(downCode, down.stderr()).not.toBe(0);
    const failure = JSON.parse(down.stdout()).error;
    expect(failure).toMatchObject({ code: "CAPTAIN_ROLLOUT_FAILED", data: { release: r12.id, percent: 10, rolledBackTo: r11.id } });
    expect(failure.message).toContain(`rolled shop/stable back to ${r11.id}`);

    // The first wave, as every reader decides it from the 10% promotion's commit.
    git(capDir, "pull", "-q", "--ff-only", "origin", "main");
    const h2 = JSON.parse(out(await cli(["channel", "history", "shop", "stable", "--meta", capDir, "--json"]))).history;
    expect(h2.slice(0, 2).map((c: any) => [c.to, c.percent ?? 100])).toEqual([
      [r11.id, 100],
      [r12.id, 10],
    ]);
    const wave = await withReader(capDir, h2[1].commit, async (r) => {
      const ro = rolloutOf(await getChannel(r, "shop", "stable"), fleetOf(await readInstances(r, "shop"), "stable"));
      return IDS.filter((id) => ro.releaseFor(id) === r12.id);
    });
    expect(wave).toHaveLength(2);
    // The captain names the instances that failed it, with the agent's own reason.
    expect(failure.data.instances.length).toBeGreaterThan(0);
    for (const i of failure.data.instances) {
      expect(wave).toContain(i.id);
      expect(i).toMatchObject({ releaseId: r11.id, status: "failed", health: "unhealthy", lastError: expect.stringContaining("HTTP 500") });
      // And that report is in the repository's history as the agent made it.
      expect(recordHistory(f.remote, i.id)).toContainEqual(expect.objectContaining({ releaseId: r11.id, status: "failed", health: "unhealthy", lastError: expect.stringContaining("HTTP 500") }));
    }
    // Each agent of the wave installed 1.2, found it unhealthy and went back to 1.1 by itself.
    for (const id of wave) {
      const a = agents.find((x) => x.id === id) as Agent;
      const back = await waitFor(`${id} to roll 1.2 back`, () => a.lines().find((l) => l.action === "rolled-back"), () => a.proc.stderr());
      expect(back).toMatchObject({ wanted: r12.id, release: r11.id, health: "unhealthy", code: "AGENT_HEALTH_FAILED", reason: expect.stringContaining("HTTP 500") });
      expect(a.atRollback[0]).toMatchObject({ release: r11.id, sha256: r11.sha256, failed: [expect.objectContaining({ release: r12.id, sha256: r12.sha256, reason: expect.stringContaining("HTTP 500") })] });
    }
    // No other agent ever tried 1.2.
    for (const a of agents.filter((x) => !wave.includes(x.id))) expect(a.lines().filter((l) => l.release === r12.id || l.wanted === r12.id)).toEqual([]);
    expect(await versions(agents)).toEqual(all("1.1"));
    const shown = await cli(["channel", "show", "shop", "stable", "--meta", capDir, "--json"]);
    expect(shown.exitCode, err(shown)).toBe(0);
    expect(JSON.parse(out(shown)).channel).toMatchObject({ releaseId: r11.id });

    // A release whose binary is not what its record says, then one signed by a key not in keys/signers/.
    const before = new Map(agents.map((a) => [a.id, { bin: readFileSync(a.install), files: filesBeside(a.install) }]));
    const r13 = await f.release("1.3");
    writeFileSync(r13.file, `${readFileSync(r13.file, "utf8")}// tampered after it was recorded\n`);
    const r14 = await f.release("1.4", { sign: sshKey("mallory").keyFile });
    for (const [r, code] of [[r13, "BINARY_DIGEST_MISMATCH"], [r14, "BINARY_SIGNATURE_INVALID"]] as const) {
      await f.promote(r.version);
      for (const a of agents) await waitFor(`${a.id} to refuse ${r.version}`, () => a.lines().find((l) => l.action === "refused" && l.wanted === r.id && l.code === code), () => a.proc.stderr());
    }
    expect(await versions(agents)).toEqual(all("1.1"));
    for (const a of agents) {
      expect(a.lines().filter((l) => l.action === "installed" && (l.release === r13.id || l.release === r14.id))).toEqual([]);
      expect(readFileSync(a.install)).toEqual(before.get(a.id)?.bin);
      expect(filesBeside(a.install)).toEqual(before.get(a.id)?.files);
      expect(JSON.parse(readFileSync(statePath(a.install), "utf8"))).toMatchObject({ release: r11.id, sha256: r11.sha256 });
    }

    // SIGTERM: every agent stops, and its server with it.
    for (const a of agents) a.proc.p.kill("SIGTERM");
    for (const a of agents) expect(await a.proc.exited, a.proc.stderr()).toBe(0);
    for (const a of agents) expect(await versionAt(a)).toMatch(/^unreachable/);
  });
});
