import { spawn } from "node:child_process";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { listReleases } from "../../src/records/releases.js";
import { ensureBuilt } from "../helpers/build.js";
import { git } from "../helpers/gitdir.js";
import { recordsRemote } from "../helpers/records.js";

const WRITER = join(import.meta.dirname, "../fixtures/writer.mjs");
// The figure: 8 writers × 50 releases, all pushing to one bare remote at once
// (about 2½ minutes on 2 cores). WRITES_PER_WRITER=8 makes a quick local run.
const PER_WRITER = Number(process.env.WRITES_PER_WRITER ?? 50);

// The writers run dist/ (fixtures/writer.mjs): never an older build than src/.
beforeAll(() => ensureBuilt());

function run(dir: string, id: number, count: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [WRITER, dir, String(id), String(count)], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (c) => (stderr += c));
    p.on("close", (code) => res({ code, stderr }));
  });
}

describe("many writers on one remote", () => {
  it(`8 processes each appending ${PER_WRITER} releases at once: all present, none lost, history linear, no force push`, async () => {
    const { remote, clones } = await recordsRemote(8);
    const results = await Promise.all(clones.map((c, i) => run(c, i, PER_WRITER)));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const files = git(remote, "ls-tree", "-r", "--name-only", "main", "shop/releases/").split("\n").filter(Boolean);
    expect(files).toHaveLength(8 * PER_WRITER);
    for (let w = 0; w < 8; w++) for (let i = 0; i < PER_WRITER; i++) expect(files.some((f) => f.endsWith(`-w${w}-${i}.json`)), `w${w}-${i}`).toBe(true);
    // Linear: every commit has one parent; and every writer's last local commit is in the remote's history (nothing was overwritten).
    expect(git(remote, "rev-list", "--min-parents=2", "main")).toBe("");
    for (const c of clones) expect(git(remote, "merge-base", "--is-ancestor", git(c, "rev-parse", "HEAD"), "main")).toBe("");
    expect(git(remote, "fsck", "--no-progress", "--no-dangling")).toBe("");
    // A writer's clone sees everything once it pulls.
    git(clones[0] as string, "pull", "-q", "--ff-only", "origin", "main");
    expect((await listReleases(clones[0] as string, "shop", { limit: 1000 })).releases).toHaveLength(8 * PER_WRITER);
  });

  it("several processes on the same clone take turns", async () => {
    const { remote, clones } = await recordsRemote(1);
    const dir = clones[0] as string;
    const results = await Promise.all([0, 1, 2, 3].map((i) => run(dir, 100 + i, 5)));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(git(remote, "ls-tree", "-r", "--name-only", "main", "shop/releases/").split("\n").filter(Boolean)).toHaveLength(20);
    expect(git(dir, "status", "--porcelain")).toBe("");
  });
});
