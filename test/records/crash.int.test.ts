import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createRelease } from "../../src/records/releases.js";
import { ensureBuilt } from "../helpers/build.js";
import { git } from "../helpers/gitdir.js";
import { recordsRemote } from "../helpers/records.js";

const WRITER = join(import.meta.dirname, "../fixtures/writer.mjs");

// The kill points are random but repeatable: a failing run names its seed, and
// CRASH_SEED=<seed> replays the same kills.
const seed = process.env.CRASH_SEED ? Number(process.env.CRASH_SEED) : Math.floor(Math.random() * 2 ** 32);
if (!Number.isInteger(seed)) throw new Error(`CRASH_SEED must be an integer, got ${JSON.stringify(process.env.CRASH_SEED)}`);
console.log(`crash.int.test.ts: kill points from seed ${seed} (CRASH_SEED=${seed} repeats them)`);

/** mulberry32: a small seeded generator of numbers in [0, 1). */
function seeded(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

beforeAll(() => ensureBuilt());

/** The live processes of a process group, from /proc (zombies, never reaped here, do not count). */
function liveInGroup(pgid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      // /proc/PID/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces, so split after ")".
      const stat = (() => {
        try {
          return readFileSync(`/proc/${pid}/stat`, "utf8");
        } catch {
          return "";
        }
      })();
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return Number(pgrp) === pgid && state !== "Z" && state !== "X";
    })
    .map(Number);
}

/** Waits until no live process is left in a process group (a push on a busy machine may take a while). */
async function groupGone(pgid: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    if (liveInGroup(pgid).length === 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`processes of group ${pgid} still running after 5 minutes: ${liveInGroup(pgid).join(", ")}`);
}

describe("a writer killed at any moment", () => {
  it(`leaves every clone usable and the remote consistent (kill -9 at random moments, seed ${seed})`, async () => {
    const random = seeded(seed);
    const { remote, clones } = await recordsRemote(3);
    const kills = 12;
    for (let k = 0; k < kills; k++) {
      const dir = clones[k % clones.length] as string;
      // Its own process group, so the git processes it started can be waited for: killed, the
      // writer leaves them running (an in-flight `git push` goes on), and the checks below must
      // not race them.
      const p = spawn(process.execPath, [WRITER, dir, `k${k}`, "0", "forever"], { stdio: "ignore", detached: true });
      const closed = new Promise((r) => p.on("close", r));
      // Let it get somewhere between planning, committing, pushing and moving the branch.
      await new Promise((r) => setTimeout(r, 150 + Math.floor(random() * 900)));
      p.kill("SIGKILL");
      await closed;
      await groupGone(p.pid as number);
    }
    expect(git(remote, "fsck", "--no-progress", "--no-dangling")).toBe("");
    for (const c of clones) {
      expect(git(c, "fsck", "--no-progress", "--no-dangling")).toBe("");
      // Usable: a stale lock is taken over, and a new release commits and pushes.
      const r = await createRelease(c, "shop", { version: `after-${c.slice(-6)}`, repos: [{ name: "app", commit: "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c" }], push: true });
      expect(r.pushed).toBe(true);
      expect(git(c, "status", "--porcelain")).toBe("");
    }
    // The remote has only complete commits, each holding a whole record.
    const releases = git(remote, "ls-tree", "-r", "--name-only", "main", "shop/releases/").split("\n").filter(Boolean);
    for (const f of releases) expect(() => JSON.parse(git(remote, "show", `main:${f}`))).not.toThrow();
    expect(git(remote, "rev-list", "--min-parents=2", "main")).toBe("");
  });
});
