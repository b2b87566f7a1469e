// Small timing harness shared by the benches: interleaved rounds of each contender so that
// machine noise hits all of them alike; the median of the rounds is reported.
import { performance } from "node:perf_hooks";

export async function measure(contenders, { rounds = 15, minMs = 200 } = {}) {
  const samples = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]));
  for (const fn of Object.values(contenders)) await fn(); // warm-up
  // Calibrate: how many calls of each make a round last about minMs/rounds.
  const iters = {};
  for (const [name, fn] of Object.entries(contenders)) {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < Math.max(20, minMs / rounds)) {
      await fn();
      n++;
    }
    iters[name] = n;
  }
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const n = iters[name];
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await fn();
      samples[name].push((performance.now() - t0) / n);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)]));
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** The nearest-rank percentile `p` (0–100) of `xs` (not changed); NaN for none. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

export function fmtMs(ms) {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => String(c).padEnd(widths[i])).join("  "));
}

export function mem() {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return `rss ${(m.rss / 2 ** 20).toFixed(0)} MiB, heap ${(m.heapUsed / 2 ** 20).toFixed(0)} MiB`;
}
