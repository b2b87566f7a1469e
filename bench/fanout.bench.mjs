// Fan-out of the config service (issue 10, "Scale and speed"): 1,000 Server-Sent Events
// subscribers on `GET /v1/events` of one `boot-meta serve` that follows a bare remote on disk.
// Each round pushes a commit to the remote, then sends a verified GitHub push webhook
// (X-Hub-Signature-256 over the body with the service's BOOT_META_WEBHOOK_SECRET), and times,
// from sending the webhook, each subscriber's `change` event for that commit. Goal: p99 < 200 ms.
// Baseline, in the same rounds: a bare `git fetch` of the same commit (the refspecs the
// service fetches with) into a clone of the same remote, so the ratio says what the service
// and the fan-out add over fetching alone.
//
// The service runs on core 1 and the subscribers (bench/sse-clients.mjs, one process, which
// also sends the webhook so both ends read one clock) on core 0, pinned with taskset; the
// baseline fetch runs on core 1, as the service's does.
//   BENCH_SUBSCRIBERS=1000 BENCH_PUSHES=10   (defaults)
//   BENCH_GIT_TRACE=FILE   git's trace2 events of the service's git processes, to see what a sync spends
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { runDemo } from "../dist/demo/demo.js";
import { median, percentile, table } from "./harness.mjs";
import { firstLine, pinned, pinning, root, start, stop, tempDir } from "./processes.mjs";

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const PUSHES = Number(process.env.BENCH_PUSHES ?? 10);
const SERVER_CORE = 1;
const CLIENT_CORE = 0;
const FETCH = ["fetch", "--quiet", "--prune", "--no-tags", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", "+HEAD:refs/boot-meta/default"];

const work = tempDir(mkdtempSync(join(tmpdir(), "boot-meta-bench-fanout-")));
const env = { ...process.env, HOME: work, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@invalid", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@invalid" };
const git = (cwd, ...args) => execFileSync("git", args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

// A meta repo on a bare remote; a clone that pushes to it; a clone for the baseline fetch.
const demo = await runDemo(join(work, "meta"));
const remote = join(work, "remote.git");
git(work, "clone", "-q", "--bare", demo.dir, remote);
const pusher = join(work, "pusher");
git(work, "clone", "-q", remote, pusher);
const baseline = join(work, "baseline");
git(work, "clone", "-q", remote, baseline);

// Each side holds a socket per subscriber: raise the open-files limit where it is too low.
const need = SUBSCRIBERS + 256;
const soft = Number(spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).stdout.trim()) || 0;
const withFiles = ([file, args]) => (soft !== 0 && soft < need ? ["sh", ["-c", `ulimit -n ${need} && exec "$@"`, "sh", file, ...args]] : [file, args]);
if (soft !== 0 && soft < need) console.log(`open files: raising the limit from ${soft} to ${need} for the service and the subscribers (fails if the hard limit is lower: \`ulimit -Hn\`)`);

const secret = randomBytes(24).toString("hex");
const serve = start(
  ...withFiles(pinned(SERVER_CORE, process.execPath, [join(root, "bin/run.js"), "serve", "--meta", remote, "--listen", "127.0.0.1:0", "--log-level", "warn", "--json", "--cache-dir", join(work, "serve-cache")])),
  // BENCH_GIT_TRACE=FILE: git's trace2 events of the service's git processes (what a sync runs, and when).
  { env: { PATH: process.env.PATH, HOME: work, NO_COLOR: "1", BOOT_META_WEBHOOK_SECRET: secret, ...(process.env.BENCH_GIT_TRACE ? { GIT_TRACE2_EVENT: process.env.BENCH_GIT_TRACE } : {}) } },
);
let serveErr = "";
serve.stderr.on("data", (d) => (serveErr = (serveErr + d).slice(-4000)));
const { url } = JSON.parse(await firstLine(serve, "boot-meta serve"));

const clients = start(...withFiles(pinned(CLIENT_CORE, process.execPath, [join(import.meta.dirname, "sse-clients.mjs"), JSON.stringify({ url, subscribers: SUBSCRIBERS })])), {
  stdio: ["pipe", "pipe", "pipe"],
  env: { ...process.env, BOOT_META_WEBHOOK_SECRET: secret },
});
let clientErr = "";
clients.stderr.on("data", (d) => (clientErr = (clientErr + d).slice(-4000)));
let finished = false;
clients.on("exit", (code, sig) => !finished && console.error(`the subscribers' process exited (${code ?? sig}): ${clientErr.trim()}`));
const replies = createInterface({ input: clients.stdout })[Symbol.asyncIterator]();
const next = async () => {
  const r = await replies.next();
  if (r.done) throw new Error(`the subscribers' process ended: ${clientErr.trim()}`);
  return JSON.parse(r.value);
};
const t0 = performance.now();
const { ready } = await next();
console.log(`${ready} subscribers connected in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const timeFetch = () => {
  const [file, args] = pinned(SERVER_CORE, "git", ["-C", baseline, ...FETCH]);
  const s = performance.now();
  execFileSync(file, args, { env, stdio: "ignore" });
  return performance.now() - s;
};

const rounds = [];
const load = [loadavg()[0]];
for (let i = 0; i < PUSHES; i++) {
  writeFileSync(join(pusher, "shop", "bench-round.txt"), `round ${i} ${Date.now()}\n`);
  git(pusher, "add", "shop/bench-round.txt");
  git(pusher, "commit", "-q", "-m", `bench: fan-out round ${i}`);
  git(pusher, "push", "-q", "origin", "HEAD:main");
  const commit = git(pusher, "rev-parse", "HEAD");
  // The baseline before the webhook in odd rounds, after it in even ones: neither always goes first.
  let fetchMs = i % 2 === 1 ? timeFetch() : undefined;
  clients.stdin.write(`fire ${commit}\n`);
  const r = await next();
  if (r.status !== 202) throw new Error(`the webhook got ${r.status}, not 202: ${serveErr.trim()}`);
  if (r.missing > 0) throw new Error(`${r.missing} of ${SUBSCRIBERS} subscribers had no event for ${commit.slice(0, 12)} after 30 s: ${serveErr.trim()}`);
  fetchMs ??= timeFetch();
  rounds.push({ ...r, fetchMs });
  if (process.env.BENCH_GIT_TRACE) console.log(`round ${i}: webhook sent at ${new Date(r.sentAt).toISOString()}, last event +${r.times.at(-1).toFixed(1)} ms`);
  await new Promise((res) => setTimeout(res, 200));
}
load.push(loadavg()[0]);

const all = rounds.flatMap((r) => r.times).sort((a, b) => a - b);
const ms = (v) => `${v.toFixed(1)} ms`;
const row = (name, xs) => [name, ms(percentile(xs, 50)), ms(percentile(xs, 99)), ms(Math.max(...xs)), String(xs.length)];
const fetches = rounds.map((r) => r.fetchMs);
const lasts = rounds.map((r) => r.times.at(-1));
const firsts = rounds.map((r) => r.times[0]);
console.log(`\nfan-out to ${SUBSCRIBERS.toLocaleString("en")} SSE subscribers of one boot-meta serve, ${PUSHES} pushes (a commit each) to its bare remote, each announced by a signed GitHub push webhook; times from sending the webhook:`);
table([
  ["", "p50", "p99", "max", "samples"],
  row("webhook answered (202)", rounds.map((r) => r.accepted)),
  row("first subscriber's event", firsts),
  row("each subscriber's event", all),
  row("last subscriber's event", lasts),
  row("baseline: git fetch of the commit, alone", fetches),
]);
console.log(
  pinning.ok ? `pinned with taskset: the service and the baseline fetch on core ${SERVER_CORE}, the subscribers' process on core ${CLIENT_CORE}.` : `not pinned (${pinning.why}).`,
);
console.log(`machine load average (1 min) ${load.map((l) => l.toFixed(1)).join(" at the start, ")} at the end, on 2 cores: other work shares them.`);
const p99 = percentile(all, 99);
console.log(
  `\np99 from webhook to a subscriber's event: ${ms(p99)} (goal < 200 ms: ${p99 < 200 ? "met" : "NOT met"}). Median round: the last subscriber had its event ${ms(median(lasts))} after the webhook, ${(median(lasts) / median(fetches)).toFixed(1)}× a bare git fetch of the same commit (${ms(median(fetches))}); the spread from the first subscriber to the last was ${ms(median(rounds.map((r) => r.times.at(-1) - r.times[0])))}.`,
);

finished = true;
clients.stdin.end();
await stop(clients);
await stop(serve);
// Warnings the service logged meanwhile (--log-level warn; Node's own warnings too).
if (serveErr.trim() !== "") console.log(`\nthe service's stderr (last lines):\n${serveErr.trim().split("\n").slice(-6).join("\n")}`);
