// Writing records to a shared remote: each release is one commit, pushed. boot-meta's store
// (commit built in-process, compare-and-swap on the branch, rebase-retry on a lost race)
// beside the same change made with git porcelain by hand (write the file, git add, git
// commit, git push: what a shell script would do, with no retry). Then the same store under
// contention: several processes pushing to one bare remote at once.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createProject, initRepo } from "../dist/meta/repo.js";
import { createRelease } from "../dist/records/releases.js";
import { fmtMs, measure, table } from "./harness.mjs";

const root = mkdtempSync(join(tmpdir(), "boot-meta-writers-bench-"));
const env = { ...process.env, GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@invalid", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@invalid" };
const git = (cwd, ...args) => execFileSync("git", args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
const commit = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";

/** A bare remote holding a meta repo with project shop, and `n` clones configured to push. */
async function remoteWithClones(name, n) {
  const remote = join(root, `${name}.git`);
  git(root, "init", "-q", "--bare", "-b", "main", remote);
  const seed = join(root, `${name}-seed`);
  git(root, "clone", "-q", remote, seed);
  await initRepo(seed, { author: "bench <bench@invalid>" });
  await createProject(seed, "shop", { author: "bench <bench@invalid>" });
  git(seed, "push", "-q", "origin", "main");
  return Array.from({ length: n }, (_, i) => {
    const c = join(root, `${name}-${i}`);
    git(root, "clone", "-q", remote, c);
    git(c, "config", "user.name", `writer ${i}`);
    git(c, "config", "user.email", `w${i}@invalid`);
    return c;
  });
}

try {
  const [mine] = await remoteWithClones("single", 1);
  let i = 0;
  let j = 0;
  const viaStore = () => createRelease(mine, "shop", { version: `s${i++}`, repos: [{ name: "app", commit }], push: true });
  // The hand-made equivalent in another clone of its own remote (so neither races the other).
  const [porcelain] = await remoteWithClones("porcelain", 1);
  const byHand = () => {
    const id = `20260101T000000Z-h${j++}`;
    const dir = join(porcelain, "shop/releases/2026/01");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${id}.json`), `${JSON.stringify({ id, project: "shop", version: `h${j}`, repos: [{ name: "app", commit }] }, null, 2)}\n`);
    git(porcelain, "add", "-A");
    git(porcelain, "commit", "-q", "-m", `release: shop ${id}`);
    git(porcelain, "push", "-q", "origin", "main");
  };
  const r = await measure({ "boot-meta release create --push": viaStore, "baseline: git add + commit + push": byHand }, { rounds: 5, minMs: 2000 });
  console.log("one writer, one release per commit, pushed to a bare remote on disk; median per release:");
  table([
    ["contender", "time", "ratio"],
    ["boot-meta release create --push", fmtMs(r["boot-meta release create --push"]), `${(r["boot-meta release create --push"] / r["baseline: git add + commit + push"]).toFixed(2)}× the baseline`],
    ["baseline: git add + commit + push", fmtMs(r["baseline: git add + commit + push"]), "1.00"],
  ]);

  // Contention: W processes × N releases each, all pushing to one remote at the same time.
  const W = Number(process.env.WRITERS ?? 8);
  const N = Number(process.env.WRITES_PER_WRITER ?? 20);
  const clones = await remoteWithClones("contended", W);
  const writer = join(import.meta.dirname, "..", "test", "fixtures", "writer.mjs");
  const t0 = performance.now();
  const codes = await Promise.all(
    clones.map((c, w) => new Promise((res) => spawn(process.execPath, [writer, c, String(w), String(N)], { stdio: "ignore" }).on("close", res))),
  );
  const secs = (performance.now() - t0) / 1000;
  if (codes.some((c) => c !== 0)) throw new Error(`a writer failed: exit codes ${codes.join(", ")}`);
  const landed = Number(git(join(root, "contended.git"), "rev-list", "--count", "main")) - 2; // init and project create
  if (git(join(root, "contended.git"), "rev-list", "--min-parents=2", "main") !== "") throw new Error("a merge commit on the remote");
  console.log(`\n${W} processes × ${N} releases at once to one remote: ${W * N} releases in ${secs.toFixed(1)} s (${((W * N) / secs).toFixed(1)} per second, ${fmtMs((secs * 1000) / (W * N))} each); ${landed} release commits on the remote, history linear`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
