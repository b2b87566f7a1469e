// The load generator of serve.bench.mjs, a process of its own (so that it can be pinned to a
// core other than the server's). Two modes, both over keep-alive connections to one URL:
// - as fast as the connections go: autocannon, a warm-up run first, then the measured run;
// - `rate`: an open loop of our own (autocannon's rate limit sends each connection's budget
//   for a second in a burst at the top of the second, which measures the burst): one request
//   every 1/rate s, each timed from when it was due, so a server that stalls is charged for
//   the requests that waited behind the stall.
// Each response's time is kept exactly (autocannon's own histogram rounds to whole
// milliseconds, too coarse for a 5 ms goal). Prints one JSON line as the measured run starts,
// then one with: requests, requests/s, latency percentiles in ms, statuses, its own CPU time.
//   node bench/load.mjs '{"url":"http://127.0.0.1:8080/x","connections":50,"seconds":10,"warmupSeconds":2[,"rate":1000]}'
import http from "node:http";
import { percentile } from "./harness.mjs";
import autocannon from "autocannon";

const o = JSON.parse(process.argv[2] ?? "{}");
const connections = o.connections ?? 50;
const seconds = o.seconds ?? 10;

const flatOut = (secs, record) =>
  new Promise((resolve, reject) => {
    const inst = autocannon({ url: o.url, connections, pipelining: 1, timeout: 10, duration: secs }, (err, res) => (err ? reject(err) : resolve(res)));
    if (record) inst.on("response", (_client, status, _bytes, ms) => record(status, ms));
  });

function paced(secs, rate, record) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const total = Math.round(secs * rate);
  const every = 1000 / rate;
  let sent = 0;
  let answered = 0;
  let errors = 0;
  return new Promise((resolve) => {
    const t0 = performance.now();
    const settle = () => {
      if (sent === total && answered + errors === total) {
        agent.destroy();
        resolve({ duration: (performance.now() - t0) / 1000, errors, timeouts: 0 });
      }
    };
    const fire = (due) => {
      http
        .get(o.url, { agent }, (res) => {
          res.resume();
          res.on("end", () => {
            answered++;
            record(res.statusCode, performance.now() - due);
            settle();
          });
        })
        .on("error", () => {
          errors++;
          settle();
        });
    };
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor((performance.now() - t0) / every) + 1);
      while (sent < due) fire(t0 + sent++ * every);
      if (sent === total) clearInterval(timer);
    }, 1);
  });
}

if (o.warmupSeconds > 0) await flatOut(o.warmupSeconds);
process.stdout.write(`${JSON.stringify({ phase: "measuring" })}\n`);
const times = [];
const statuses = {};
const record = (status, ms) => {
  statuses[status] = (statuses[status] ?? 0) + 1;
  times.push(ms);
};
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const res = o.rate ? await paced(seconds, o.rate, record) : await flatOut(seconds, record);
const wallMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
times.sort((a, b) => a - b);
const pct = (p) => percentile(times, p);
process.stdout.write(
  `${JSON.stringify({
    requests: times.length,
    rps: times.length / res.duration,
    seconds: res.duration,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    p999: pct(99.9),
    max: times.at(-1) ?? NaN,
    statuses,
    errors: res.errors,
    timeouts: res.timeouts,
    generatorCpuMs: (cpu.user + cpu.system) / 1000,
    wallMs,
  })}\n`,
);
