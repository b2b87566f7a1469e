import { Branch, type Value } from "../tree.js";
import { invalidMetadata } from "./errors.js";

// sops stores/flatten.go: flat formats (dotenv, INI) carry the nested metadata as
// `<prefix><key>` with `__map_<key>` for a nested map and `__list_<i>` for a list item.
const MAP = "__map_";
const LIST = "__list_";

function scalarText(v: Value): string {
  if (typeof v === "string") return v;
  if (typeof v === "bigint" || typeof v === "number") return String(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v === null) return "";
  throw invalidMetadata("cannot flatten a non-scalar value");
}

/** Flattens a metadata branch into sorted (key, value) pairs (sops 3.13 sorts them). */
export function flatten(branch: Branch, prefix: string): [string, string][] {
  const out: [string, string][] = [];
  const walk = (v: Value, path: string) => {
    if (v instanceof Branch) {
      for (const it of v.items) if ("key" in it) walk(it.value, `${path}${MAP}${it.key}`);
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}${LIST}${i}`));
    else out.push([path, scalarText(v)]);
  };
  for (const it of branch.items) if ("key" in it) walk(it.value, `${prefix}${it.key}`);
  return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

type Token = { map: string } | { list: number };

function tokenize(path: string): Token[] {
  const tokens: Token[] = [];
  const re = /__(map|list)_/g;
  let last = 0;
  let kind: "map" | "list" = "map";
  for (const m of path.matchAll(re)) {
    tokens.push(tokenOf(kind, path.slice(last, m.index)));
    kind = m[1] as "map" | "list";
    last = m.index + m[0].length;
  }
  tokens.push(tokenOf(kind, path.slice(last)));
  return tokens;
}

function tokenOf(kind: "map" | "list", text: string): Token {
  if (kind === "map") return { map: text };
  if (!/^\d+$/.test(text)) throw invalidMetadata(`bad list index ${JSON.stringify(text)} in a flattened key`);
  return { list: Number(text) };
}

interface Node {
  value?: string;
  keys?: Map<string, Node>;
  indices?: Map<number, Node>;
}

/** Rebuilds the metadata branch from flattened pairs whose key starts with `prefix`. */
export function unflatten(pairs: Iterable<[string, string]>, prefix: string): Branch {
  const root: Node = {};
  for (const [k, value] of pairs) {
    if (!k.startsWith(prefix)) continue;
    let node = root;
    for (const t of tokenize(k.slice(prefix.length))) {
      if ("map" in t) {
        if (node.indices || node.value !== undefined) throw invalidMetadata(`${k} mixes a map with another kind of value`);
        node.keys ??= new Map();
        let next = node.keys.get(t.map);
        if (!next) node.keys.set(t.map, (next = {}));
        node = next;
      } else {
        if (node.keys || node.value !== undefined) throw invalidMetadata(`${k} mixes a list with another kind of value`);
        node.indices ??= new Map();
        let next = node.indices.get(t.list);
        if (!next) node.indices.set(t.list, (next = {}));
        node = next;
      }
    }
    if (node.value !== undefined || node.keys || node.indices) throw invalidMetadata(`${k} is given twice or collides with another key`);
    node.value = value;
  }
  const build = (n: Node): Value => {
    if (n.value !== undefined) return n.value;
    if (n.keys) return new Branch([...n.keys].map(([key, c]) => ({ key, value: build(c) })));
    const idx = [...(n.indices ?? new Map<number, Node>()).keys()].sort((a, b) => a - b);
    if (idx.some((x, i) => x !== i)) throw invalidMetadata("a flattened list has missing items");
    return idx.map((i) => build(n.indices?.get(i) as Node));
  };
  const b = build(root);
  return b instanceof Branch ? b : new Branch();
}
