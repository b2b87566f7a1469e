import { decodeUtf8, limitExceeded, limits } from "../../limits.js";
import { valueToEnvString } from "../env-value.js";
import { Branch, Comment, type Item, type Tree, type Value } from "../tree.js";
import { malformed, notEncrypted } from "./errors.js";
import { flatten, unflatten } from "./flatten.js";
import type { Store } from "./store.js";

// sops stores/ini/store.go over gopkg.in/ini.v1: one top-level item per section whose value
// is a branch of string values; a section's comment is the first item of its branch, a key's
// comment (the lines above it) an item after that key; the metadata is a `[sops]` section
// flattened below the top with newlines escaped as `\n`.
const DEFAULT = "DEFAULT";
const META = "sops";

/** sops' stripCommentChar: drops the leading run of `;`/`#` and spaces. */
function strip(comment: string): string {
  if (comment.startsWith(";")) return comment.replace(/^[; ]+/, "");
  if (comment.startsWith("#")) return comment.replace(/^[# ]+/, "");
  return comment;
}

/** ini.v1's readValue for a single line: quotes, backticks, inline comments, trimming. */
function readValue(raw: string, lines: string[], at: { i: number }): string {
  const v = raw.trim();
  if (v.startsWith('"""')) {
    // Multi-line value up to the closing """ (sops 3.13.0/3.13.1 wrote metadata this way).
    let body = v.slice(3);
    const close = body.indexOf('"""');
    if (close >= 0) return body.slice(0, close);
    for (;;) {
      at.i++;
      if (at.i >= lines.length) throw malformed("INI", 'a """ value is not closed');
      const next = (lines[at.i] as string).replace(/\r$/, "");
      const end = next.indexOf('"""');
      if (end >= 0) return `${body}\n${next.slice(0, end)}`;
      body += `\n${next}`;
    }
  }
  const quoted = /^(["`])(.*)\1$/.exec(v);
  if (quoted) return quoted[2] as string;
  const cut = v.search(/[#;]/);
  return (cut >= 0 ? v.slice(0, cut) : v).trim();
}

function parseIni(data: Uint8Array, file?: string): Tree {
  const lines = decodeUtf8(data, file).split("\n");
  const max = limits().maxNodes;
  let nodes = 0;
  const sections: { name: string; items: Item[] }[] = [{ name: DEFAULT, items: [] }];
  let cur = sections[0] as { name: string; items: Item[] };
  let pending: string[] = [];
  const at = { i: 0 };
  for (at.i = 0; at.i < lines.length; at.i++) {
    const line = (lines[at.i] as string).replace(/\r$/, "").trim();
    if (line === "") continue;
    if (++nodes > max) throw limitExceeded("maxNodes", file, `has more than ${max} lines`);
    if (line.startsWith(";") || line.startsWith("#")) {
      pending.push(line);
      continue;
    }
    if (line.startsWith("[")) {
      const end = line.indexOf("]");
      if (end < 0) throw malformed("INI", `line ${at.i + 1} opens a section without closing it`);
      cur = { name: line.slice(1, end).trim(), items: [] };
      sections.push(cur);
      // A section's comment lines become the first item of its branch.
      if (pending.length) cur.items.push({ comment: new Comment(strip(pending.join("\n"))) });
      pending = [];
      continue;
    }
    // A key may be quoted with " or ` (ini.v1 readKeyName), then holds = and : freely.
    const q = /^(["`])(.*?)\1\s*[=:]/.exec(line);
    const eq = q ? q[0].length - 1 : line.search(/[=:]/);
    if (eq <= 0) throw malformed("INI", `line ${at.i + 1} is neither a section, a comment nor key = value`);
    const key = q ? (q[2] as string) : line.slice(0, eq).trim();
    const value = readValue(line.slice(eq + 1), lines, at);
    cur.items.push({ key, value });
    // The comment above a key becomes an item after it (sops treeItemFromSection).
    if (pending.length) cur.items.push({ comment: new Comment(strip(pending.join("\n"))) });
    pending = [];
  }
  const root = new Branch();
  for (const s of sections) {
    if (s.name === DEFAULT && s.items.length === 0) continue;
    root.items.push({ key: s.name, value: new Branch(s.items) });
  }
  return [root];
}

function formatValue(v: string): string {
  if (v.includes("\n") || v.includes("`")) return `"""${v}"""`;
  if (v.includes("#") || v.includes(";")) return `\`${v}\``;
  if (v !== v.trim()) return `"${v}"`;
  return v;
}

function formatKey(k: string): string {
  if (/[=:"`#;[\]]/.test(k) || k !== k.trim()) return k.includes("`") ? `"${k}"` : `\`${k}\``;
  return k;
}

function commentLines(text: string): string[] {
  return text.split("\n").map((l) => (l.startsWith(";") || l.startsWith("#") ? l : `; ${l}`));
}

function emitSections(items: Item[]): Uint8Array {
  const out: string[] = [];
  for (const it of items) {
    if (!("key" in it)) continue;
    const branch = it.value;
    if (!(branch instanceof Branch)) throw malformed("INI", `${JSON.stringify(it.key)} must be a section (a map of values), not a single value`);
    const body = [...branch.items];
    const head: string[] = [];
    if (body[0] && "comment" in body[0]) head.push(...commentLines((body.shift() as { comment: Comment }).comment.text));
    const keys = body.filter((b): b is { key: string; value: Value } => "key" in b);
    const width = Math.max(0, ...keys.map((k) => formatKey(k.key).length));
    const lines: string[] = [];
    // A comment item after a key is written above that key (ini.v1 Key.Comment).
    for (let i = 0; i < body.length; i++) {
      const b = body[i] as Item;
      if (!("key" in b)) continue;
      const after = body[i + 1];
      if (after && "comment" in after) lines.push(...commentLines(after.comment.text));
      if (b.value instanceof Branch || Array.isArray(b.value)) throw malformed("INI", `${it.key}.${b.key} is nested; INI values are flat`);
      lines.push(`${formatKey(b.key).padEnd(width)} = ${formatValue(valueToEnvString(b.value, b.key))}`);
    }
    if (it.key === DEFAULT) out.push([...head, ...lines].join("\n"));
    else out.push([...head, `[${it.key}]`, ...lines].join("\n"));
  }
  return Buffer.from(out.length ? `${out.join("\n\n")}\n` : "", "utf8");
}

export const iniStore: Store = {
  format: "ini",
  loadPlain: (data, o) => parseIni(data, o?.file),
  loadEncrypted(data, o) {
    const [root] = parseIni(data, o?.file);
    const meta = root?.get(META);
    if (!root || !(meta instanceof Branch)) throw notEncrypted();
    const pairs: [string, string][] = [];
    for (const it of meta.items) if ("key" in it) pairs.push([it.key, String(it.value).replaceAll("\\n", "\n")]);
    return { tree: [new Branch(root.items.filter((i) => !("key" in i && i.key === META)))], metadata: unflatten(pairs, "") };
  },
  emitPlain(tree) {
    return emitSections(tree[0]?.items ?? []);
  },
  emitEncrypted(tree, metadata) {
    const meta = new Branch(flatten(metadata, "").map(([key, value]) => ({ key, value: value.replaceAll("\n", "\\n") })));
    return emitSections([...(tree[0]?.items ?? []), { key: META, value: meta }]);
  },
  emitValue(v) {
    if (v instanceof Branch) return emitSections([{ key: DEFAULT, value: v }]);
    return Buffer.from(JSON.stringify(v === null || typeof v !== "object" ? (typeof v === "bigint" ? Number(v) : v) : String(v)), "utf8");
  },
  hasMetadata(tree) {
    return tree[0]?.has(META) ?? false;
  },
};
