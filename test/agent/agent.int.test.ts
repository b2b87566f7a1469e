import { execFileSync } from "node:child_process";
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { readAgentState } from "../../src/agent/state.js";
import { createToken } from "../../src/records/tokens.js";
import { type RunningServer, startServer } from "../../src/server/serve.js";
import { cliWith, err, out, spawnCliProcess } from "../helpers/cli.js";
import { agentArgs, type Fleet, fleetRepo } from "../helpers/fleet.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { freePort, NatsServer } from "../helpers/net.js";

// `boot-meta agent` as a process of its own, against real repositories, a real `serve` and
// real "server" binaries (test/helpers/fleet.ts) listening on 127.0.0.1.

const cli = cliWith();
const spawn = spawnCliProcess();
const AUTHOR = "Test Author <author@test.invalid>";
const servers: RunningServer[] = [];
const natsServers: NatsServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
  for (const n of natsServers) await n.stop();
});

/** A real nats-server on a free port of 127.0.0.1, with a user and password; its URL. */
async function natsServer(): Promise<string> {
  const n = new NatsServer(await freePort(), { user: "agent", pass: "n4ts-pass" });
  natsServers.push(n);
  await n.start();
  return n.url;
}

/** A running agent: its --json lines as they come. */
function runAgent(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = spawn(args, { env });
  let buf = "";
  let errBuf = "";
  p.stdout?.on("data", (c: Buffer) => (buf += c.toString("utf8")));
  p.stderr?.on("data", (c: Buffer) => (errBuf += c.toString("utf8")));
  const lines = () =>
    buf
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, any>);
  return {
    p,
    lines,
    stderr: () => errBuf,
    /** Waits (up to 90 s, for a busy machine) for a line that `match` accepts; returns it. */
    async next(match: (l: Record<string, any>) => boolean, after = 0): Promise<Record<string, any>> {
      for (let i = 0; i < 900; i++) {
        const hit = lines().slice(after).find(match);
        if (hit) return hit;
        if (p.exitCode !== null) break;
        await sleep(100);
      }
      throw new Error(`no such line; got:\n${buf}\nstderr:\n${errBuf}`);
    },
  };
}

const version = async (port: number) => (await (await fetch(`http://127.0.0.1:${port}/`)).text()).trim();
const instanceRecord = (f: Fleet): any => {
  const path = git(f.remote, "ls-tree", "-r", "--name-only", "main", "shop/instances").split("\n").find((p) => p.endsWith("/web-1.json"));
  return path ? JSON.parse(git(f.remote, "show", `main:${path}`)) : undefined;
};

describe("boot-meta agent, as a process", () => {
  it("--supervise runs the binary, follows promotions, rolls back a broken release, and stops the binary with itself", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const port = await freePort();
    const install = join(tempDir(), "shop");
    const a = runAgent([...agentArgs(f, install, ["--meta", f.remote, "--supervise", "--health", `http://127.0.0.1:${port}/health`, "--health-timeout", "6", "--interval", "0.5", "--json"])], { PORT: String(port) });
    try {
      const first = await a.next((l) => l.action === "installed");
      expect(first.release).toMatch(/-1\.0$/);
      expect(await version(port)).toBe("1.0");

      await f.release("1.1");
      await f.promote("1.1");
      const up = await a.next((l) => l.action === "installed" && /-1\.1$/.test(l.release));
      expect(up).toMatchObject({ previous: first.release, health: "healthy" });
      expect(await version(port)).toBe("1.1");

      // The binary dies: the agent starts it again.
      const pid = Number(await (await fetch(`http://127.0.0.1:${port}/pid`)).text());
      process.kill(pid, "SIGKILL");
      let again: number | undefined;
      for (let i = 0; i < 600 && (again === undefined || again === pid); i++) {
        again = await fetch(`http://127.0.0.1:${port}/pid`).then(async (r) => Number(await r.text()), () => undefined);
        await sleep(100);
      }
      expect(again).not.toBe(pid);
      expect(a.stderr()).toMatch(/exited \(SIGKILL\); starting it again in 1 s/);

      const n = a.lines().length;
      await f.release("1.2", { healthy: false });
      await f.promote("1.2");
      const back = await a.next((l) => l.action === "rolled-back", n);
      expect(back).toMatchObject({ release: up.release, wanted: expect.stringMatching(/-1\.2$/), health: "unhealthy", code: "AGENT_HEALTH_FAILED" });
      expect(await version(port)).toBe("1.1");
      // Reported through git, with why; and it keeps refusing 1.2 without installing it again.
      expect(instanceRecord(f)).toMatchObject({ channel: "stable", releaseId: up.release, status: "failed", health: "unhealthy", lastError: expect.stringContaining("HTTP 500") });
      await a.next((l) => l.action === "refused" && l.code === "AGENT_RELEASE_FAILED_BEFORE", n);
      expect(await version(port)).toBe("1.1");
    } finally {
      a.p.kill("SIGTERM");
    }
    const done = await a.p;
    expect(done.exitCode, a.stderr()).toBe(0);
    expect(a.lines().at(-1)).toMatchObject({ action: "stopped", release: expect.stringMatching(/-1\.1$/) });
    // The supervised binary went with it.
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it("a kill -9 at any point of an install leaves a runnable PATH, and the next run finishes the job", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const template = join(tempDir(), "bin");
    const seed = join(template, "shop");
    execFileSync("mkdir", ["-p", template]);
    const base = ["--meta", f.remote, "--health", `${seed} health`, "--health-timeout", "10", "--once", "--json"];
    expect((await cli(agentArgs(f, seed, base))).exitCode).toBe(0);
    await f.release("1.1");
    await f.promote("1.1");
    for (const point of ["downloaded", "verified", "previous-linked", "renamed"]) {
      const dir = join(tempDir(), "bin");
      cpSync(template, dir, { recursive: true });
      const install = join(dir, "shop");
      const args = agentArgs(f, install, ["--meta", f.remote, "--health", `${install} health`, "--health-timeout", "10", "--once", "--json"]);
      const killed = await spawn(args, { env: { BOOT_META_AGENT_KILL_AT: point } });
      expect(killed.signal, `${point}: ${Buffer.from(killed.stderr).toString()}`).toBe("SIGKILL");
      // Runnable, whole, and one of the two releases.
      expect(execFileSync(install, ["health"]).length).toBe(0);
      expect(readFileSync(install, "utf8"), point).toMatch(/test server 1\.[01] /);
      const next = await cli(args);
      expect(next.exitCode, `${point}: ${err(next)}`).toBe(0);
      expect(JSON.parse(out(next)), point).toMatchObject({ action: "installed", release: expect.stringMatching(/-1\.1$/) });
      expect(readFileSync(install, "utf8")).toContain("test server 1.1 ");
      const state = await readAgentState(install);
      expect(state.release).toMatch(/-1\.1$/);
      // PATH.previous is 1.0 exactly when the state says so.
      if (state.previous) expect(readFileSync(`${install}.previous`, "utf8")).toContain("test server 1.0 ");
    }
  });

  it("--server: follows the service without git, verifies against /v1/signers, reports through it, and wakes on its change stream", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const token = (await createToken(f.admin, "agent", { scopes: ["instances:report"], projects: ["shop"], author: AUTHOR, push: true })).value.token;
    const s = await startServer({ meta: f.remote, port: 0, cacheDir: tempDir(), environment: {}, pollMs: 300, reportIntervalMs: 200, author: AUTHOR });
    servers.push(s);
    const signers = (await (await fetch(`${s.url}/v1/signers`)).json()) as any;
    expect(signers).toMatchObject({ commit: s.mirror.head, signers: [{ name: "ci", keys: [f.signer.line] }] });

    const install = join(tempDir(), "shop");
    const args = agentArgs(f, install, ["--server", s.url, "--token", token, "--health", `${install} health`, "--health-timeout", "10"]);
    const first = await cli([...args, "--once", "--json"]);
    expect(first.exitCode, err(first)).toBe(0);
    expect(JSON.parse(out(first))).toMatchObject({ action: "installed", release: expect.stringMatching(/-1\.0$/), commit: s.mirror.head });
    // The report lands as a commit (the service batches it), naming the channel.
    for (let i = 0; i < 300 && instanceRecord(f)?.health !== "healthy"; i++) await sleep(100);
    expect(instanceRecord(f)).toMatchObject({ channel: "stable", status: "running", health: "healthy", releaseId: expect.stringMatching(/-1\.0$/) });

    // A poll period no test waits for: only the stream can bring the promotion in time.
    const a = runAgent([...args, "--interval", "3600", "--json"]);
    try {
      await a.next((l) => l.action === "up-to-date");
      await f.release("1.1");
      await f.promote("1.1");
      const up = await a.next((l) => l.action === "installed");
      expect(up.release).toMatch(/-1\.1$/);
    } finally {
      a.p.kill("SIGTERM");
    }
    expect((await a.p).exitCode, a.stderr()).toBe(0);
  });

  it("--nats: a promotion the service publishes wakes an agent that follows the meta repository", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const nats = await natsServer();
    const s = await startServer({ meta: f.remote, port: 0, cacheDir: tempDir(), environment: {}, pollMs: 300, author: AUTHOR, nats });
    servers.push(s);
    const install = join(tempDir(), "shop");
    // A poll period no test waits for: only NATS can bring the promotion in time.
    const a = runAgent(agentArgs(f, install, ["--meta", f.remote, "--nats", nats, "--health", `${install} health`, "--interval", "3600", "--json"]));
    try {
      await a.next((l) => l.action === "installed");
      await f.release("1.1");
      await f.promote("1.1");
      const up = await a.next((l) => l.action === "installed" && /-1\.1$/.test(l.release));
      expect(up.previous).toMatch(/-1\.0$/);
    } finally {
      a.p.kill("SIGTERM");
    }
    expect((await a.p).exitCode, a.stderr()).toBe(0);
    expect(a.stderr()).not.toContain("n4ts-pass");
  });
});
