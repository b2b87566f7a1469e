// The agent (issue 13, "Proof"): how long from a promotion to the whole fleet reporting the new
// release, following the service's change stream beside polling, and what an idle agent costs.
//
// Two fleets of AGENTS `boot-meta agent` processes (default 20 each) follow channel shop/stable
// of one meta repository on a bare remote, side by side, so every promotion is timed for both
// from the same moment:
//   - stream:  --server URL (a `boot-meta serve` over the remote, told of each push by a signed
//              GitHub push webhook, as a git host would), woken by its change stream (SSE);
//              --interval 3600, so only the stream brings a promotion in;
//   - polling: --meta REMOTE --interval POLL (default 5 s, each wait ±25%): a git fetch of its
//              own clone every period; reports are commits it pushes.
// Each round records a new release with a signed binary, promotes it (push), sends the webhook,
// and times, from the end of the push, each agent's `--json` step that installed it (printed
// after its report was taken: by the service, or pushed). No restart or health check: what is
// timed is following the channel, downloading, verifying and installing.
//
// Then IDLE seconds (default 60) in which nothing changes: the CPU time (user + system,
// including git children it waited for) and RSS of every agent, beside baseline processes
// `node -e "setInterval(()=>{},1e9)"` that do nothing, as ratios. The service runs on core 1 and
// everything else on core 0 when taskset can pin them (DESIGN.md "Benchmarks on 2 cores").
//   AGENTS=20 ROUNDS=5 POLL=5 IDLE=60   (defaults)
import { execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createInterface } from "node:readline";
import { thisPlatform } from "../dist/agent/run.js";
import { addKey } from "../dist/meta/keys.js";
import { createProject, initRepo } from "../dist/meta/repo.js";
import { addBinary } from "../dist/records/binaries.js";
import { promoteChannel } from "../dist/records/channels.js";
import { createRelease, parseCommitSpec } from "../dist/records/releases.js";
import { createToken } from "../dist/records/tokens.js";
import { generateAgeKey } from "../dist/sops/age.js";
import { identitySetFrom } from "../dist/sops/identities.js";
import { median, percentile, table } from "./harness.mjs";
import { firstLine, pinned, pinning, root, start, stop, tempDir } from "./processes.mjs";

const AGENTS = Number(process.env.AGENTS ?? 20);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const POLL = Number(process.env.POLL ?? 5);
const IDLE = Number(process.env.IDLE ?? 60);
const SERVER_CORE = 1;
const AGENT_CORE = 0;
const AUTHOR = "bench <bench@invalid>";

const work = tempDir(mkdtempSync(join(tmpdir(), "boot-meta-bench-agent-")));
const gitEnv = { GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@invalid", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@invalid" };
const env = { ...process.env, HOME: work, ...gitEnv };
const git = (cwd, ...args) => execFileSync("git", args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
const load = [loadavg()[0]];

// The meta repository: project shop, an age key for the admin, a release-signing key in keys/signers/.
const remote = join(work, "remote.git");
git(work, "init", "-q", "--bare", "-b", "main", remote);
const admin = join(work, "admin");
await initRepo(admin);
git(admin, "remote", "add", "origin", remote);
const adminKey = await generateAgeKey();
const adminIds = await identitySetFrom([adminKey.identity]);
await addKey(admin, "admin", [adminKey.recipient], { group: "admins", identities: adminIds });
// The agents' principal: their report token is bound to it.
await addKey(admin, "agent", [(await generateAgeKey()).recipient], { group: "admins", identities: adminIds });
await createProject(admin, "shop");
const signKey = join(work, "ci_ed25519");
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ci@bench (bench-only key)", "-f", signKey]);
mkdirSync(join(admin, "keys/signers"), { recursive: true });
writeFileSync(join(admin, "keys/signers/ci.pub"), readFileSync(`${signKey}.pub`));
git(admin, "add", "keys/signers/ci.pub");
git(admin, "commit", "-q", "-m", "ci signs binaries");
git(admin, "push", "-q", "-u", "origin", "main");
const { os, arch } = thisPlatform();
const repos = [parseCommitSpec("app=https://example.invalid/org/app@3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c")];
let n = 0;
/** A release with a (signed) binary of its own, pushed; its id. */
async function release(version) {
  n++;
  const rel = (await createRelease(admin, "shop", { version, repos, author: AUTHOR, push: true })).value;
  const file = join(work, `shop-${version}`);
  writeFileSync(file, `#!/bin/sh\necho ${version}\n`);
  chmodSync(file, 0o755);
  await addBinary(admin, "shop", file, { release: rel.id, os, arch, urls: [pathToFileURL(file).href], signKey, signer: "ci", author: AUTHOR, push: true });
  return rel.id;
}
const first = await release("1.0.0");
await promoteChannel(admin, "shop", "stable", "1.0.0", { author: AUTHOR, push: true });
const token = (await createToken(admin, "agent", { scopes: ["instances:report"], projects: ["shop"], author: AUTHOR, push: true })).value.token;

// The service, told of pushes by webhook (its own poll, 30 s, is only the fallback).
const secret = randomBytes(24).toString("hex");
const serve = start(...pinned(SERVER_CORE, process.execPath, [join(root, "bin/run.js"), "serve", "--meta", remote, "--listen", "127.0.0.1:0", "--poll", "30s", "--report-interval", "1s", "--log-level", "warn", "--json", "--cache-dir", join(work, "serve-cache")]), {
  env: { PATH: process.env.PATH, HOME: work, NO_COLOR: "1", BOOT_META_WEBHOOK_SECRET: secret, ...gitEnv },
});
let serveErr = "";
serve.stderr.on("data", (d) => (serveErr = (serveErr + d).slice(-4000)));
const { url } = JSON.parse(await firstLine(serve, "boot-meta serve"));

async function webhook(commit) {
  const body = JSON.stringify({ ref: "refs/heads/main", after: commit, repository: { full_name: "bench/meta" } });
  const sig = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
  const res = await fetch(`${url}/v1/hooks/github`, { method: "POST", headers: { "content-type": "application/json", "x-github-event": "push", "x-hub-signature-256": sig }, body });
  if (res.status !== 202) throw new Error(`the webhook got ${res.status}, not 202: ${await res.text()} ${serveErr}`);
}

/** One agent process; `installed` maps a release id to the time (performance.now) its step that installed it was printed. */
function agent(mode, i) {
  const id = `${mode}-${String(i + 1).padStart(2, "0")}`;
  const dir = join(work, id);
  mkdirSync(join(dir, "home"), { recursive: true });
  const where = mode === "stream" ? ["--server", url, "--token", token, "--interval", "3600"] : ["--meta", remote, "--interval", String(POLL)];
  const args = [join(root, "bin/run.js"), "agent", "-p", "shop", "--channel", "stable", "--instance", id, "--install", join(dir, "shop"), ...where, "--json"];
  const child = start(...pinned(AGENT_CORE, process.execPath, args), { env: { PATH: process.env.PATH, HOME: join(dir, "home"), XDG_CACHE_HOME: join(dir, "home/.cache"), NO_COLOR: "1", ...gitEnv } });
  const a = { id, mode, child, installed: new Map(), err: "" };
  child.stderr.on("data", (d) => (a.err = (a.err + d).slice(-3000)));
  createInterface({ input: child.stdout }).on("line", (l) => {
    const s = JSON.parse(l);
    if (s.action === "installed" && !a.installed.has(s.release)) a.installed.set(s.release, performance.now());
  });
  child.on("exit", (code, sig) => !stopping && console.error(`agent ${id} exited (${code ?? sig}): ${a.err.trim()}`));
  return a;
}

async function until(what, ok, ms = 300_000) {
  const end = performance.now() + ms;
  while (!ok()) {
    if (performance.now() > end) throw new Error(`waited ${ms / 1000} s for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let stopping = false;
const agents = [];
// Started a few at a time: 2 × AGENTS node processes at once would only measure the machine.
for (let i = 0; i < AGENTS; i += 5) {
  const batch = [];
  for (let j = i; j < Math.min(AGENTS, i + 5); j++) batch.push(agent("stream", j), agent("polling", j));
  agents.push(...batch);
  await until(`agents ${i + 1}–${Math.min(AGENTS, i + 5)} to install 1.0.0`, () => batch.every((a) => a.installed.has(first)));
}
console.log(`${agents.length} agents running 1.0.0 (${AGENTS} following the stream, ${AGENTS} polling every ${POLL} s ±25%)`);

const rounds = [];
for (let r = 1; r <= ROUNDS; r++) {
  const version = `1.${r}.0`;
  const id = await release(version);
  // Let both fleets settle after the release's pushes (which the pollers see, without acting on them).
  await new Promise((res) => setTimeout(res, 1000));
  await promoteChannel(admin, "shop", "stable", version, { author: AUTHOR, push: true });
  const t0 = performance.now();
  await webhook(git(admin, "rev-parse", "HEAD"));
  await until(`every agent to install ${version}`, () => agents.every((a) => a.installed.has(id)));
  const times = (mode) => agents.filter((a) => a.mode === mode).map((a) => a.installed.get(id) - t0);
  rounds.push({ stream: times("stream"), polling: times("polling") });
  // A gap of a random part of the poll period, so a round does not start in step with the pollers.
  await new Promise((res) => setTimeout(res, 1000 + Math.random() * POLL * 1000));
}
load.push(loadavg()[0]);

const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
const fleetDone = (mode) => rounds.map((r) => Math.max(...r[mode]));
const each = (mode) => rounds.flatMap((r) => r[mode]);
const rows = [["follows by", "whole fleet: median", "whole fleet: p95", "each agent: p50", "each agent: p95", "ratio (whole fleet, median)"]];
const base = median(fleetDone("stream"));
for (const [mode, name] of [["stream", "service change stream (--server, SSE)"], ["polling", `polling (--meta, --interval ${POLL})`]]) {
  rows.push([name, s(median(fleetDone(mode))), s(percentile(fleetDone(mode), 95)), s(percentile(each(mode), 50)), s(percentile(each(mode), 95)), `${(median(fleetDone(mode)) / base).toFixed(2)}×`]);
}
console.log(`\nfrom a promotion (the end of its push) to every agent having installed and reported it; ${AGENTS} agents per fleet, ${ROUNDS} rounds:`);
table(rows);

// Idle: nothing changes for IDLE seconds.
const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim() || 100);
/** CPU ms of a process, with the children it has waited for (git fetch, ...). */
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const x = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(x[11]) + Number(x[12]) + Number(x[13]) + Number(x[14])) * TICK_MS;
}
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const baselines = Array.from({ length: 3 }, () => start(...pinned(AGENT_CORE, process.execPath, ["-e", "setInterval(()=>{},1e9)"]), { stdio: "ignore" }));
await new Promise((res) => setTimeout(res, 5000));
const groups = { stream: agents.filter((a) => a.mode === "stream").map((a) => a.child), polling: agents.filter((a) => a.mode === "polling").map((a) => a.child), baseline: baselines, service: [serve] };
const before = Object.fromEntries(Object.entries(groups).map(([k, ps]) => [k, ps.map((p) => cpuMs(p.pid))]));
await new Promise((res) => setTimeout(res, IDLE * 1000));
const perMin = Object.fromEntries(Object.entries(groups).map(([k, ps]) => [k, median(ps.map((p, i) => ((cpuMs(p.pid) - before[k][i]) * 60) / IDLE))]));
const rss = Object.fromEntries(Object.entries(groups).map(([k, ps]) => [k, median(ps.map((p) => rssMiB(p.pid)))]));
load.push(loadavg()[0]);
console.log(`\nidle: ${IDLE} s with no change; median per process of its kind, CPU as ms of CPU per minute (user + system, with waited-for children):`);
// /proc counts CPU in ticks (10 ms): a baseline that used less than one tick per window is counted as one, and its ratios say "at least".
const floorMs = (TICK_MS * 60) / IDLE;
const cpuX = (k) => (k === "baseline" ? "1" : perMin.baseline > 0 ? `${(perMin[k] / perMin.baseline).toFixed(1)}×` : `≥ ${(perMin[k] / floorMs).toFixed(1)}×`);
const cpuRow = (k, name) => [name, `${perMin[k].toFixed(0)} ms`, cpuX(k), `${rss[k].toFixed(0)} MiB`, `${(rss[k] / rss.baseline).toFixed(2)}×`];
table([
  ["process", "CPU per minute", "× baseline", "RSS", "× baseline"],
  cpuRow("stream", "agent --server (stream)"),
  cpuRow("polling", `agent --meta --interval ${POLL}`),
  cpuRow("baseline", 'baseline: node -e "setInterval(()=>{},1e9)"'),
  cpuRow("service", `boot-meta serve (one, ${AGENTS} streams)`),
]);
console.log(pinning.ok ? `pinned with taskset: the service on core ${SERVER_CORE}, agents and baselines on core ${AGENT_CORE}.` : `not pinned (${pinning.why}).`);
if (perMin.baseline === 0) console.log(`the baseline used less than one ${TICK_MS} ms tick in ${IDLE} s (under ${floorMs.toFixed(0)} ms a minute): ratios to it are lower bounds.`);
console.log(`machine load average (1 min): ${load[0].toFixed(1)} at the start, ${load[1].toFixed(1)} after the rounds, ${load[2].toFixed(1)} after the idle time; 2 cores shared with other work.`);

stopping = true;
await Promise.all([...agents.map((a) => stop(a.child)), ...baselines.map((b) => stop(b)), stop(serve)]);
