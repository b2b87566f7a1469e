import type { Plain } from "./merge.js";

const isMap = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The dotted keys whose values differ between two merged configs, sorted: a leaf that changed,
 * appeared or went away. Lists compare as a whole (as they merge), as do empty maps. Keys
 * only, never values: the result is safe to log.
 */
export function changedKeys(before: Plain, after: Plain): string[] {
  const a = leaves(before);
  const b = leaves(after);
  const out: string[] = [];
  for (const [k, v] of a) if (!b.has(k) || !same(v, b.get(k))) out.push(k);
  for (const k of b.keys()) if (!a.has(k)) out.push(k);
  return out.sort();
}

/** How one leaf compares between two merged configs. */
export interface LeafComparison {
  key: string;
  /** Where the key is: in both, or only in the first (`a`) or second (`b`). */
  in: "both" | "a" | "b";
  /** In both and equal. */
  same: boolean;
}

/**
 * Every leaf of two merged configs (a list or an empty map is one leaf, as in
 * {@link changedKeys}), sorted by key, and whether it is in both and equal. Pure.
 */
export function compareConfigs(a: Plain, b: Plain): LeafComparison[] {
  const la = leaves(a);
  const lb = leaves(b);
  const out: LeafComparison[] = [];
  for (const [k, v] of la) out.push(lb.has(k) ? { key: k, in: "both", same: same(v, lb.get(k)) } : { key: k, in: "a", same: false });
  for (const k of lb.keys()) if (!la.has(k)) out.push({ key: k, in: "b", same: false });
  return out.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

function leaves(v: Plain, prefix = "", out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [k, x] of Object.entries(v)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isMap(x) && Object.keys(x).length > 0) leaves(x, path, out);
    else out.set(path, x);
  }
  return out;
}

/** Deep equality of plain values; prototypes do not matter (merged maps have none, parsed ones do). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (isMap(a) && isMap(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
  }
  return Number.isNaN(a) && Number.isNaN(b);
}
