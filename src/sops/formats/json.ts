import { decodeUtf8, limitExceeded, limits, tooDeep } from "../../limits.js";
import { formatGoFloat } from "../cipher.js";
import { Branch, Comment, SopsTime, type Tree, type Value } from "../tree.js";
import { malformed, notEncrypted } from "./errors.js";
import type { EmitOptions, Store } from "./store.js";

/**
 * Parses JSON into a tree, keeping key order (JSON.parse reorders integer-like keys) and
 * duplicate keys as separate items, as sops' token decoder does (stores/json/store.go).
 * Integer literals within int64 are ints (sops 3.13.2+ json.Number), others floats.
 */
export function parseJson(text: string, file?: string): Value {
  const { maxDepth, maxNodes } = limits();
  let nodes = 0;
  let i = 0;
  const fail = (why: string): never => {
    const before = text.slice(0, i);
    const line = before.split("\n").length;
    const col = i - before.lastIndexOf("\n");
    throw malformed("JSON", `${why} at line ${line}, column ${col}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const str = (): string => {
    i++; // opening quote
    let out = "";
    for (;;) {
      const j = text.indexOf('"', i);
      const k = text.indexOf("\\", i);
      if (j < 0) fail("unterminated string");
      if (k >= 0 && k < j) {
        out += text.slice(i, k);
        i = k + 1;
        const e = text[i++];
        if (e === "u") {
          const hex = text.slice(i, i + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
          out += String.fromCharCode(Number.parseInt(hex, 16));
          i += 4;
        } else {
          const m: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
          const c = m[e ?? ""];
          if (c === undefined) fail(`bad escape \\${e}`);
          out += c;
        }
        continue;
      }
      const chunk = text.slice(i, j);
      // biome-ignore lint: control characters are invalid inside JSON strings
      if (/[\u0000-\u001f]/.test(chunk)) fail("control character in string");
      out += chunk;
      i = j + 1;
      return out;
    }
  };
  // depth counts the maps and lists around this value: the top-level object is at depth 1.
  const count = () => {
    if (++nodes > maxNodes) throw limitExceeded("maxNodes", file, `has more than ${maxNodes} values`);
  };
  const value = (depth: number): Value => {
    ws();
    const c = text[i];
    if (c === "{") {
      if (depth >= maxDepth) throw tooDeep(file);
      i++;
      const b = new Branch();
      ws();
      if (text[i] === "}") {
        i++;
        return b;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a string key");
        const key = str();
        ws();
        if (text[i] !== ":") fail("expected ':'");
        i++;
        count();
        b.items.push({ key, value: value(depth + 1) });
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return b;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      if (depth >= maxDepth) throw tooDeep(file);
      i++;
      const l: Value[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return l;
      }
      for (;;) {
        count();
        l.push(value(depth + 1));
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return l;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    for (const [lit, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail(c === undefined ? "unexpected end of input" : `unexpected character ${JSON.stringify(c)}`);
    const lit = (m as RegExpExecArray)[0];
    i += lit.length;
    if (!m?.[1] && !m?.[2]) {
      const n = BigInt(lit);
      if (n <= 9223372036854775807n && n >= -9223372036854775808n) return n;
    }
    return Number(lit);
  };
  const v = value(0);
  ws();
  if (i < text.length) fail("unexpected data after the document");
  return v;
}

/** Go's json.Marshal string escaping (encoding/json encodeState.string with HTML escaping). */
export function goJsonString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (c < 0x20 || ch === "<" || ch === ">" || ch === "&" || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += "\\ufffd"; // a lone surrogate: Go writes U+FFFD
    else out += ch;
  }
  return `${out}"`;
}

/** Go's json.Marshal float64: 'f' unless |x| < 1e-6 or ≥ 1e21, then 'e' with a short exponent. */
function goJsonFloat(n: number): string {
  if (!Number.isFinite(n)) throw malformed("JSON", "NaN and infinities cannot be written as JSON");
  const abs = Math.abs(n);
  // Go trims "e-07" to "e-7", which is what JS writes already.
  if (abs !== 0 && (abs < 1e-6 || abs >= 1e21)) return n.toExponential();
  return formatGoFloat(n);
}

function scalar(v: Value): string {
  if (v === null) return "null";
  if (typeof v === "string") return goJsonString(v);
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") return goJsonFloat(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (v instanceof Uint8Array) return goJsonString(Buffer.from(v).toString("base64"));
  if (v instanceof SopsTime) return goJsonString(v.text);
  return "null";
}

/** Emits like sops: json.Indent with a tab (or N spaces), `"key": value`, empty {} and [] compact. */
export function emitJson(v: Value, indent: string, level = 0): string {
  const pad = indent.repeat(level + 1);
  const end = indent.repeat(level);
  if (v instanceof Branch) {
    const items = v.items.filter((it): it is { key: string; value: Value } => "key" in it);
    if (items.length === 0) return "{}";
    return `{\n${items.map((it) => `${pad}${goJsonString(it.key)}: ${emitJson(it.value, indent, level + 1)}`).join(",\n")}\n${end}}`;
  }
  if (Array.isArray(v)) {
    const items = v.filter((x) => !(x instanceof Comment));
    if (items.length === 0) return "[]";
    return `[\n${items.map((x) => `${pad}${emitJson(x, indent, level + 1)}`).join(",\n")}\n${end}]`;
  }
  return scalar(v);
}

function indentOf(o?: EmitOptions): string {
  return o?.indent === undefined || o.indent < 0 ? "\t" : " ".repeat(o.indent);
}

function loadJson(data: Uint8Array, file?: string): Tree {
  const text = decodeUtf8(data, file);
  if (text.trim() === "") return [];
  const v = parseJson(text, file);
  if (!(v instanceof Branch)) throw malformed("JSON", "the top level must be an object");
  return [v];
}

export const jsonStore: Store = {
  format: "json",
  loadPlain: (data, o) => loadJson(data, o?.file),
  loadEncrypted(data, o) {
    const [root] = loadJson(data, o?.file);
    const meta = root?.get("sops");
    if (!root || meta === undefined) throw notEncrypted();
    if (!(meta instanceof Branch)) throw malformed("JSON", "the sops key must hold an object");
    return { tree: [new Branch(root.items.filter((i) => !("key" in i && i.key === "sops")))], metadata: meta };
  },
  emitPlain(tree, o) {
    return Buffer.from(`${emitJson(tree[0] ?? new Branch(), indentOf(o))}\n`, "utf8");
  },
  emitEncrypted(tree, metadata, o) {
    const root = new Branch([...(tree[0]?.items ?? []), { key: "sops", value: metadata }]);
    return Buffer.from(`${emitJson(root, indentOf(o))}\n`, "utf8");
  },
  emitValue(v, o) {
    return Buffer.from(`${emitJson(v, indentOf(o))}\n`, "utf8");
  },
  hasMetadata(tree) {
    return tree[0]?.has("sops") ?? false;
  },
};
