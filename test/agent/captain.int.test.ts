import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { commitChanges } from "../../src/meta/commit.js";
import { withReader } from "../../src/meta/reader.js";
import { channelHistory, getChannel, promoteChannel } from "../../src/records/channels.js";
import { recordPath, writeRecord } from "../../src/records/files.js";
import { readInstances } from "../../src/records/fleet.js";
import { createRelease } from "../../src/records/releases.js";
import { rolloutOf } from "../../src/records/rollout.js";
import type { Instance } from "../../src/records/types.js";
import { ensureBuilt } from "../helpers/build.js";
import { BIN } from "../helpers/cli.js";
import { git, gitEnv, tempDir } from "../helpers/gitdir.js";
import { recordsRemote } from "../helpers/records.js";

beforeAll(() => ensureBuilt());

const IDS = Array.from({ length: 6 }, (_, i) => `web-${i + 1}`);
const iso = () => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");

/** The live processes of a process group, from /proc (zombies do not count). */
function liveInGroup(pgid: number): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      let stat = "";
      try {
        stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      } catch {
        return false;
      }
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return Number(pgrp) === pgid && state !== "Z" && state !== "X";
    })
    .map(Number);
}

/**
 * Agents in another clone of the remote: each pulls, and an instance that does not run what
 * the channel gives it reports it, healthy (pushed, as a fleet's reports reach the remote).
 */
function fleet(dir: string) {
  let stop = false;
  const state = new Map<string, string>();
  const loop = (async () => {
    while (!stop) {
      git(dir, "pull", "-q", "--ff-only", "origin", "main");
      const { c, ids } = await withReader(dir, undefined, async (r) => ({ c: await getChannel(r, "shop", "stable"), ids: (await readInstances(r, "shop")).map((i) => i.id) }));
      const ro = rolloutOf(c, ids);
      const changes: Instance[] = IDS.filter((id) => state.get(id) !== ro.releaseFor(id)).map((id) => ({ id, project: "shop", channel: "stable", releaseId: ro.releaseFor(id), status: "running", health: "healthy", changedAt: iso() }));
      if (changes.length) {
        await commitChanges(dir, { message: "fleet reports", push: true }, async (tx) => {
          for (const i of changes) writeRecord(tx, "Instance", recordPath.instance("shop", i.id), i);
        });
        for (const i of changes) state.set(i.id, i.releaseId);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return async () => {
    stop = true;
    await loop;
  };
}

/** The captain as its own process (and process group, so kill -9 takes its git children too). */
function captain(dir: string, args: string[]) {
  const p = spawn(process.execPath, [BIN, "captain", "--meta", dir, ...args], { detached: true, stdio: ["ignore", "pipe", "pipe"], env: gitEnv({ HOME: tempDir("boot-meta-home-"), NO_COLOR: "1" }) });
  let stderr = "";
  let stdout = "";
  p.stderr?.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  p.stdout?.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
  const exited = new Promise<number | null>((r) => p.on("close", (code) => r(code)));
  return { p, exited, stderr: () => stderr, stdout: () => stdout };
}

describe("captain killed mid-rollout", () => {
  it("started again with the same arguments, continues from the wave the channel reached instead of starting over", async () => {
    const { clones } = await recordsRemote(2);
    const [cap, agents] = clones as [string, string];
    const repos = [{ name: "app", commit: "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c" }];
    const r10 = (await createRelease(cap, "shop", { version: "1.0", repos, push: true })).value.id;
    const r11 = (await createRelease(cap, "shop", { version: "1.1", repos, push: true })).value.id;
    await promoteChannel(cap, "shop", "stable", r10, { push: true });
    const stopFleet = fleet(agents);
    const args = ["-p", "shop", "--channel", "stable", "--to", "1.1", "--waves", "10,50,100", "--soak", "10s", "--poll", "300ms", "--wave-timeout", "5m", "--push"];
    try {
      const first = captain(cap, args);
      // Killed once it has promoted the 50% wave (its soak, 10 s, has only begun).
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (first.stderr().includes("wave 50%: promoted")) {
            clearInterval(t);
            resolve();
          }
        }, 50);
        first.exited.then((code) => {
          clearInterval(t);
          reject(new Error(`captain exited (${code}) before the 50% wave: ${first.stderr()}`));
        });
      });
      process.kill(-(first.p.pid as number), "SIGKILL");
      await first.exited;
      for (let i = 0; liveInGroup(first.p.pid as number).length > 0 && i < 600; i++) await new Promise((r) => setTimeout(r, 100));

      const second = captain(cap, [...args, "--json"]);
      const code = await second.exited;
      expect(code, second.stderr()).toBe(0);
      const r = JSON.parse(second.stdout());
      expect(r).toMatchObject({ resumed: true, from: r10, to: r11 });
      expect(r.waves.map((w: { percent: number; commit: string | null }) => [w.percent, w.commit === null])).toEqual([
        [50, true],
        [100, false],
      ]);
      expect(second.stderr()).toContain("resuming: the channel is at 50% of the release");
    } finally {
      await stopFleet();
    }
    git(cap, "pull", "-q", "--ff-only", "origin", "main");
    // One promotion per wave on the remote: the second run did not start again at 10%.
    const h = await channelHistory(cap, "shop", "stable");
    expect(h.map((c) => [c.to, c.percent ?? 100])).toEqual([
      [r11, 100],
      [r11, 50],
      [r11, 10],
      [r10, 100],
    ]);
  });
});
