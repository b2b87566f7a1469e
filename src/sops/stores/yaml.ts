import type { Document, Node, LineCounter, Scalar } from "yaml";
import { yamlLib } from "../../lazy-yaml.js";
import { formatGoFloatG } from "../cipher.js";
import { Branch, Comment, type Item, SopsTime, type Tree, type Value } from "../tree.js";
import { malformed, notEncrypted } from "./errors.js";
import { resolvePlain, resolveTagged } from "./go-yaml-scalars.js";
import { parseYamlFast } from "./yaml-fast.js";
import type { EmitOptions, Store } from "./store.js";

// ---------------------------------------------------------------------------------------
// Parsing. The yaml package gives the structure and positions; scalars are resolved the
// go-yaml v3 way, and comments are placed by their column (a comment belongs to the map or
// list whose items stand at its indentation), which is where go-yaml/sops put them and what
// decides a comment's AAD (the path of its enclosing map).
// ---------------------------------------------------------------------------------------

const MAX_NODES = 1_000_000; // alias bombs expand to billions of nodes

interface Slot {
  line: number;
  col: number;
  /** Insert comments before this slot's item in `container` at index `index` (recomputed on insert). */
  container: Branch | Value[];
  item: Item | Value;
}

interface Ctx {
  lc: LineCounter;
  text: string;
  lines: string[];
  slots: Slot[];
  /** Line ranges covered by scalars (block or multi-line), where a `#` is content, not a comment. */
  scalarLines: Set<number>;
  nodes: number;
  anchors: Set<Node>;
}

function pos(ctx: Ctx, offset: number): { line: number; col: number } {
  const p = ctx.lc.linePos(offset);
  return { line: p.line - 1, col: p.col - 1 };
}

function markScalarLines(ctx: Ctx, n: Scalar): void {
  if (!n.range) return;
  const a = pos(ctx, n.range[0]).line;
  const b = pos(ctx, Math.max(n.range[0], n.range[1] - 1)).line;
  for (let l = a + 1; l <= b; l++) ctx.scalarLines.add(l);
  if (n.type === "BLOCK_LITERAL" || n.type === "BLOCK_FOLDED") ctx.scalarLines.add(a);
}

function scalarValue(ctx: Ctx, n: Scalar, where: string): Value {
  markScalarLines(ctx, n);
  const text = String(n.value ?? "");
  if (n.tag) {
    const r = resolveTagged(n.tag, text);
    if (r === "binary") {
      const clean = text.replace(/\s+/g, "");
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) throw malformed("YAML", `the !!binary value at ${where} is not base64`);
      return new Uint8Array(Buffer.from(clean, "base64"));
    }
    if (r === undefined) return text;
    return resolvedValue(r, text);
  }
  if (n.type !== "PLAIN") return text;
  return resolvedValue(resolvePlain(text), text);
}

function resolvedValue(r: ReturnType<typeof resolvePlain>, text: string): Value {
  switch (r.kind) {
    case "null":
      return null;
    case "bool":
    case "int":
    case "float":
      return r.value;
    case "str":
      return text;
  }
}

function convert(ctx: Ctx, doc: Document, n: Node | null | undefined, where: string, depth: number): Value {
  if (++ctx.nodes > MAX_NODES) throw malformed("YAML", "it expands to more than a million nodes (an alias bomb?)");
  if (depth > 1000) throw malformed("YAML", "it nests more than 1000 levels deep");
  if (n === null || n === undefined) return null;
  const { isAlias, isMap, isScalar, isSeq } = yamlLib();
  if (isAlias(n)) {
    const target = n.resolve(doc);
    if (!target) throw malformed("YAML", `the alias *${n.source} at ${where} has no anchor`);
    // Aliases are expanded into copies; their positions are not the alias's, so no comment slots.
    return convertDetached(ctx, doc, target as Node, where, depth + 1);
  }
  if (isScalar(n)) return scalarValue(ctx, n, where);
  if (isMap(n)) {
    const b = new Branch();
    for (const pair of n.items) {
      const keyNode = pair.key as Node | null;
      const key = keyOf(ctx, keyNode, where);
      const item: Item = { key, value: null };
      b.items.push(item);
      if (keyNode?.range) ctx.slots.push({ ...pos(ctx, keyNode.range[0]), container: b, item });
      item.value = convert(ctx, doc, pair.value as Node | null, `${where}.${key}`, depth + 1);
    }
    return b;
  }
  if (isSeq(n)) {
    const list: Value[] = [];
    for (const it of n.items) {
      const v = convert(ctx, doc, it as Node | null, where, depth + 1);
      list.push(v);
      const node = it as Node | null;
      if (node?.range) {
        // The item's column is its dash, found by walking back from the value over spaces.
        const p = pos(ctx, node.range[0]);
        const lineText = ctx.lines[p.line] ?? "";
        let c = p.col - 1;
        while (c >= 0 && lineText[c] === " ") c--;
        const col = lineText[c] === "-" ? c : p.col;
        ctx.slots.push({ line: p.line, col, container: list, item: v });
      }
    }
    return list;
  }
  throw malformed("YAML", `unsupported node at ${where}`);
}

function convertDetached(ctx: Ctx, doc: Document, n: Node, where: string, depth: number): Value {
  const saved = ctx.slots;
  ctx.slots = [];
  try {
    return convert(ctx, doc, n, where, depth);
  } finally {
    ctx.slots = saved;
  }
}

function keyOf(ctx: Ctx, n: Node | null, where: string): string {
  if (n === null) throw malformed("YAML", `a key at ${where} is empty (null), and sops only supports string keys`);
  const { isMap, isScalar, isSeq } = yamlLib();
  if (!isScalar(n)) throw malformed("YAML", `a key at ${where} is a ${isMap(n) ? "map" : isSeq(n) ? "list" : "alias"}, and sops only supports string keys`);
  const v = scalarValue(ctx, n, where);
  if (typeof v !== "string") throw malformed("YAML", `the key ${JSON.stringify(String(n.value))} at ${where} is not a string (it reads as ${v === null ? "null" : typeof v === "bigint" ? "an integer" : typeof v}); quote it`);
  return v;
}

interface CommentLine {
  line: number;
  col: number;
  text: string;
  trailing: boolean;
}

/** Every `#` comment in the text that is not inside a scalar, with its line and column. */
function commentLines(ctx: Ctx, fromLine: number, toLine: number): CommentLine[] {
  const out: CommentLine[] = [];
  const lines = ctx.lines;
  for (let l = fromLine; l <= toLine && l < lines.length; l++) {
    if (ctx.scalarLines.has(l)) continue;
    const raw = (lines[l] ?? "").replace(/\r$/, "");
    if (!raw.includes("#")) continue;
    const full = /^(\s*)#(.*)$/.exec(raw);
    if (full) {
      out.push({ line: l, col: (full[1] ?? "").length, text: full[2] ?? "", trailing: false });
      continue;
    }
    const idx = trailingCommentIndex(raw);
    if (idx >= 0) out.push({ line: l, col: idx, text: raw.slice(idx + 1), trailing: true });
  }
  return out;
}

/** Where a ` #` comment starts on a content line, outside quotes; -1 if none. */
function trailingCommentIndex(line: string): number {
  let q: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (q) {
      if (q === '"' && ch === "\\") i++;
      else if (ch === q) q = undefined;
      continue;
    }
    if ((ch === '"' || ch === "'") && (i === 0 || /[\s:[{,-]/.test(line[i - 1] as string))) q = ch;
    else if (ch === "#" && i > 0 && /\s/.test(line[i - 1] as string)) return i;
  }
  return -1;
}

function insertBefore(slot: Slot, entries: (Item | Value)[]): void {
  const c = slot.container;
  const i = (c instanceof Branch ? (c.items as unknown[]) : c).indexOf(slot.item);
  if (c instanceof Branch) c.items.splice(i, 0, ...(entries as Item[]));
  else c.splice(i, 0, ...(entries as Value[]));
}

function insertAfter(slot: Slot, entries: (Item | Value)[]): void {
  const c = slot.container;
  const arr = c instanceof Branch ? (c.items as unknown[]) : c;
  let i = arr.indexOf(slot.item) + 1;
  // After comments already placed after this item.
  while (i < arr.length && isCommentEntry(arr[i])) i++;
  if (c instanceof Branch) c.items.splice(i, 0, ...(entries as Item[]));
  else c.splice(i, 0, ...(entries as Value[]));
}

function isCommentEntry(x: unknown): boolean {
  return x instanceof Comment || (typeof x === "object" && x !== null && "comment" in x);
}

function entryFor(container: Branch | Value[], c: Comment): Item | Value {
  return container instanceof Branch ? { comment: c } : c;
}

function placeComments(root: Branch, slots: Slot[], comments: CommentLine[]): void {
  const byLine = new Map<number, Slot[]>();
  for (const s of slots) byLine.set(s.line, [...(byLine.get(s.line) ?? []), s]);
  const contentLines = [...byLine.keys()].sort((a, b) => a - b);
  for (const c of comments) {
    const comment = new Comment(c.text, c.trailing);
    if (c.trailing) {
      // A line comment: before the innermost item that starts on its line (sops 3.13 Inline).
      const onLine = (byLine.get(c.line) ?? []).sort((a, b) => b.col - a.col)[0] ?? lastSlotBefore(slots, c.line);
      if (onLine) insertBefore(onLine, [entryFor(onLine.container, comment)]);
      else root.items.push({ comment });
      continue;
    }
    const nextLine = contentLines.find((l) => l > c.line);
    const next = nextLine === undefined ? [] : (byLine.get(nextLine) ?? []);
    const same = next.find((s) => s.col === c.col);
    if (same) {
      insertBefore(same, [entryFor(same.container, comment)]);
      continue;
    }
    // A foot comment: after the last earlier item at this column, in the innermost such container.
    const before = slots.filter((s) => s.line < c.line && s.col === c.col).sort((a, b) => b.line - a.line)[0];
    if (before) {
      insertAfter(before, [entryFor(before.container, comment)]);
      continue;
    }
    // Odd indentation: attach to what follows, or to the end of the document.
    const outer = next.sort((a, b) => a.col - b.col)[0];
    if (outer) insertBefore(outer, [entryFor(outer.container, comment)]);
    else root.items.push({ comment });
  }
}

function lastSlotBefore(slots: Slot[], line: number): Slot | undefined {
  return slots.filter((s) => s.line <= line).sort((a, b) => b.line - a.line || b.col - a.col)[0];
}

/** Parses YAML: the fast block-subset parser when it understands the text, else the full one. */
export function parseYaml(data: Uint8Array): Tree {
  const text = Buffer.from(data).toString("utf8");
  const fast = parseYamlFast(text);
  if (fast) {
    placeComments(fast.root, fast.slots, fast.comments);
    return [fast.root];
  }
  return parseYamlFull(text);
}

/** The full parser (the yaml package, resolved the go-yaml way); exported for the equivalence tests. */
export function parseYamlFull(text: string): Tree {
  const { isMap, isScalar, isSeq, LineCounter, parseAllDocuments } = yamlLib();
  const lc = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, { schema: "failsafe", uniqueKeys: true, merge: false, lineCounter: lc, strict: true, prettyErrors: false }) as Document.Parsed[];
  } catch (e) {
    throw malformed("YAML", (e as Error).message);
  }
  if (!Array.isArray(docs)) docs = [];
  const tree: Tree = [];
  const lines = text.split("\n");
  const ctx: Ctx = { lc, text, lines, slots: [], scalarLines: new Set(), nodes: 0, anchors: new Set() };
  const lineCount = lines.length;
  docs.forEach((doc, di) => {
    const err = doc.errors[0];
    if (err) {
      const msg = err.message.split("\n")[0] ?? err.message;
      throw malformed("YAML", err.code === "DUPLICATE_KEY" ? `${msg} (duplicate keys are not allowed)` : msg);
    }
    const contents = doc.contents as Node | null;
    ctx.slots = [];
    let root: Branch;
    if (contents === null || (isScalar(contents) && contents.value === null && contents.source === "")) root = new Branch();
    else if (isMap(contents)) root = convert(ctx, doc, contents, "(top level)", 0) as Branch;
    else throw malformed("YAML", `document ${di + 1} is a ${isSeq(contents) ? "list" : "scalar"} at the top level; sops needs a map`);
    // Comments from this document's start to the next document's start.
    const from = di === 0 ? 0 : pos(ctx, doc.range[0]).line;
    const nextDoc = docs[di + 1];
    const to = nextDoc ? pos(ctx, nextDoc.range[0]).line - 1 : lineCount - 1;
    const comments = commentLines(ctx, from, to).filter((c) => !/^---|^\.\.\./.test(c.text));
    placeComments(root, ctx.slots, comments);
    tree.push(root);
  });
  return tree;
}

// ---------------------------------------------------------------------------------------
// Emitting, in go-yaml v3's block style as sops drives it: indent 4 by default, sequences
// indented under their key, maps in sequence items compact after the dash, strings quoted
// only when a plain scalar would read back as something else, literal blocks for
// multi-line strings, no line wrapping.
// ---------------------------------------------------------------------------------------

const INDICATORS = /^[-?:,[\]{}#&*!|>'"%@`]/;

function needsQuotes(s: string): boolean {
  if (s === "") return true;
  if (resolvePlain(s).kind !== "str") return true;
  if (/^\d/.test(s) && /^\d{4}-\d{1,2}-\d{1,2}/.test(s)) return true; // timestamps: go-yaml quotes them
  if (INDICATORS.test(s) && !/^[-?:][^\s]/.test(s)) return true;
  if (/^[-?:]$/.test(s) || s.startsWith("- ") || s.startsWith("? ") || s.startsWith(": ")) return true;
  if (/^\s|\s$/.test(s)) return true;
  if (s.includes(": ") || s.includes(" #") || s.endsWith(":")) return true;
  if (s === "<<") return true;
  // biome-ignore lint: any control character or a line break forces quoting
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(s)) return true;
  return false;
}

function doubleQuoted(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else if (c === 0x2028 || c === 0x2029 || c === 0xfeff) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

function canBeLiteral(s: string): boolean {
  if (!s.includes("\n")) return false;
  // biome-ignore lint: control characters other than newline and tab need the escaped form
  if (/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(s)) return false;
  // A first line starting with a space would need an indentation indicator; keep it simple.
  if (s.startsWith(" ") || s.startsWith("\t")) return false;
  return !s.split("\n").some((l) => /\s$/.test(l) && l.trim() !== "");
}

function scalarText(v: Value): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number") {
    if (Number.isNaN(v)) return ".nan";
    if (v === Infinity) return ".inf";
    if (v === -Infinity) return "-.inf";
    const g = formatGoFloatG(v);
    // go-yaml would print 7.0 as "7", which reads back as an int; keep it a float.
    return /^-?\d+$/.test(g) ? `${g}.0` : g;
  }
  if (v instanceof SopsTime) return v.text;
  if (v instanceof Uint8Array) return `!!binary ${Buffer.from(v).toString("base64")}`;
  const s = v as string;
  return needsQuotes(s) ? doubleQuoted(s) : s;
}

function keyText(k: string): string {
  return needsQuotes(k) ? doubleQuoted(k) : k;
}

const sp = (n: number) => " ".repeat(n);

class Emitter {
  readonly lines: string[] = [];
  readonly indent: number;
  constructor(indent: number) {
    this.indent = indent;
  }

  /** `head` is what goes before the value on its first line (e.g. "key:" or "- "). */
  private scalarAfter(head: string, v: string, childCol: number, inline: string): void {
    if (canBeLiteral(v)) {
      const trailing = /\n+$/.exec(v)?.[0].length ?? 0;
      const chomp = trailing === 0 ? "-" : trailing === 1 ? "" : "+";
      this.lines.push(`${head} |${chomp}${inline}`);
      const body = trailing > 0 ? v.slice(0, -1) : v;
      for (const l of body.split("\n")) this.lines.push(l === "" ? "" : `${sp(childCol)}${l}`);
      return;
    }
    this.lines.push(`${head} ${scalarText(v)}${inline}`);
  }

  value(head: string, v: Value, col: number, childCol: number, inline: string): void {
    if (v instanceof Branch) {
      if (!v.items.some((i) => "key" in i)) {
        this.lines.push(`${head} {}${inline}`);
        for (const i of v.items) if ("comment" in i) this.lines.push(`${sp(childCol)}#${i.comment.text}`);
        return;
      }
      this.lines.push(`${head}${inline}`);
      this.map(v, childCol);
      return;
    }
    if (Array.isArray(v)) {
      if (!v.some((x) => !(x instanceof Comment))) {
        this.lines.push(`${head} []${inline}`);
        return;
      }
      this.lines.push(`${head}${inline}`);
      this.seq(v, childCol);
      return;
    }
    if (typeof v === "string") this.scalarAfter(head, v, childCol, inline);
    else this.lines.push(`${head} ${scalarText(v)}${inline}`);
    void col;
  }

  map(b: Branch, col: number, firstPrefix?: string, childColOverride?: number): void {
    let pendingInline = "";
    let first = firstPrefix;
    const childCol = childColOverride ?? col + this.indent;
    for (const item of b.items) {
      if ("comment" in item) {
        if (item.comment.inline) pendingInline += ` #${item.comment.text}`;
        else this.lines.push(`${sp(col)}#${item.comment.text}`);
        continue;
      }
      const lead = first ?? sp(col);
      first = undefined;
      this.value(`${lead}${keyText(item.key)}:`, item.value, col, childCol, pendingInline);
      pendingInline = "";
    }
    if (pendingInline) this.lines.push(`${sp(col)}#${pendingInline.slice(2)}`);
  }

  seq(list: Value[], dashCol: number, firstPrefix?: string): void {
    let pendingInline = "";
    let first = firstPrefix;
    for (const v of list) {
      if (v instanceof Comment) {
        if (v.inline) pendingInline += ` #${v.text}`;
        else this.lines.push(`${sp(dashCol)}#${v.text}`);
        continue;
      }
      const lead = `${first ?? sp(dashCol)}- `;
      first = undefined;
      if (v instanceof Branch && v.items.some((i) => "key" in i)) {
        // Comments heading the item's map go above the dash, at the map's key column.
        const headComments: Item[] = [];
        let k = 0;
        while (k < v.items.length && "comment" in (v.items[k] as Item) && !(v.items[k] as { comment: Comment }).comment.inline) headComments.push(v.items[k++] as Item);
        for (const c of headComments) this.lines.push(`${sp(dashCol + 2)}#${(c as { comment: Comment }).comment.text}`);
        const rest = new Branch(v.items.slice(k));
        // go-yaml v3 nests a sequence item's map children at dash + indent (at least key + 2).
        this.map(rest, dashCol + 2, lead, Math.max(dashCol + this.indent, dashCol + 4));
        if (pendingInline) this.lines.push(`${sp(dashCol + 2)}#${pendingInline.slice(2)}`);
      } else if (Array.isArray(v) && v.some((x) => !(x instanceof Comment))) {
        this.seq(v, dashCol + 2, lead);
      } else {
        this.value(lead.trimEnd(), v, dashCol, dashCol + this.indent, pendingInline);
      }
      pendingInline = "";
    }
    if (pendingInline) this.lines.push(`${sp(dashCol)}#${pendingInline.slice(2)}`);
  }
}

function emitTree(tree: Tree, o?: EmitOptions): Uint8Array {
  const indent = o?.indent && o.indent > 0 ? o.indent : 4;
  const docs = tree.map((b) => {
    const e = new Emitter(indent);
    if (b.items.some((i) => "key" in i)) e.map(b, 0);
    else {
      for (const i of b.items) if ("comment" in i) e.lines.push(`#${i.comment.text}`);
      e.lines.push("{}");
    }
    return `${e.lines.join("\n")}\n`;
  });
  return Buffer.from(docs.join("---\n"), "utf8");
}

export const yamlStore: Store = {
  format: "yaml",
  loadPlain: parseYaml,
  loadEncrypted(data) {
    const tree = parseYaml(data);
    const first = tree[0];
    const meta = first?.get("sops");
    if (!first || meta === undefined) throw notEncrypted();
    if (!(meta instanceof Branch)) throw malformed("YAML", "the sops key must hold a map");
    // Metadata comes from the first document; sops keys in later ones are dropped (metadata.go:105-131).
    return { tree: tree.map((b) => new Branch(b.items.filter((i) => !("key" in i && i.key === "sops")))), metadata: meta };
  },
  emitPlain: emitTree,
  emitEncrypted(tree, metadata, o) {
    return emitTree(
      tree.map((b) => new Branch([...b.items, { key: "sops", value: metadata }])),
      o,
    );
  },
  emitValue(v, o) {
    const indent = o?.indent && o.indent > 0 ? o.indent : 4;
    const e = new Emitter(indent);
    if (Array.isArray(v)) e.seq(v, 0);
    else if (v instanceof Branch) e.map(v, 0);
    else e.lines.push(typeof v === "string" && canBeLiteral(v) ? `|\n${v.replace(/^/gm, sp(indent))}` : scalarText(v));
    return Buffer.from(`${e.lines.join("\n")}\n`, "utf8");
  },
  hasMetadata(tree) {
    return tree[0]?.has("sops") ?? false;
  },
};
