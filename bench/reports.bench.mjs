// Instance reports through the config service at fleet scale (issue 10: "plan for 100,000
// instances reporting every 30 s (~3,300 reports a second)"). One `boot-meta serve` over a
// bare remote on disk, `--report-interval 5s`; simulated reporters (bench/reporters.mjs, a
// process of its own) POST `/v1/projects/shop/instances/ID/report` with a bearer token.
//
// 1. Fill: each instance's first report, as fast as the service takes them. It creates every
//    instance record: a one-off, measured on its own (its commits carry 100,000 new files).
// 2. Steady: every instance once per period (an open loop at instances ÷ period reports a
//    second, each report timed from when it was due); a fraction of reports change the
//    instance's release or status, so each interval's commit carries real changes.
// 3. What the service committed, read from the bare remote (changed paths, tree bytes written)
//    and from git's trace2 events of the service's git processes (the time each batch commit
//    took: from `git var -l` that starts commitOnto to the push, then the fetch that serves it).
// 4. Why instances/ is sharded, side by side in a scratch repository: the same instance files
//    in one FLAT directory against the sharded layout — the bytes of the trees and the time for
//    `git fast-import` (what commitOnto runs) to write a commit on top of each that changes one
//    instance, and one that changes as many as a steady commit did.
//
// The service runs on core 1, the reporters on core 0 (taskset); the baseline git runs on
// core 1 too. The service's CPU time includes its git children (cat-file, fast-import, push,
// fetch), read from /proc.
//   BENCH_INSTANCES=100000 BENCH_PERIOD=30 BENCH_SECONDS=60 BENCH_CHANGE=0.01 BENCH_INTERVAL=5s BENCH_CONNECTIONS=64 BENCH_SEED=1   (defaults)
//   BENCH_INSTANCES=20000 BENCH_SECONDS=20   a scaled-down run (same rate per instance: 1/period)
//   BENCH_PROFILE=DIR   also writes a V8 CPU profile of the service (--cpu-prof) to DIR and prints where its time went in the steady phase
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg as loadavgs, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { runDemo } from "../dist/demo/demo.js";
import { summarizeProfile } from "./cpuprofile.mjs";
import { fleet, rng } from "./fleet.mjs";
import { median, table } from "./harness.mjs";
import { finish, firstLine, pinned, pinning, root, start, stop, tempDir } from "./processes.mjs";

const N = Number(process.env.BENCH_INSTANCES ?? 100_000);
const PERIOD = Number(process.env.BENCH_PERIOD ?? 30);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const CHANGE = Number(process.env.BENCH_CHANGE ?? 0.01);
const INTERVAL = process.env.BENCH_INTERVAL ?? "5s";
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const PROFILE = process.env.BENCH_PROFILE;
const SERVER_CORE = 1;
const LOAD_CORE = 0;
const PROJECT = "shop";
const intervalMs = Number(/^(\d+)s$/.exec(INTERVAL)?.[1] ?? NaN) * 1000;
if (!Number.isFinite(intervalMs)) throw new Error(`BENCH_INTERVAL=${INTERVAL}: give whole seconds, like 5s`);

const loadavg = [loadavgs()[0]];
const work = tempDir(mkdtempSync(join(tmpdir(), "boot-meta-bench-reports-")));
const env = { ...process.env, HOME: work, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@invalid", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@invalid" };
const git = (cwd, args, o = {}) => execFileSync("git", args, { cwd, env, encoding: "utf8", maxBuffer: 1 << 30, stdio: ["pipe", "pipe", "pipe"], ...o });

// ── A meta repo (the demo, project shop) with a report token, on a bare remote ──────────────
const demo = await runDemo(join(work, "meta"));
const created = JSON.parse(
  execFileSync(process.execPath, [join(root, "bin/run.js"), "token", "create", "prod-server", "--scope", "instances:report", "--project", PROJECT, "--expires", "1d", "--json"], {
    cwd: demo.dir,
    env: { ...env, NO_COLOR: "1" },
    encoding: "utf8",
  }),
);
const token = created.token;
const remote = join(work, "remote.git");
git(work, ["clone", "-q", "--bare", demo.dir, remote]);
const branch = git(remote, ["symbolic-ref", "--short", "HEAD"]).trim();
const existing = Number(git(remote, ["ls-tree", "-r", "--name-only", "HEAD", `${PROJECT}/instances`]).split("\n").filter(Boolean).length);

// ── The service ────────────────────────────────────────────────────────────────────────────
const trace = join(work, "trace2.json");
const profileArgs = PROFILE ? ["--cpu-prof", "--cpu-prof-dir", PROFILE] : [];
if (PROFILE) mkdirSync(PROFILE, { recursive: true });
const spawnedAt = performance.now();
const serve = start(
  ...pinned(SERVER_CORE, process.execPath, [
    ...profileArgs,
    join(root, "bin/run.js"),
    "serve",
    "--meta",
    remote,
    "--listen",
    "127.0.0.1:0",
    "--report-interval",
    INTERVAL,
    "--log-level",
    "warn",
    "--json",
    "--cache-dir",
    join(work, "serve-cache"),
  ]),
  { env: { PATH: process.env.PATH, HOME: work, NO_COLOR: "1", GIT_TRACE2_EVENT: trace } },
);
let serveErr = "";
const { url } = JSON.parse(await firstLine(serve, "boot-meta serve"));
serve.stderr.on("data", (d) => (serveErr = (serveErr + d).slice(-8000)));

// ── CPU and memory of a process tree, from /proc ───────────────────────────────────────────
const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim() || 100);
function statOf(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  // utime, stime (fields 14, 15); cutime, cstime (16, 17): children that ended and were waited for.
  return { self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}
function tree(pid) {
  const out = [pid];
  try {
    for (const t of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) out.push(...tree(Number(t)));
  } catch {
    /* it ended */
  }
  return out;
}
/** CPU time (ms) of a process: its own, and its children's (ended ones and live ones: git). */
function cpu(pid) {
  const own = statOf(pid);
  let children = own.children;
  for (const p of tree(pid).slice(1)) {
    try {
      const s = statOf(p);
      children += s.self + s.children;
    } catch {
      /* it ended meanwhile */
    }
  }
  return { self: own.self * TICK_MS, children: children * TICK_MS, total: (own.self + children) * TICK_MS };
}
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;

// ── The remote's branch, watched ───────────────────────────────────────────────────────────
const refFile = join(remote, "refs/heads", branch);
const headOf = () => {
  if (existsSync(refFile)) return readFileSync(refFile, "utf8").trim();
  return git(remote, ["rev-parse", branch]).trim();
};
const landings = [];
let head = headOf();
const watcher = setInterval(() => {
  try {
    const h = headOf();
    if (h !== head) landings.push({ at: performance.now(), commit: (head = h) });
  } catch {
    /* the ref is being rewritten */
  }
}, 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const instancesOn = (commit) => git(remote, ["ls-tree", "-r", "--name-only", commit, `${PROJECT}/instances`]).split("\n").filter(Boolean).length;

// ── The reporters ──────────────────────────────────────────────────────────────────────────
async function reporters(args) {
  const gen = start(...pinned(LOAD_CORE, process.execPath, [join(import.meta.dirname, "reporters.mjs"), JSON.stringify({ url, token, project: PROJECT, instances: N, periodSeconds: PERIOD, connections: CONNECTIONS, seed: SEED, ...args })]), { cwd: root });
  const done = finish(gen, "the reporters");
  const lines = createInterface({ input: gen.stdout });
  let cpu0;
  let t0;
  let out;
  lines.on("line", (l) => {
    const m = JSON.parse(l);
    if (m.phase === "measuring") {
      cpu0 = cpu(serve.pid);
      t0 = performance.now();
    } else {
      const c = cpu(serve.pid);
      out = { ...m, startedAt: t0, endedAt: performance.now(), serverCpu: c.total - cpu0.total, serverGitCpu: c.children - cpu0.children };
    }
  });
  await done;
  if (!out) throw new Error("the reporters printed no result");
  const wall = out.endedAt - out.startedAt;
  if ((out.statuses["202"] ?? 0) !== out.reports) throw new Error(`reports answered ${JSON.stringify(out.statuses)}; first error: ${out.firstError}; the service's stderr: ${serveErr.trim().slice(-2000)}`);
  return { ...out, wall, serverCpuShare: out.serverCpu / wall, serverCpuUsPerReport: (out.serverCpu * 1000) / out.reports, gitShare: out.serverGitCpu / out.serverCpu, generatorCpuShare: out.generatorCpuMs / out.wallMs };
}

/** Waits until the remote's branch has not moved for `quietMs` and `done()` holds (or fails after `maxMs`). */
async function settle(done, { quietMs = intervalMs * 2, maxMs = 15 * 60_000 } = {}) {
  const until = performance.now() + maxMs;
  let seen = head;
  let since = performance.now();
  for (;;) {
    await sleep(200);
    if (head !== seen) {
      seen = head;
      since = performance.now();
    }
    if (performance.now() - since >= quietMs && (await done(seen))) return seen;
    if (performance.now() > until) throw new Error(`the service's commits did not settle in ${maxMs / 1000} s; its stderr: ${serveErr.trim().slice(-2000)}`);
  }
}

// 1. Fill.
const start0 = head;
console.log(`${N.toLocaleString("en")} simulated instances of ${PROJECT}, each reporting every ${PERIOD} s (${Math.round(N / PERIOD).toLocaleString("en")} reports/s); commits every ${INTERVAL}; ${(CHANGE * 100).toFixed(1)}% of reports change state`);
console.log("fill: each instance's first report, as fast as the service takes them …");
const fillFrom = performance.now();
const fillLoad = await reporters({ mode: "fill" });
const fillHead = await settle(async (h) => instancesOn(h) >= N + existing);
const fillLanded = landings.filter((l) => l.at >= fillFrom).at(-1)?.at ?? performance.now();
console.log(`fill: ${fillLoad.reports.toLocaleString("en")} reports in ${fillLoad.seconds.toFixed(1)} s; all ${N.toLocaleString("en")} records on the remote ${((fillLanded - fillFrom) / 1000).toFixed(1)} s after the first report`);

// 2. Steady.
console.log(`steady: ${SECONDS} s at ${Math.round(N / PERIOD).toLocaleString("en")} reports/s …`);
const profileFrom = performance.now();
const steadyLoad = await reporters({ mode: "steady", seconds: SECONDS, changeFraction: CHANGE });
// What was reported is committed within the next interval or two.
const steadyHead = await settle(async () => true);
const steadyEnd = performance.now();
clearInterval(watcher);
loadavg.push(loadavgs()[0]);
const serverRss = rssMiB(serve.pid);

// 3. What the service committed.
const commitsBetween = (from, to) => (from === to ? [] : git(remote, ["rev-list", "--reverse", `${from}..${to}`]).split("\n").filter(Boolean));
const sizes = (ids) => {
  if (ids.length === 0) return [];
  return git(remote, ["cat-file", "--batch-check=%(objectsize)"], { input: `${ids.join("\n")}\n` })
    .split("\n")
    .filter(Boolean)
    .map(Number);
};
function describe(commit) {
  const paths = git(remote, ["diff-tree", "-r", "--no-commit-id", "--name-only", commit]).split("\n").filter(Boolean).length;
  // The trees this commit wrote: every tree on a changed path, and the root.
  const lines = git(remote, ["diff-tree", "-r", "-t", "--no-commit-id", commit]).split("\n").filter(Boolean);
  const trees = lines.filter((l) => l.split(" ")[1] === "040000").map((l) => l.split(" ")[3]);
  const rootTree = git(remote, ["rev-parse", `${commit}^{tree}`]).trim();
  const treeBytes = sizes([...trees, rootTree]).reduce((a, b) => a + b, 0);
  return { commit, paths, trees: trees.length + 1, treeBytes };
}

// The service's batch commits, from git's trace2 events: `git var -l` opens commitOnto, then
// fast-import writes the commit, push sends it, and the next fetch makes the service serve it.
function flushes() {
  const procs = new Map();
  for (const line of readFileSync(trace, "utf8").split("\n")) {
    if (!line) continue;
    const e = JSON.parse(line);
    if (e.sid.includes("/")) continue; // git's own children (push's pack-objects, …)
    if (e.event === "start") procs.set(e.sid, { argv: e.argv, start: Date.parse(e.time) + Number(/\.\d{3}(\d{3})Z$/.exec(e.time)?.[1] ?? 0) / 1000 });
    else if (e.event === "exit" && procs.has(e.sid)) procs.get(e.sid).end = Date.parse(e.time) + Number(/\.\d{3}(\d{3})Z$/.exec(e.time)?.[1] ?? 0) / 1000;
  }
  const list = [...procs.values()].filter((p) => p.end !== undefined).sort((a, b) => a.start - b.start);
  const verb = (p) => p.argv.slice(1).find((a) => !a.startsWith("-") && !a.includes("=") && a !== "git") ?? "";
  const out = [];
  let f;
  for (const p of list) {
    const v = verb(p);
    if (v === "var") {
      f = { start: p.start };
      out.push(f);
    } else if (f && v === "fast-import") {
      f.importStart ??= p.start;
      f.importEnd = p.end;
    } else if (f && v === "push") f.pushed = p.end;
    else if (f?.pushed && !f.served && v === "fetch") f.served = p.end;
  }
  return out.filter((x) => x.pushed);
}
const allFlushes = flushes();
const steadyFrom = performance.timeOrigin + profileFrom; // trace2 times are wall-clock
const fillFlushes = allFlushes.filter((x) => x.start < steadyFrom);
const steadyFlushes = allFlushes.filter((x) => x.start >= steadyFrom);
const fillCommits = commitsBetween(start0, fillHead).map(describe);
const steadyCommits = commitsBetween(fillHead, steadyHead).map(describe);

// The instances/ tree on the remote now.
const shardLines = git(remote, ["ls-tree", `${steadyHead}:${PROJECT}/instances`]).split("\n").filter(Boolean);
const shardTrees = shardLines.filter((l) => l.split(" ")[1] === "tree").map((l) => l.split(/\s+/)[2]);
const instTreeBytes = Number(git(remote, ["cat-file", "-s", `${steadyHead}:${PROJECT}/instances`]).trim());
const shardBytes = sizes(shardTrees);

// A profile of a big heap takes a while to write on exit.
await stop(serve, PROFILE ? 60_000 : 5000);

// 4. Baseline: the same instance files in one flat directory, against the sharded layout.
const scratch = join(work, "scratch.git");
git(work, ["init", "-q", "--bare", scratch]);
const ids = fleet(N, SEED).map((i) => i.id);
const shard = (id) => createHash("sha256").update(id).digest("hex").slice(0, 2);
const recordOf = (id, release, at) => `${JSON.stringify({ id, project: PROJECT, releaseId: release, status: "running", changedAt: at, health: "healthy" }, null, 2)}\n`;
const layouts = { flat: (id) => `${PROJECT}/instances/${id}.json`, sharded: (id) => `${PROJECT}/instances/${shard(id)}/${id}.json` };
{
  const parts = ["feature done\n"];
  ids.forEach((id, i) => {
    const b = Buffer.from(recordOf(id, "20261125T230011Z-1.0", "2026-11-25T23:00:00Z"));
    parts.push(`blob\nmark :${i + 1}\ndata ${b.length}\n`, b, "\n");
  });
  for (const [name, path] of Object.entries(layouts)) {
    parts.push(`commit refs/heads/${name}\ncommitter bench <bench@invalid> 1764111600 +0000\ndata 5\nfill\n`);
    ids.forEach((id, i) => parts.push(`M 100644 :${i + 1} ${path(id)}\n`));
    parts.push("\n");
  }
  parts.push("done\n");
  git(scratch, ["fast-import", "--quiet"], { input: Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p) : p))) });
}
const baseOf = { flat: git(scratch, ["rev-parse", "flat"]).trim(), sharded: git(scratch, ["rev-parse", "sharded"]).trim() };
const scratchSize = (spec) => Number(git(scratch, ["cat-file", "-s", spec]).trim());
const flatTreeBytes = scratchSize(`flat:${PROJECT}/instances`);
const medianChanged = Math.max(1, median(steadyCommits.map((c) => c.paths).filter((x) => x > 0)) ?? 1);
const pick = rng(SEED + 7);
/** One commit on top of the layout's base that changes `k` instances, written by fast-import as commitOnto does; its time, and the bytes of the trees it wrote. */
function commitOn(name, k, round) {
  const parts = [`feature done\ncommit refs/bench/${name}\nmark :1\ncommitter bench <bench@invalid> 1764111600 +0000\ndata 7\nchange\nfrom ${baseOf[name]}\n`];
  const chosen = new Set();
  while (chosen.size < k) chosen.add(ids[Math.floor(pick() * ids.length)]);
  for (const id of chosen) {
    const b = recordOf(id, "20261125T230012Z-1.1", `2026-11-25T23:${String(round % 60).padStart(2, "0")}:00Z`);
    parts.push(`M 100644 inline ${layouts[name](id)}\ndata ${Buffer.byteLength(b)}\n${b}\n`);
  }
  parts.push(`\nget-mark :1\nreset refs/bench/${name}\ndone\n`);
  const [file, args] = pinned(SERVER_CORE, "git", ["-C", scratch, "fast-import", "--quiet"]);
  const t0 = performance.now();
  const r = spawnSync(file, args, { env, input: parts.join(""), encoding: "utf8" });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`fast-import: ${r.stderr}`);
  const commit = r.stdout.trim();
  const lines = git(scratch, ["diff-tree", "-r", "-t", baseOf[name], commit]).split("\n").filter(Boolean);
  const trees = [...lines.filter((l) => l.split(" ")[1] === "040000").map((l) => l.split(" ")[3]), git(scratch, ["rev-parse", `${commit}^{tree}`]).trim()];
  const treeBytes = git(scratch, ["cat-file", "--batch-check=%(objectsize)"], { input: `${trees.join("\n")}\n` })
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .reduce((a, b) => a + b, 0);
  return { ms, treeBytes };
}
const ROUNDS = 7;
const base = {};
for (const k of [1, medianChanged]) {
  for (const name of ["flat", "sharded"]) base[`${name} ${k}`] = [];
  for (let r = 0; r < ROUNDS; r++) for (const name of r % 2 ? ["flat", "sharded"] : ["sharded", "flat"]) base[`${name} ${k}`].push(commitOn(name, k, r));
}
loadavg.push(loadavgs()[0]);

// ── Report ─────────────────────────────────────────────────────────────────────────────────
const fmt = (n) => Math.round(n).toLocaleString("en");
const ms = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`);
const kib = (b) => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
const pct = (v) => `${(v * 100).toFixed(0)}%`;
const spread = (xs, f) => (xs.length === 0 ? "-" : `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`);

console.log(`\nreports from ${N.toLocaleString("en")} simulated instances to one boot-meta serve (--report-interval ${INTERVAL}), keep-alive, ${CONNECTIONS} connections at most:`);
table([
  ["phase", "target/s", "achieved/s", "reports", "p50", "p99", "max", "server CPU", "CPU per report", "of it git", "reporters' CPU"],
  ...[
    ["fill (first report of each, as fast as taken)", fillLoad, "-"],
    [`steady (${SECONDS} s, each every ${PERIOD} s, ${(CHANGE * 100).toFixed(1)}% change)`, steadyLoad, fmt(N / PERIOD)],
  ].map(([name, l, target]) => [name, target, fmt(l.rps), fmt(l.reports), ms(l.p50), ms(l.p99), ms(l.max), pct(l.serverCpuShare), `${l.serverCpuUsPerReport.toFixed(0)} µs`, pct(l.gitShare), pct(l.generatorCpuShare)]),
]);
console.log(
  `steady: ${(steadyLoad.rps / (N / PERIOD)).toFixed(2)}× the target rate; ${fmt(steadyLoad.changedSent)} reports changed state, the service saw ${fmt(steadyLoad.changedByServer)} as changes; server rss at the end ${serverRss.toFixed(0)} MiB.`,
);
console.log(
  pinning.ok ? `pinned with taskset: the service (and its git) on core ${SERVER_CORE}, the reporters on core ${LOAD_CORE}; CPU shares are of one core.` : `not pinned (${pinning.why}): the service and the reporters share the cores.`,
);

const commitRows = (name, commits, fl) => [
  name,
  String(commits.length),
  spread(
    commits.map((c) => c.paths),
    fmt,
  ),
  spread(
    commits.map((c) => c.treeBytes),
    kib,
  ),
  spread(
    fl.map((f) => f.pushed - f.start),
    ms,
  ),
  spread(
    fl.filter((f) => f.importEnd).map((f) => f.importEnd - f.importStart),
    ms,
  ),
  spread(
    fl.filter((f) => f.served).map((f) => f.served - f.start),
    ms,
  ),
];
console.log(`\nthe service's batch commits (median (min–max) per commit; times from git's trace2 events of the service's git processes):`);
table([
  ["phase", "commits", "changed paths", "tree bytes written", "commit + push", "of it fast-import", "until served (fetched)"],
  commitRows("fill", fillCommits, fillFlushes),
  commitRows(`steady (${((steadyEnd - profileFrom) / 1000).toFixed(0)} s)`, steadyCommits, steadyFlushes),
]);
console.log(`(commit + push: from the \`git var -l\` that opens commitOnto, through planning the batch against the served commit and fast-import, to the end of \`git push\`)`);

console.log(`\n${PROJECT}/instances/ on the remote now: ${shardTrees.length} shard directories holding ${fmt(instancesOn(steadyHead))} records; the instances/ tree is ${kib(instTreeBytes)}, a shard tree ${spread(shardBytes, kib)}.`);
const row = (label, name, k) => {
  const xs = base[`${name} ${k}`];
  return [label, name, ms(median(xs.map((x) => x.ms))), kib(median(xs.map((x) => x.treeBytes)))];
};
console.log(`\nbaseline, in a scratch repository: the same ${fmt(N)} instance files FLAT (${PROJECT}/instances/ID.json, one tree of ${fmt(N)} entries: ${kib(flatTreeBytes)}) beside SHARDED; git fast-import writing one commit on top of each (median of ${ROUNDS}, interleaved):`);
table([
  ["commit that changes", "layout", "fast-import", "tree bytes written"],
  row("1 instance", "flat", 1),
  row("1 instance", "sharded", 1),
  row(`${medianChanged} instances (a steady commit's median)`, "flat", medianChanged),
  row(`${medianChanged} instances (a steady commit's median)`, "sharded", medianChanged),
]);
const ratio = (k, key) => median(base[`flat ${k}`].map((x) => x[key])) / median(base[`sharded ${k}`].map((x) => x[key]));
console.log(
  `flat ÷ sharded: one change ${ratio(1, "ms").toFixed(1)}× the time and ${ratio(1, "treeBytes").toFixed(0)}× the tree bytes; ${medianChanged} changes ${ratio(medianChanged, "ms").toFixed(1)}× the time and ${ratio(medianChanged, "treeBytes").toFixed(1)}× the tree bytes.`,
);
console.log(`machine load average (1 min) ${loadavg.map((l) => l.toFixed(1)).join(", ")} (start, after the service, after the baseline) on ${availableParallelism()} cores: other work shares them.`);
if (serveErr.trim() !== "") console.log(`\nthe service's stderr (last lines):\n${serveErr.trim().split("\n").slice(-6).join("\n")}`);

if (PROFILE) {
  const prof = readdirSync(PROFILE)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .at(-1);
  if (prof) {
    console.log(`\nwhere boot-meta serve's CPU went in the steady phase (V8 profile ${join(PROFILE, prof)}; its git children are not in it):`);
    summarizeProfile(join(PROFILE, prof), { skipMs: profileFrom - spawnedAt });
  } else console.log(`\nno CPU profile found in ${PROFILE}`);
}
