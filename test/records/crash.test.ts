import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createRelease } from "../../src/records/releases.js";
import { git } from "../helpers/gitdir.js";
import { recordsRemote } from "../helpers/records.js";

const WRITER = join(import.meta.dirname, "../fixtures/writer.mjs");

describe("a writer killed at any moment", () => {
  it("leaves every clone usable and the remote consistent (kill -9 at random moments)", async () => {
    const { remote, clones } = await recordsRemote(3);
    const kills = 12;
    for (let k = 0; k < kills; k++) {
      const dir = clones[k % clones.length] as string;
      const p = spawn(process.execPath, [WRITER, dir, `k${k}`, "0", "forever"], { stdio: "ignore" });
      // Let it get somewhere between planning, committing, pushing and moving the branch.
      await new Promise((r) => setTimeout(r, 150 + Math.floor(Math.random() * 900)));
      p.kill("SIGKILL");
      await new Promise((r) => p.on("close", r));
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
  }, 300_000);
});
