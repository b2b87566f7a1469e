// Where a process's CPU time went, from a V8 `.cpuprofile` (node --cpu-prof): self time by
// package (a node_modules package, boot-meta's own code, Node's internals, GC, idle), the
// functions with the most self time, and boot-meta's and the frameworks' functions by total
// (inclusive) time. Used by serve.bench.mjs with BENCH_PROFILE=DIR; also on its own:
//   node bench/cpuprofile.mjs FILE.cpuprofile [SKIP_MS]
import { readFileSync } from "node:fs";
import { table } from "./harness.mjs";

function packageOf(frame) {
  const { url, functionName } = frame;
  if (url === "") return functionName === "(garbage collector)" || functionName === "(idle)" || functionName === "(program)" ? functionName : "(native / V8)";
  if (url.startsWith("node:")) return "node: internals";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (/\/dist\//.test(url)) return "boot-meta (dist)";
  return url;
}

/** `skipMs`: leave out the first milliseconds of the profile (start-up, before the load began). */
export function summarizeProfile(file, { top = 12, skipMs = 0 } = {}) {
  const p = JSON.parse(readFileSync(file, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let at = 0;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    if (at < skipMs * 1000) continue;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  let total = 0;
  for (const v of self.values()) total += v;
  const idle = [...self].filter(([id]) => byId.get(id).callFrame.functionName === "(idle)").reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;
  const share = (v) => `${((100 * v) / busy).toFixed(1)}%`;

  const pkgs = new Map();
  const fns = new Map();
  const incl = new Map();
  const key = (f) => `${f.functionName || "(anonymous)"}  ${f.url.replace(/^.*node_modules\//, "").replace(/^.*\/dist\//, "dist/")}:${f.lineNumber + 1}`;
  for (const [id, t] of self) {
    const f = byId.get(id).callFrame;
    if (f.functionName === "(idle)") continue;
    pkgs.set(packageOf(f), (pkgs.get(packageOf(f)) ?? 0) + t);
    fns.set(key(f), (fns.get(key(f)) ?? 0) + t);
    // Inclusive: every distinct function on the stack gets the sample once.
    const seen = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) {
      const k = key(byId.get(n).callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + t);
    }
  }
  const sorted = (m) => [...m].sort((a, b) => b[1] - a[1]);
  console.log(`busy ${(busy / 1e6).toFixed(1)} s of ${(total / 1e6).toFixed(1)} s profiled; shares below are of the busy time.`);
  console.log("\nself time by package:");
  table([["package", "self"], ...sorted(pkgs).slice(0, top).map(([k, v]) => [k, share(v)])]);
  console.log("\nfunctions with the most self time:");
  table([["function", "self"], ...sorted(fns).slice(0, top).map(([k, v]) => [k, share(v)])]);
  console.log("\nboot-meta's and the frameworks' functions by total time (themselves and what they call):");
  const ours = sorted(incl).filter(([k]) => /dist\/|fastify|pino|prom-client|light-my-request|find-my-way|avvio/.test(k));
  table([["function", "total"], ...ours.slice(0, top * 2).map(([k, v]) => [k, share(v)])]);
}

if (import.meta.url === `file://${process.argv[1]}`) summarizeProfile(process.argv[2], { skipMs: Number(process.argv[3] ?? 0), top: 20 });
