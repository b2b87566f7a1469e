// The config service's hot path (issue 10, "Scale and speed"): a cached
// `GET /v1/projects/shop/config?env=prod` on `boot-meta serve`, beside nginx (the Debian
// package) serving the very same bytes — the JSON body the service returns, written to a file —
// from disk, at the same URL. Both run in this run, in interleaved rounds (so machine noise
// hits both alike); each round is autocannon with keep-alive connections for a few seconds.
// Goals: ≥ 0.3× nginx's requests/s, p99 < 5 ms. Two loads: as fast as 50 connections go
// (throughput), and a fixed 1,000 requests/s (latency on a server that is not overloaded).
//
// Fairness on 2 cores (DESIGN.md "Benchmarks on 2 cores"): the server under test runs on core
// 1 and the load generator (bench/load.mjs, a process of its own) on core 0, both pinned with
// taskset; nginx gets one worker, as Node serves from one thread. Both servers' CPU time is
// read from /proc, so "CPU per request" compares them even where the generator is the limit.
//
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 BENCH_CONNECTIONS=50 BENCH_RATE=1000   (defaults; BENCH_SECONDS=2 BENCH_ROUNDS=1 for a quick look)
//   BENCH_PROFILE=DIR   also writes a V8 CPU profile of the service (--cpu-prof) to DIR and prints where its time went
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { availableParallelism, loadavg as loadavgs, tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { delimiter, join } from "node:path";
import { runDemo } from "../dist/demo/demo.js";
import { summarizeProfile } from "./cpuprofile.mjs";
import { median, table } from "./harness.mjs";
import { cpuMs, finish, firstLine, freePort, pinned, pinning, root, start, stop, tempDir, waitForHttp } from "./processes.mjs";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const RATE = Number(process.env.BENCH_RATE ?? 1000);
const PROFILE = process.env.BENCH_PROFILE;
const SERVER_CORE = 1;
const LOAD_CORE = 0;
const loadavg1 = () => loadavgs()[0];
const PATH = "/v1/projects/shop/config?env=prod";

const work = tempDir(mkdtempSync(join(tmpdir(), "boot-meta-bench-serve-")));
const demo = await runDemo(join(work, "meta"));

// The service, over its own clone of the demo repo.
const spawnedAt = performance.now();
let loadFrom;
const profileArgs = PROFILE ? ["--cpu-prof", "--cpu-prof-dir", PROFILE] : [];
if (PROFILE) mkdirSync(PROFILE, { recursive: true });
const serve = start(
  ...pinned(SERVER_CORE, process.execPath, [...profileArgs, join(root, "bin/run.js"), "serve", "--meta", demo.dir, "--listen", "127.0.0.1:0", "--log-level", "warn", "--json", "--cache-dir", join(work, "serve-cache")]),
  { env: { PATH: process.env.PATH, HOME: work, NO_COLOR: "1" } },
);
const service = JSON.parse(await firstLine(serve, "boot-meta serve")).url;
const res = await fetch(service + PATH);
if (res.status !== 200) throw new Error(`GET ${PATH} on the service: ${res.status} ${await res.text()}`);
const body = Buffer.from(await res.arrayBuffer());

// nginx, when installed: a minimal configuration of our own, paths under a temporary prefix.
const nginxBin = ["/usr/sbin", ...(process.env.PATH ?? "").split(delimiter)].map((d) => join(d, "nginx")).find((p) => existsSync(p));
let nginx;
let nginxUrl;
let nginxVersion = "";
if (!nginxBin) {
  console.log("nginx is not installed, so there is no baseline to compare with: `sudo apt-get install -y nginx` (Debian package) and run again.");
  console.log("(this bench starts its own nginx with a configuration of its own, in a temporary directory; the system's nginx service need not run)\n");
} else {
  nginxVersion = execFileSync("sh", ["-c", `"${nginxBin}" -v 2>&1`], { encoding: "utf8" }).trim().replace(/^nginx version: /, "");
  const prefix = join(work, "nginx");
  const file = join(prefix, "html", "v1/projects/shop/config");
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, body);
  // Run as root, nginx's worker drops to an unprivileged user: it must be able to read the files.
  for (const d of [work, prefix, join(prefix, "html"), join(prefix, "html/v1"), join(prefix, "html/v1/projects"), join(prefix, "html/v1/projects/shop")]) chmodSync(d, 0o755);
  const port = await freePort();
  const conf = join(prefix, "nginx.conf");
  writeFileSync(
    conf,
    `# bench-only: one worker (Node serves from one thread), no access log (the service logs only warnings)
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    root ${prefix}/html;
  }
}
`,
  );
  nginx = start(...pinned(SERVER_CORE, nginxBin, ["-e", join(prefix, "error.log"), "-p", prefix, "-c", conf, "-g", "daemon off;"]));
  nginx.once("exit", (code, sig) => code !== 0 && sig !== "SIGTERM" && console.error(`nginx exited (${code ?? sig}); see ${prefix}/error.log`));
  nginxUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(nginxUrl);
  const same = Buffer.from(await (await fetch(nginxUrl + PATH)).arrayBuffer());
  if (!same.equals(body)) throw new Error("nginx does not serve the same bytes as the service");
}

const contenders = [...(nginx ? [{ name: `nginx ${nginxVersion} (1 worker, the file)`, url: nginxUrl, pid: nginx.pid }] : []), { name: "boot-meta serve (cached)", url: service, pid: serve.pid }];
// Two loads: as fast as the connections go (throughput; latency at saturation is queueing,
// connections ÷ requests/s on average), and a fixed rate well below either server's limit
// (latency as a client sees it on a server that is not overloaded; an open loop, see load.mjs).
const phases = [
  { key: "max", label: `${CONNECTIONS} connections, as fast as they go`, connections: CONNECTIONS },
  { key: "rate", label: `${RATE.toLocaleString("en")} requests/s over ${CONNECTIONS} connections`, connections: CONNECTIONS, rate: RATE },
];
const samples = new Map();
const loadavg = [loadavg1()];

async function load(c, phase, warmupSeconds) {
  loadFrom ??= performance.now();
  const args = JSON.stringify({ url: c.url + PATH, connections: phase.connections, rate: phase.rate, seconds: SECONDS, warmupSeconds });
  const gen = start(...pinned(LOAD_CORE, process.execPath, [join(import.meta.dirname, "load.mjs"), args]), { cwd: root });
  const done = finish(gen, "the load generator");
  // The server's CPU time over the measured run only (the generator says when it starts).
  const lines = createInterface({ input: gen.stdout });
  let cpu0 = 0;
  let t0 = 0;
  let out;
  lines.on("line", (l) => {
    const m = JSON.parse(l);
    if (m.phase === "measuring") {
      cpu0 = cpuMs(c.pid);
      t0 = performance.now();
    } else out = { ...m, serverCpu: cpuMs(c.pid) - cpu0, wall: performance.now() - t0 };
  });
  await done;
  if (!out) throw new Error(`${c.name}: the load generator printed no result`);
  const { serverCpu, wall } = out;
  const ok = out.statuses["200"] ?? 0;
  if (ok !== out.requests || out.errors > 0) throw new Error(`${c.name}: ${JSON.stringify(out.statuses)} statuses, ${out.errors} errors`);
  return { ...out, serverCpuShare: serverCpu / wall, serverCpuUsPerReq: (serverCpu * 1000) / out.requests, generatorCpuShare: out.generatorCpuMs / out.wallMs };
}

for (let r = 0; r < ROUNDS; r++) {
  // Alternate who goes first, so that neither always runs on a machine warmed by the other.
  const order = r % 2 === 0 ? contenders : [...contenders].reverse();
  for (const phase of phases)
    for (const c of order) {
      const k = `${phase.key} ${c.name}`;
      if (!samples.has(k)) samples.set(k, []);
      samples.get(k).push(await load(c, phase, r === 0 && phase.key === "max" ? Math.min(2, SECONDS) : 0));
    }
}
loadavg.push(loadavg1());
const med = (phase, c, k) => median(samples.get(`${phase.key} ${c.name}`).map((s) => s[k]));
const ms = (v) => `${v.toFixed(2)} ms`;
const pctOf = (v) => `${(v * 100).toFixed(0)}%`;

console.log(`cached GET ${PATH} (a ${body.length.toLocaleString("en")}-byte JSON body), keep-alive connections, ${ROUNDS} round(s) of ${SECONDS} s per load, interleaved; median of the rounds:`);
table([
  ["load", "server", "requests/s", "p50", "p99", "p99.9", "server CPU", "CPU per request", "generator CPU"],
  ...phases.flatMap((p) =>
    contenders.map((c) => [
      p.label,
      c.name,
      Math.round(med(p, c, "rps")).toLocaleString("en"),
      ms(med(p, c, "p50")),
      ms(med(p, c, "p99")),
      ms(med(p, c, "p999")),
      pctOf(med(p, c, "serverCpuShare")),
      `${med(p, c, "serverCpuUsPerReq").toFixed(0)} µs`,
      pctOf(med(p, c, "generatorCpuShare")),
    ]),
  ),
]);
console.log(
  pinning.ok
    ? `pinned with taskset: the server (and its children) on core ${SERVER_CORE}, the load generator (autocannon, bench/load.mjs) on core ${LOAD_CORE}; CPU shares are of one core.`
    : `not pinned (${pinning.why}): server and load generator share the cores, so the figures measure both.`,
);
console.log(`machine load average (1 min) ${loadavg.map((l) => l.toFixed(1)).join(" at the start, ")} at the end, on ${availableParallelism()} cores: other work shares them.`);
const [max, fixed] = phases;
const s = contenders.at(-1);
if (nginx) {
  const n = contenders[0];
  const ratio = med(max, s, "rps") / med(max, n, "rps");
  const cpuRatio = med(max, s, "serverCpuUsPerReq") / med(max, n, "serverCpuUsPerReq");
  console.log(`\nboot-meta serve: ${ratio.toFixed(2)}× nginx's requests/s (goal ≥ 0.3×: ${ratio >= 0.3 ? "met" : "NOT met"}); it spends ${cpuRatio.toFixed(1)}× nginx's CPU per request.`);
  if (med(max, n, "serverCpuShare") < 0.9)
    console.log(`(nginx used ${pctOf(med(max, n, "serverCpuShare"))} of its core: it was not the limit, so its requests/s is a floor of what it can do and the CPU-per-request ratio is the fairer comparison)`);
} else console.log("\nno nginx, so no throughput ratio.");
const p99 = med(fixed, s, "p99");
const p99max = med(max, s, "p99");
console.log(`p99 at ${RATE.toLocaleString("en")} requests/s: ${ms(p99)} (goal < 5 ms: ${p99 < 5 ? "met" : "NOT met"}); at saturation ${ms(p99max)} (${CONNECTIONS} requests queued at all times).`);
if (nginx) {
  const np99 = med(fixed, contenders[0], "p99");
  console.log(`nginx's p99 at the same rate, same machine, same minutes: ${ms(np99)}${np99 >= 5 ? ": where nginx misses 5 ms too, the machine (other work on its cores) sets the tail, not the server" : ""}.`);
}

if (nginx) await stop(nginx);
await stop(serve);
if (PROFILE) {
  const prof = readdirSync(PROFILE)
    .filter((f) => f.endsWith(".cpuprofile"))
    .sort()
    .at(-1);
  if (prof) {
    console.log(`\nwhere boot-meta serve's CPU went under load (V8 profile ${join(PROFILE, prof)}, all rounds, start-up left out):`);
    summarizeProfile(join(PROFILE, prof), { skipMs: loadFrom - spawnedAt });
  } else console.log(`\nno CPU profile found in ${PROFILE}`);
}
