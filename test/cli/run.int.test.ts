import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, spawnCliProcess } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// `boot-meta run` as a process among processes: signals passed on to the command, and
// --watch restarting (or signalling) it when a commit changes its config. The command is a
// small node server that logs each start (pid, the variables it got) and each signal to a
// file; the tests wait for lines in that file, never for a length of time.

const cli = cliWith();
const spawn = spawnCliProcess();
let root: string;
let meta: string;
let admin: Awaited<ReturnType<typeof ageKeyFile>>;
let server: string;
const asAdmin = () => ({ SOPS_AGE_KEY_FILE: admin.file });
const pids: number[] = [];

type Line = { start: number; url?: string; commit?: string } | { signal: string; pid: number };

function linesOf(log: string): Line[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line);
}
const starts = (log: string) => linesOf(log).filter((l): l is Extract<Line, { start: number }> => "start" in l);

/** Waits until `cond` holds; the test's own timeout is the limit. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await sleep(50);
}

async function ok(args: string[]): Promise<void> {
  const r = await cli([...args, "--meta", meta], { env: asAdmin() });
  expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `boot-meta run … -- node server.cjs`, logging to a fresh file; with its stderr as it comes. */
function start(env: string, flags: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const log = join(tempDir(), "server.log");
  const p = spawn(["run", "-p", "shop", "-e", env, "--meta", meta, ...flags, "--", process.execPath, server], { env: { ...asAdmin(), RUN_LOG: log, ...extraEnv } });
  if (p.pid) pids.push(p.pid);
  let stderr = "";
  p.stderr?.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
  return { p, log, stderr: () => stderr };
}

beforeAll(async () => {
  root = tempDir();
  meta = join(root, "meta");
  admin = await ageKeyFile(root);
  server = join(root, "server.cjs");
  writeFileSync(
    server,
    `const fs = require("node:fs");
const log = (o) => fs.appendFileSync(process.env.RUN_LOG, JSON.stringify(o) + "\\n");
for (const signal of ["SIGHUP", "SIGTERM"]) process.on(signal, () => {
  log({ signal, pid: process.pid });
  if (signal === "SIGTERM" && !process.env.IGNORE_TERM) process.exit(0);
});
log({ start: process.pid, url: process.env.DATABASE_URL, commit: process.env.BOOT_META_COMMIT });
setInterval(() => {}, 60000);
`,
  );
  const r = await cli(["init", meta]);
  expect(r.exitCode, err(r)).toBe(0);
  await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins"]);
  await ok(["project", "create", "shop"]);
  for (const env of ["plain", "watch", "signal", "stubborn"]) {
    await ok(["env", "create", "shop", env]);
    await ok(["config", "set", "database.url", "postgres://v1", "-p", "shop", "-e", env]);
  }
});

afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
});

describe("boot-meta run and signals", () => {
  it("passes a SIGTERM on to the command and exits with the code the command ends with", async () => {
    const { p, log } = start("plain", []);
    await until(() => starts(log).length === 1);
    p.kill("SIGTERM");
    const r = await p;
    expect(r.exitCode).toBe(0);
    const [first] = starts(log);
    expect(linesOf(log)).toContainEqual({ signal: "SIGTERM", pid: first?.start });
  });
});

describe("boot-meta run --watch", () => {
  it("restarts the command with the new config on a new commit, and keeps it running through a config that does not load or flatten", async () => {
    const { p, log, stderr } = start("watch", ["--watch", "--watch-interval", "100ms"]);
    await until(() => starts(log).length === 1);
    const [first] = starts(log);
    expect(first).toMatchObject({ url: "postgres://v1", commit: git(meta, "rev-parse", "HEAD") });

    // A new value: the running command is stopped (SIGTERM) and started again with it.
    await ok(["config", "set", "database.url", "postgres://v2", "-p", "shop", "-e", "watch"]);
    const v2 = git(meta, "rev-parse", "HEAD");
    await until(() => starts(log).length === 2);
    const second = starts(log)[1];
    expect(second).toMatchObject({ url: "postgres://v2", commit: v2 });
    expect(linesOf(log)).toContainEqual({ signal: "SIGTERM", pid: first?.start });
    expect(alive(first?.start as number)).toBe(false);
    expect(stderr()).toMatch(/the config changed at [0-9a-f]{12}: restarting the child/);

    // A layer that does not open: said on stderr, and the command keeps running.
    const layer = join(meta, "shop/envs/watch/config.sops.yaml");
    writeFileSync(layer, "database:\n  url: postgres://plaintext-by-mistake\n");
    git(meta, "commit", "-qam", "a layer written without sops");
    await until(() => /could not load the config/.test(stderr()));
    expect(stderr()).toMatch(new RegExp(`could not load the config, the child keeps running with ${v2.slice(0, 12)}'s: \\[SOPS_`));
    expect(starts(log)).toHaveLength(2);
    expect(alive(second?.start as number)).toBe(true);
    git(meta, "revert", "--no-edit", "HEAD");

    // Keys that collide as variables: refused, and the command keeps running.
    await ok(["config", "set", "database-url", "postgres://collides", "-p", "shop", "-e", "watch"]);
    await until(() => /was not applied/.test(stderr()));
    expect(stderr()).toMatch(/\[RUN_ENV_COLLISION\] config keys collide as environment variables: database\.url and database-url would both become DATABASE_URL/);
    expect(starts(log)).toHaveLength(2);
    expect(alive(second?.start as number)).toBe(true);

    // Fixed: the next change is applied.
    await ok(["config", "unset", "database-url", "-p", "shop", "-e", "watch"]);
    await ok(["config", "set", "database.url", "postgres://v3", "-p", "shop", "-e", "watch"]);
    await until(() => starts(log).length === 3);
    expect(starts(log)[2]).toMatchObject({ url: "postgres://v3", commit: git(meta, "rev-parse", "HEAD") });
    expect(stderr()).not.toMatch(/postgres:/);

    p.kill("SIGTERM");
    expect((await p).exitCode).toBe(0);
  });

  it("--signal SIGHUP sends the signal on a change and keeps the command", async () => {
    const { p, log, stderr } = start("signal", ["--watch", "--watch-interval", "100ms", "--signal", "SIGHUP"]);
    await until(() => starts(log).length === 1);
    const pid = starts(log)[0]?.start;
    await ok(["config", "set", "database.url", "postgres://v2", "-p", "shop", "-e", "signal"]);
    await until(() => linesOf(log).some((l) => "signal" in l && l.signal === "SIGHUP"));
    expect(linesOf(log)).toEqual([{ start: pid, url: "postgres://v1", commit: expect.any(String) }, { signal: "SIGHUP", pid }]);
    expect(stderr()).toMatch(/sending SIGHUP to the child/);
    p.kill("SIGTERM");
    expect((await p).exitCode).toBe(0);
  });

  it("a command that ignores SIGTERM is killed after --grace and started again", async () => {
    const { p, log } = start("stubborn", ["--watch", "--watch-interval", "100ms", "--grace", "300ms"], { IGNORE_TERM: "1" });
    await until(() => starts(log).length === 1);
    const first = starts(log)[0]?.start as number;
    await ok(["config", "set", "database.url", "postgres://v2", "-p", "shop", "-e", "stubborn"]);
    await until(() => starts(log).length === 2);
    expect(linesOf(log)).toContainEqual({ signal: "SIGTERM", pid: first });
    expect(alive(first)).toBe(false);
    expect(starts(log)[1]?.url).toBe("postgres://v2");
    // It ignores a forwarded SIGTERM too; a SIGKILL ends it, and boot-meta says so in its exit code.
    process.kill(starts(log)[1]?.start as number, "SIGKILL");
    expect((await p).exitCode).toBe(128 + 9);
  });
});
