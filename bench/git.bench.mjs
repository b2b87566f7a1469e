// Git plumbing on a write's hot path (issue 9, "one git gateway"): is building a commit's
// objects in-process (what src/meta/objects.ts did, now bench/in-process-objects.mjs) worth
// its code against git's own tools, and does pushing through simple-git cost more than
// spawning git? It answered: fast-import and simple-git, which boot-meta now uses.
//
// 1. One commit on top of a ~2,000-file meta repo (nested project folders), changing 1 file
//    (a new release record) and 50 files (configs and records spread over every project, as a
//    re-key does), built three ways, each in a repository of its own so that none finds the
//    objects another wrote:
//    (a) in-process: ObjectStore + applyChanges + formatCommit, base trees read through one
//        open `git cat-file --batch` (commit.ts keeps one open for the whole write), as
//        commit.ts did;
//    (b) git plumbing: the blobs through `git hash-object -w --stdin-paths` (from temporary
//        files: a write's bytes are in memory), one `git mktree -z` per changed tree (base
//        trees read through the same open cat-file), then `git commit-tree`; and (b2) the same
//        with every tree through one `git mktree -z --batch` process;
//    (c) one `git fast-import` process for blobs, trees and commit: what commit.ts does now
//        (objects.ts's planImport + importStream, run through the gateway).
//    Every contender makes the same commit id for the same iteration (asserted).
// 2. `git push` of one new commit to a bare remote on disk: spawned as commit.ts
//    did (`git push --porcelain REMOTE COMMIT:refs/heads/main` through the gateway's run)
//    against simple-git's push() as the gateway's Git.push makes it (simple-git adds --verbose
//    --porcelain and parses the result).
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Git } from "../dist/meta/git.js";
import { importStream, parseTree, planImport } from "../dist/meta/objects.js";
import { applyChanges, formatCommit, ObjectStore } from "./in-process-objects.mjs";
import { fmtMs, measure, table } from "./harness.mjs";

const root = mkdtempSync(join(tmpdir(), "boot-meta-git-bench-"));
const IDENT = "bench <bench@invalid> 1764000000 +0000";
const env = {
  ...process.env,
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "bench@invalid",
  GIT_AUTHOR_DATE: "1764000000 +0000",
  GIT_COMMITTER_NAME: "bench",
  GIT_COMMITTER_EMAIL: "bench@invalid",
  GIT_COMMITTER_DATE: "1764000000 +0000",
};
const git = (cwd, args, input) => execFileSync("git", args, { cwd, env, input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], maxBuffer: 1 << 28 }).trim();

// ---------------------------------------------------------------------------------------
// A realistic meta repo: 12 projects (some nested), each with config layers, a year of
// releases, channels, and binaries and instances sharded by hash, plus the top-level files.

/** Deterministic bytes: a small xorshift generator, so every run builds the same repo. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
const hex = (r, n) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join("");
const b64 = (r, n) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256))).toString("base64");

function metaFiles() {
  const r = rng(9);
  const files = new Map();
  const sops = (keys) => `${Array.from({ length: keys }, (_, i) => `key${i}: ENC[AES256_GCM,data:${b64(r, 24)},iv:${b64(r, 12)},tag:${b64(r, 16)},type:str]`).join("\n")}\nsops:\n    age:\n        - recipient: age1${hex(r, 58)}\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            ${b64(r, 180)}\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: "2025-11-24T10:00:00Z"\n    mac: ENC[AES256_GCM,data:${b64(r, 32)},iv:${b64(r, 12)},tag:${b64(r, 16)},type:str]\n    version: 3.9.0\n`;
  const record = (o) => `${JSON.stringify(o, null, 2)}\n`;
  files.set(".boot-meta.yaml", "version: 1\ngroups:\n  admins: [admin]\nrules:\n  - path: '**'\n    readers: [admins]\n");
  files.set(".sops.yaml", "creation_rules:\n  - path_regex: .*\n    age: age1example\n");
  for (const k of ["admin", "alice", "bob", "carol", "ci", "prod-server", "stage-server", "dave", "erin", "frank"]) files.set(`keys/${k}.txt`, `# ${k}\nage1${hex(r, 58)}\n`);
  const projects = ["shop", "billing", "search", "auth", "mail", "media", "main/maintemplatev2", "main/gateway", "tools/ci", "tools/docs", "data/etl", "data/warehouse"];
  for (const p of projects) {
    files.set(`${p}/project.yaml`, `name: ${p}\nrepos:\n  - name: app\n    url: https://git.example.com/${p}.git\nowners: [admins]\n`);
    files.set(`${p}/config.sops.yaml`, sops(20));
    for (const e of ["dev", "stage", "prod"]) files.set(`${p}/envs/${e}/config.sops.yaml`, sops(30));
    for (const d of ["alice", "bob", "carol"]) files.set(`${p}/envs/dev/${d}/config.sops.yaml`, sops(8));
    for (let m = 1; m <= 12; m++) {
      for (let i = 0; i < 6; i++) {
        const id = `2025${String(m).padStart(2, "0")}${String(i * 4 + 1).padStart(2, "0")}T120000Z-${hex(r, 6)}`;
        files.set(`${p}/releases/2025/${String(m).padStart(2, "0")}/${id}.json`, record({ id, project: p, version: `1.${m}.${i}`, repos: [{ name: "app", commit: hex(r, 40) }, { name: "lib", commit: hex(r, 40) }] }));
      }
    }
    for (const c of ["stable", "beta", "canary"]) files.set(`${p}/channels/${c}.json`, record({ channel: c, release: `20251201T120000Z-${hex(r, 6)}`, rollout: { percent: 100 } }));
    for (let i = 0; i < 40; i++) {
      const sha = hex(r, 64);
      files.set(`${p}/binaries/${sha.slice(0, 2)}/${sha}.json`, record({ sha256: sha, size: Math.floor(r() * 1e8), os: "linux", arch: "amd64", url: `s3://bin/${p}/${sha}`, signature: b64(r, 64) }));
      if (i < 4) files.set(`binaries/${sha.slice(0, 2)}/${sha}.json`, record({ sha256: sha, project: p }));
      const inst = `${p.replace(/\//g, "-")}-${hex(r, 8)}`;
      files.set(`${p}/instances/${hex(r, 2)}/${inst}.json`, record({ id: inst, channel: "stable", release: `20251201T120000Z-${hex(r, 6)}`, state: "running" }));
    }
  }
  return files;
}

// ---------------------------------------------------------------------------------------
// fast-import streams (also how the bench repos are made: the same stream, the same ids).

const data = (bytes) => [Buffer.from(`data ${bytes.length}\n`), bytes, Buffer.from("\n")];

/** A commit in fast-import's language: `changes` as M (new bytes) and D (null) lines, inline. */
function importCommit(ref, from, changes, message, mark = 1) {
  const parts = [Buffer.from(`commit ${ref}\nmark :${mark}\nauthor ${IDENT}\ncommitter ${IDENT}\n`), ...data(Buffer.from(message))];
  if (from) parts.push(Buffer.from(`from ${from}\n`));
  for (const [path, bytes] of changes) {
    if (bytes === null) parts.push(Buffer.from(`D ${path}\n`));
    else parts.push(Buffer.from(`M 100644 inline ${path}\n`), ...data(bytes));
  }
  parts.push(Buffer.from("\n"));
  return parts;
}

function run(cwd, args, input) {
  return new Promise((res, rej) => {
    const p = spawn("git", args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    let err = "";
    p.stdout.on("data", (c) => out.push(c));
    p.stderr.on("data", (c) => (err += c));
    p.on("error", rej);
    p.on("close", (code) => (code === 0 ? res(Buffer.concat(out).toString("utf8").trim()) : rej(new Error(`git ${args.join(" ")}: ${err}`))));
    p.stdin.end(input);
  });
}

const files = metaFiles();
const paths = [...files.keys()].sort();
const message = (k) => `bench write ${k}\n`;

/** A repository holding the meta repo as one commit on main; every one made this way has the same base id. */
function baseRepo(name) {
  const dir = join(root, name);
  git(root, ["init", "-q", "-b", "main", dir]);
  git(dir, ["fast-import", "--quiet", "--date-format=raw"], Buffer.concat(importCommit("refs/heads/main", undefined, [...files].map(([p, s]) => [p, Buffer.from(s)]), "a meta repo\n")));
  git(dir, ["read-tree", "main"]);
  return dir;
}

/** Iteration k's change: 1 new release record, or 50 existing files spread over the repo re-written (a re-key). */
function changesFor(n, k) {
  if (n === 1) {
    const id = `20251231T120000Z-w${k}`;
    return new Map([[`shop/releases/2025/12/${id}.json`, Buffer.from(`${JSON.stringify({ id, project: "shop", version: `2.0.${k}`, repos: [{ name: "app", commit: "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c" }] }, null, 2)}\n`)]]);
  }
  const step = Math.floor(paths.length / n);
  return new Map(Array.from({ length: n }, (_, i) => paths[i * step + 7]).map((p) => [p, Buffer.from(`${files.get(p)}# rewritten ${k}\n`)]));
}

/** Changes grouped by directory, as applyChanges groups them. */
function group(changes) {
  const rootDir = { files: new Map(), dirs: new Map() };
  for (const [path, change] of changes) {
    const parts = path.split("/");
    let d = rootDir;
    for (const p of parts.slice(0, -1)) {
      if (!d.dirs.has(p)) d.dirs.set(p, { files: new Map(), dirs: new Map() });
      d = d.dirs.get(p);
    }
    d.files.set(parts.at(-1), change);
  }
  return rootDir;
}

try {
  // ---- 1. building a commit ------------------------------------------------------------
  const dirs = { a: baseRepo("a"), b: baseRepo("b"), b2: baseRepo("b2"), c: baseRepo("c") };
  const base = git(dirs.a, ["rev-parse", "main"]);
  for (const d of Object.values(dirs)) if (git(d, ["rev-parse", "main"]) !== base) throw new Error("the bench repos differ");
  const baseTree = git(dirs.a, ["rev-parse", "main^{tree}"]);
  const treeCount = git(dirs.a, ["ls-tree", "-r", "-t", "main"]).split("\n").filter((l) => / tree /.test(l)).length + 1;
  console.log(`meta repo: ${files.size} files, ${treeCount} trees, ${(paths.reduce((s, p) => s + files.get(p).length, 0) / 2 ** 20).toFixed(1)} MiB; commit ${base.slice(0, 12)}`);

  const open = async (d) => {
    const g = await Git.open(d);
    const cat = g.catFile();
    const readTree = async (id) => {
      const o = await cat.object(id);
      if (o?.type !== "tree") throw new Error(`tree ${id} missing`);
      return parseTree(o.body, "sha1");
    };
    return { g, cat, readTree };
  };
  const A = await open(dirs.a);
  const B = await open(dirs.b);
  const B2 = await open(dirs.b2);
  const store = new ObjectStore(A.g.objectsDir, "sha1");

  // (a) as commit.ts's makeCommit does it.
  const inProcess = async (changes, k) => {
    const tree = await applyChanges(store, A.readTree, baseTree, changes);
    return store.write("commit", formatCommit({ tree, parents: [base], author: IDENT, committer: IDENT, message: message(k) }));
  };

  // (b) hash-object for the blobs, then a tree per changed directory, children first.
  const scratch = join(root, "scratch");
  mkdirSync(scratch);
  const blobsThroughGit = async (dir, changes, k) => {
    const written = [...changes].filter(([, v]) => v !== null);
    const tmp = written.map((_, i) => join(scratch, `${k}-${i}`));
    written.forEach(([, v], i) => writeFileSync(tmp[i], v));
    const ids = (await run(dir, ["hash-object", "-w", "--no-filters", "--stdin-paths"], `${tmp.join("\n")}\n`)).split("\n");
    for (const t of tmp) rmSync(t);
    return new Map(written.map(([p], i) => [p, ids[i]]));
  };
  /** Entries of one directory with its changes applied, `sub` giving the new id of each changed subdirectory. */
  const entriesOf = async (readTree, treeId, d, blobIds, at, sub) => {
    const entries = new Map((treeId ? await readTree(treeId) : []).map((e) => [e.name, e]));
    for (const [name, child] of d.dirs) {
      const old = entries.get(name);
      const id = await sub(old?.mode === "40000" ? old.id : undefined, child, `${at}${name}/`);
      if (id === undefined) entries.delete(name);
      else entries.set(name, { mode: "40000", name, id });
    }
    for (const [name, change] of d.files) {
      if (change === null) entries.delete(name);
      else entries.set(name, { mode: entries.get(name)?.mode ?? "100644", name, id: blobIds.get(`${at}${name}`) });
    }
    return [...entries.values()];
  };
  const mktreeInput = (entries) => entries.map((e) => `${e.mode === "40000" ? "040000" : e.mode} ${e.mode === "40000" ? "tree" : "blob"} ${e.id}\t${e.name}\0`).join("");
  const commitTree = (dir, tree, k) => run(dir, ["commit-tree", tree, "-p", base, "-F", "-"], message(k));

  const plumbing = async (changes, k) => {
    const blobIds = await blobsThroughGit(dirs.b, changes, k);
    const build = async (treeId, d, at) => {
      const entries = await entriesOf(B.readTree, treeId, d, blobIds, at, build);
      return entries.length === 0 ? undefined : run(dirs.b, ["mktree", "-z"], mktreeInput(entries));
    };
    return commitTree(dirs.b, await build(baseTree, group(changes), ""), k);
  };

  // (b2) the same, every tree through one `git mktree -z --batch` (a tree, then an empty record; git answers each with its id).
  const plumbingBatch = async (changes, k) => {
    const blobIds = await blobsThroughGit(dirs.b2, changes, k);
    const p = spawn("git", ["mktree", "-z", "--batch"], { cwd: dirs.b2, env, stdio: ["pipe", "pipe", "inherit"] });
    let buf = "";
    const waiting = [];
    p.stdout.on("data", (c) => {
      buf += c;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        waiting.shift()(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    const mktree = (entries) => new Promise((res) => {
      waiting.push(res);
      p.stdin.write(`${mktreeInput(entries)}\0`);
    });
    const build = async (treeId, d, at) => {
      const entries = await entriesOf(B2.readTree, treeId, d, blobIds, at, build);
      return entries.length === 0 ? undefined : mktree(entries);
    };
    const tree = await build(baseTree, group(changes), "");
    p.stdin.end();
    await new Promise((res) => p.on("close", res));
    return commitTree(dirs.b2, tree, k);
  };

  // (c) one fast-import: it reads the base trees it needs itself, and answers the commit's id.
  const C = await open(dirs.c);
  const fastImport = async (changes, k) => {
    const plan = await planImport("sha1", C.readTree, baseTree, changes);
    return (await C.g.run(["fast-import", "--quiet", "--date-format=raw"], { input: importStream(plan, { base, author: IDENT, committer: IDENT, message: message(k) }) })).stdout;
  };

  const build = {
    "(a) in-process, loose objects": inProcess,
    "(b) hash-object + mktree per tree + commit-tree": plumbing,
    "(b2) hash-object + mktree --batch + commit-tree": plumbingBatch,
    "(c) fast-import (boot-meta)": fastImport,
  };
  const results = {};
  for (const n of [1, 50]) {
    // Each contender counts its own iterations: iteration k makes the same commit in all of them.
    const made = Object.fromEntries(Object.keys(build).map((name) => [name, new Map()]));
    const contenders = Object.fromEntries(
      Object.entries(build).map(([name, fn]) => {
        let k = 0;
        return [name, async () => {
          const id = await fn(changesFor(n, `${n}-${k}`), `${n}-${k}`);
          made[name].set(k++, id);
        }];
      }),
    );
    results[n] = await measure(contenders, { rounds: 11, minMs: 1500 });
    const [first, ...rest] = Object.values(made);
    let compared = 0;
    for (const [k, id] of first) {
      for (const other of rest) {
        if (!other.has(k)) continue;
        if (other.get(k) !== id) throw new Error(`${n} files, iteration ${k}: the contenders made different commits (${[first, ...rest].map((m) => m.get(k)).join(", ")})`);
        compared++;
      }
    }
    if (compared < rest.length) throw new Error("no iteration to compare");
    const diffStat = git(dirs.a, ["diff-tree", "-r", "--name-only", base, first.get(0)]).split("\n").length;
    results[n].trees = Number(git(dirs.a, ["diff-tree", "-r", "-t", "--no-commit-id", base, first.get(0)]).split("\n").filter((l) => / 040000 /.test(l)).length) + 1;
    if (diffStat !== n) throw new Error(`expected ${n} changed files, the commit changes ${diffStat}`);
    git(dirs.a, ["fsck", "--connectivity-only", "--no-dangling", first.get(0)]); // throws on a missing object
  }
  for (const h of [A, B, B2, C]) h.cat.close();

  // ---- 2. push ---------------------------------------------------------------------------
  const local = baseRepo("local");
  const remotes = { spawned: join(root, "spawned.git"), "simple-git": join(root, "simple-git.git") };
  for (const [name, r] of Object.entries(remotes)) {
    git(root, ["init", "-q", "--bare", "-b", "main", r]);
    git(local, ["remote", "add", name, r]);
    git(local, ["push", "-q", name, "main"]);
  }
  // A chain of commits, each changing one file, ready to be pushed one at a time.
  const CHAIN = 1500;
  const stream = [];
  for (let i = 1; i <= CHAIN; i++) stream.push(...importCommit("refs/heads/chain", i === 1 ? base : `:${i - 1}`, changesFor(1, `chain-${i}`), message(`chain-${i}`), i));
  git(local, ["fast-import", "--quiet", "--date-format=raw", `--export-marks=${join(root, "marks")}`], Buffer.concat(stream));
  const chain = git(local, ["rev-list", "--reverse", `${base}..chain`]).split("\n");
  const gateway = await Git.open(local);
  const next = { spawned: 0, "simple-git": 0 };
  const take = (name) => {
    const c = chain[next[name]++];
    if (!c) throw new Error("the chain of commits ran out: make CHAIN longer");
    return c;
  };
  const push = {
    "spawned git push --porcelain": async () => {
      const r = await gateway.run(["push", "--porcelain", "spawned", `${take("spawned")}:refs/heads/main`], { reject: false });
      if (r.exitCode !== 0) throw new Error(r.stderr);
    },
    "simple-git push() (Git.push)": async () => {
      const c = take("simple-git");
      const r = await gateway.push("simple-git", `${c}:refs/heads/main`);
      // simple-git's typed result: a fast-forward of a commit (not a branch) is its `update`.
      if (!r.pushed || !c.startsWith(r.result.update?.hash.to ?? "-")) throw new Error(`simple-git says ${JSON.stringify(r)}`);
    },
  };
  const pushed = await measure(push, { rounds: 15, minMs: 3000 });
  for (const [name, r] of Object.entries(remotes)) {
    if (git(r, ["rev-parse", "main"]) !== chain[next[name] - 1]) throw new Error(`${name}: the remote is not at the last commit pushed`);
  }

  // ---- report ----------------------------------------------------------------------------
  for (const n of [1, 50]) {
    const r = results[n];
    const ref = r["(a) in-process, loose objects"];
    console.log(`\none commit changing ${n} file${n > 1 ? "s" : ""} (${n} blob${n > 1 ? "s" : ""}, ${r.trees} trees) on a ${files.size}-file repo; median per commit:`);
    table([
      ["contender", "time", "ratio"],
      ...Object.keys(build).map((name) => [name, fmtMs(r[name]), name.startsWith("(a)") ? "1.00" : `${(r[name] / ref).toFixed(2)}× in-process`]),
    ]);
  }
  const ref = pushed["spawned git push --porcelain"];
  console.log(`\ngit push of one new commit to a bare remote on disk; median per push (${next.spawned} + ${next["simple-git"]} pushes):`);
  table([
    ["contender", "time", "ratio"],
    ...Object.keys(push).map((name) => [name, fmtMs(pushed[name]), name.startsWith("spawned") ? "1.00" : `${(pushed[name] / ref).toFixed(2)}× spawned`]),
  ]);
} finally {
  rmSync(root, { recursive: true, force: true });
}
