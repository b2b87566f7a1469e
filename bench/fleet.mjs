// The simulated fleet of reports.bench.mjs, from a seed: the same ids, states and order in
// every process that asks (the reporters, and the bench's own scratch repositories).

/** mulberry32: a small seeded generator. */
export function rng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` instances with ids like `node-3f9a02c1` (unique), the release (an index into the
 * releases) and status (0: running) each starts in, in the order they report.
 */
export function fleet(n, seed, releases = 2) {
  const r = rng(seed);
  const ids = new Set();
  while (ids.size < n) ids.add(`node-${Math.floor(r() * 2 ** 32).toString(16).padStart(8, "0")}`);
  const list = [...ids].map((id) => ({ id, release: Math.floor(r() * releases), status: 0 }));
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}
