// OFREP bulk evaluation over HTTP (issue 12): `POST /ofrep/v1/evaluate/flags` on a
// `boot-meta serve --identity` (the demo's prod-server key) for shop prod, beside the same
// service's `GET /healthz` — the HTTP round trip with nothing evaluated — in the same rounds,
// one keep-alive connection, requests one after another, each with a new context (no 304).
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { Agent, request } from "node:http";
import { runDemo } from "../dist/demo/demo.js";
import { createToken } from "../dist/records/tokens.js";
import { setFlag } from "../dist/flags/write.js";
import { identitiesFromFiles } from "../dist/sops/identities.js";
import { median, percentile, table } from "./harness.mjs";
import { firstLine, root, start, stop, tempDir } from "./processes.mjs";

const work = tempDir(mkdtempSync(join(tmpdir(), "boot-meta-bench-ofrep-")));
const demo = await runDemo(join(work, "meta"));
const ids = await identitiesFromFiles([demo.identities.admin]);
const prod = { project: "shop", env: "prod" };
const o = { identities: ids, author: "bench <bench@boot-meta.invalid>" };
await setFlag(demo.dir, prod, "checkout_color", { state: "ENABLED", variants: { red: "red", blue: "blue" }, defaultVariant: "red", targeting: { fractional: [["red", 50], ["blue", 50]] } }, o);
await setFlag(demo.dir, prod, "beta_banner", { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { if: [{ in: [{ var: "plan" }, ["pro", "enterprise"]] }, "on", null] } }, o);
await setFlag(demo.dir, prod, "static_limit", 100, o);
const token = (await createToken(demo.dir, "prod-server", { ...o, scopes: ["flags:evaluate"], projects: ["shop"] })).value.token;

const serve = start(process.execPath, [join(root, "bin/run.js"), "serve", "--meta", demo.dir, "--listen", "127.0.0.1:0", "--log-level", "warn", "--json", "--cache-dir", join(work, "serve-cache"), "--identity", demo.identities["prod-server"]], {
  env: { PATH: process.env.PATH, HOME: work, NO_COLOR: "1" },
});
const base = new URL(JSON.parse(await firstLine(serve, "boot-meta serve")).url);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
const call = (method, path, body) =>
  new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: base.hostname, port: base.port, method, path, agent, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => (res.statusCode >= 400 ? reject(new Error(`${method} ${path}: ${res.statusCode} ${Buffer.concat(chunks)}`)) : resolve({ ms: performance.now() - t0, body: Buffer.concat(chunks).toString() })));
    });
    req.on("error", reject);
    req.end(body);
  });

let n = 0;
const bulk = () => call("POST", "/v1/projects/shop/envs/prod/ofrep/v1/evaluate/flags", JSON.stringify({ context: { targetingKey: `user-${n++}`, plan: n % 2 ? "pro" : "free" } }));
const health = () => call("GET", "/healthz");
const first = JSON.parse((await bulk()).body);
if (!Array.isArray(first.flags) || first.flags.length < 3) throw new Error(`unexpected bulk answer: ${JSON.stringify(first).slice(0, 300)}`);
for (let i = 0; i < 200; i++) await bulk(), await health(); // warm

const N = Number(process.env.BENCH_REQUESTS ?? 2000);
const samples = { bulk: [], health: [] };
for (let i = 0; i < N; i++) {
  samples.bulk.push((await bulk()).ms);
  samples.health.push((await health()).ms);
}
const f = (ms) => `${ms.toFixed(2)} ms`;
console.log(`OFREP bulk evaluation of shop prod (${first.flags.length} flags) on one keep-alive connection, ${N} requests each, interleaved:`);
table([
  ["request", "p50", "p99", "ratio (p50)"],
  ["POST …/ofrep/v1/evaluate/flags (bulk, new context each)", f(median(samples.bulk)), f(percentile(samples.bulk, 99)), `${(median(samples.bulk) / median(samples.health)).toFixed(2)}× the round trip`],
  ["GET /healthz (the HTTP round trip, nothing evaluated)", f(median(samples.health)), f(percentile(samples.health, 99)), "1.00"],
]);
agent.destroy();
await stop(serve);
