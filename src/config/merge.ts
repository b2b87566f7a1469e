/**
 * Merges config layers, least specific first: maps merge deep, a later layer wins per key,
 * lists are replaced (not concatenated), and `null` in a later layer removes the key.
 * Pure; also returns which layer each leaf came from.
 */
export type Plain = Record<string, unknown>;

export interface MergeResult {
  value: Plain;
  /** dotted path → layer name, for every leaf (and every list, which merges as a whole) */
  origins: Record<string, string>;
}

const isMap = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Config keys are data: a key named `__proto__`, `constructor` or `toString` is stored and
 * looked up as itself (own properties of prototype-less objects), never an inherited one.
 */
const newMap = (): Plain => Object.create(null) as Plain;
const own = (m: Plain, k: string): unknown => (Object.hasOwn(m, k) ? m[k] : undefined);

export function mergeLayers(layers: { name: string; value: Plain }[]): MergeResult {
  let value: Plain = newMap();
  const origins: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const layer of layers) value = mergeInto(value, layer.value, layer.name, "", origins);
  return { value, origins };
}

function mergeInto(base: Plain, over: Plain, layer: string, prefix: string, origins: Record<string, string>): Plain {
  const out: Plain = Object.assign(newMap(), base);
  for (const [k, v] of Object.entries(over)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v === null) {
      delete out[k];
      dropOrigins(origins, path);
    } else if (isMap(v) && isMap(own(out, k))) {
      out[k] = mergeInto(out[k] as Plain, v, layer, path, origins);
    } else {
      dropOrigins(origins, path);
      out[k] = v;
      recordOrigins(origins, path, v, layer);
    }
  }
  return out;
}

function recordOrigins(origins: Record<string, string>, path: string, v: unknown, layer: string): void {
  if (isMap(v)) for (const [k, x] of Object.entries(v)) recordOrigins(origins, `${path}.${k}`, x, layer);
  else origins[path] = layer;
}

function dropOrigins(origins: Record<string, string>, path: string): void {
  for (const k of Object.keys(origins)) if (k === path || k.startsWith(`${path}.`)) delete origins[k];
}

/** The value at a dotted path of a plain object, or undefined. */
export function getDotted(v: unknown, path: string): unknown {
  let cur = v;
  for (const p of path.split(".")) {
    if (Array.isArray(cur) && /^\d+$/.test(p)) cur = cur[Number(p)];
    else if (isMap(cur)) cur = own(cur, p);
    else return undefined;
  }
  return cur;
}
