// Simulated reporting instances for reports.bench.mjs, a process of its own (pinned to the core
// the service does not run on). Each instance POSTs `/v1/projects/PROJECT/instances/ID/report`
// with a bearer token, over keep-alive connections. Everything follows from a seed: the ids,
// the order they report in, which reports change state — so two runs send the same reports.
// Two modes:
// - "fill": each instance's first report, as fast as `connections` requests in flight go (a
//   closed loop): the one-off round that creates every instance record;
// - "steady": an open loop at `instances / periodSeconds` reports a second for `seconds`, each
//   instance once per period, spread evenly; each report is timed from when it was due, so a
//   service that stalls is charged for the reports that waited behind the stall. A report
//   changes its instance's state (release or status) with probability `changeFraction`.
// Prints one JSON line as the measured run starts, then one with: reports, reports/s, latency
// percentiles in ms, statuses, how many the service said changed state, its own CPU time.
//   node bench/reporters.mjs '{"url":"http://127.0.0.1:8080","token":"bmt_…","project":"shop","instances":100000,"mode":"steady","seconds":60,...}'
import http from "node:http";
import { percentile } from "./harness.mjs";
import { fleet, rng } from "./fleet.mjs";

const o = JSON.parse(process.argv[2] ?? "{}");
const N = o.instances ?? 100_000;
const connections = o.connections ?? 64;
const period = o.periodSeconds ?? 30;
const seed = o.seed ?? 1;
const releases = o.releases ?? ["1.0", "1.1"];
const statuses = ["running", "upgrading"];

const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const base = new URL(o.url);
const headers = { authorization: `Bearer ${o.token}`, "content-type": "application/json" };

function report(inst, onDone) {
  const body = JSON.stringify({ status: statuses[inst.status], release: releases[inst.release], health: "healthy" });
  const req = http.request(
    { host: base.hostname, port: base.port, method: "POST", path: `/v1/projects/${o.project}/instances/${inst.id}/report`, agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } },
    (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        let changed = false;
        if (res.statusCode === 202) changed = JSON.parse(Buffer.concat(chunks).toString()).changed === true;
        else if (!firstError) firstError = `${res.statusCode} ${Buffer.concat(chunks).toString().slice(0, 300)}`;
        onDone(res.statusCode, changed);
      });
    },
  );
  req.on("error", (e) => {
    firstError ??= String(e);
    onDone(0, false);
  });
  req.end(body);
}

let firstError;
const times = [];
const codes = {};
let changedByServer = 0;
const record = (status, ms, changed) => {
  codes[status] = (codes[status] ?? 0) + 1;
  times.push(ms);
  if (changed) changedByServer++;
};

/** Each instance's first report, `connections` at a time. */
function fill(list) {
  return new Promise((resolve) => {
    let next = 0;
    let done = 0;
    const t0 = performance.now();
    const one = () => {
      if (next >= list.length) return;
      const inst = list[next++];
      const s = performance.now();
      report(inst, (status, changed) => {
        record(status, performance.now() - s, changed);
        if (++done === list.length) resolve({ duration: (performance.now() - t0) / 1000, changed: 0 });
        else one();
      });
    };
    for (let i = 0; i < connections; i++) one();
  });
}

/** `seconds` of reports at `rate` a second: report j goes to instance j mod N, due at j / rate. */
function steady(list, seconds, changeFraction) {
  const rate = N / period;
  const total = Math.round(seconds * rate);
  const every = 1000 / rate;
  const r = rng(seed + 1);
  let sent = 0;
  let settled = 0;
  let changed = 0;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const fire = (due) => {
      const inst = list[sent % list.length];
      if (r() < changeFraction) {
        changed++;
        if (r() < 0.5) inst.release = (inst.release + 1) % releases.length;
        else inst.status = (inst.status + 1) % statuses.length;
      }
      report(inst, (status, ch) => {
        record(status, performance.now() - due, ch);
        if (++settled === total) resolve({ duration: (performance.now() - t0) / 1000, changed, rate });
      });
    };
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / every) + 1);
      while (sent < due) fire(t0 + sent++ * every);
      if (sent === total) clearInterval(timer);
    }, 1);
  });
}

const list = fleet(N, seed, releases.length);
process.stdout.write(`${JSON.stringify({ phase: "measuring" })}\n`);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const res = o.mode === "fill" ? await fill(list) : await steady(list, o.seconds ?? 60, o.changeFraction ?? 0.01);
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
agent.destroy();
times.sort((a, b) => a - b);
const pct = (p) => percentile(times, p);
process.stdout.write(
  `${JSON.stringify({
    reports: times.length,
    rps: times.length / res.duration,
    target: res.rate ?? null,
    seconds: res.duration,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    p999: pct(99.9),
    max: times.at(-1) ?? NaN,
    statuses: codes,
    changedSent: res.changed,
    changedByServer,
    firstError: firstError ?? null,
    generatorCpuMs: (cpu.user + cpu.system) / 1000,
    wallMs,
  })}\n`,
);
