import type { Alias, Document, LineCounter, Node, Scalar } from "yaml";
import { yamlLib } from "../../lazy-yaml.js";
import { decodeUtf8 } from "../../limits.js";
import { checkYamlShape, parseYamlDocuments } from "../../yaml.js";
import { formatGoFloatG } from "../cipher.js";
import { Branch, Comment, type Item, SopsTime, type Tree, type Value } from "../tree.js";
import { BootMetaError } from "../../errors.js";
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
  /** Each alias's target, from checkYamlShape (which also bounded what expanding them costs). */
  targets: Map<Alias, Node>;
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

// Depth and size need no checks here: checkYamlShape measured the document, aliases expanded.
function convert(ctx: Ctx, doc: Document, n: Node | null | undefined, where: string): Value {
  if (n === null || n === undefined) return null;
  if (yamlLib().isAlias(n)) {
    const target = ctx.targets.get(n);
    if (!target) throw malformed("YAML", `the alias *${n.source} at ${where} has no anchor`);
    // Aliases are expanded into copies; their positions are not the alias's, so no comment slots.
    return convertDetached(ctx, doc, target, where);
  }
  if (yamlLib().isScalar(n)) return scalarValue(ctx, n, where);
  if (yamlLib().isMap(n)) {
    const b = new Branch();
    for (const pair of n.items) {
      const keyNode = pair.key as Node | null;
      const key = keyOf(ctx, keyNode, where);
      const item: Item = { key, value: null };
      b.items.push(item);
      if (keyNode?.range) ctx.slots.push({ ...pos(ctx, keyNode.range[0]), container: b, item });
      item.value = convert(ctx, doc, pair.value as Node | null, `${where}.${key}`);
    }
    return b;
  }
  if (yamlLib().isSeq(n)) {
    const list: Value[] = [];
    for (const it of n.items) {
      const v = convert(ctx, doc, it as Node | null, where);
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

function convertDetached(ctx: Ctx, doc: Document, n: Node, where: string): Value {
  const saved = ctx.slots;
  ctx.slots = [];
  try {
    return convert(ctx, doc, n, where);
  } finally {
    ctx.slots = saved;
  }
}

function keyOf(ctx: Ctx, n: Node | null, where: string): string {
  if (n === null) throw malformed("YAML", `a key at ${where} is empty (null), and sops only supports string keys`);
  if (!yamlLib().isScalar(n)) throw malformed("YAML", `a key at ${where} is a ${yamlLib().isMap(n) ? "map" : yamlLib().isSeq(n) ? "list" : "alias"}, and sops only supports string keys`);
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

function entryFor(container: Branch | Value[], c: Comment): Item | Value {
  return container instanceof Branch ? { comment: c } : c;
}

/** How many entries of `sorted` (by line) have a line ≤ `line` (< with `strict`): binary search. */
function countUpTo(sorted: { line: number }[], line: number, strict: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const l = (sorted[mid] as { line: number }).line;
    if (strict ? l < line : l <= line) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Puts each comment beside the item it belongs to. Every lookup is by index (no scan of all
 * slots per comment) and each container is rebuilt once at the end, so a hostile file with
 * 100,000 comments and items costs about what parsing it does, not their product.
 *
 * A comment goes into a gap between two items of a container: before an item, after one (past
 * the comments already placed there), or at the end of the document; comments in one gap keep
 * the order of their lines.
 */
function placeComments(root: Branch, slots: Slot[], comments: CommentLine[]): void {
  if (comments.length === 0) return;
  // Per line: the slots in insertion order, the first slot at each column, the innermost
  // (greatest column) and outermost (least column) slot, ties going to the first inserted.
  const byLine = new Map<number, { first: Map<number, Slot>; inner: Slot; outer: Slot }>();
  // Per column: the first slot on each line, sorted by line.
  const byCol = new Map<number, { line: number; slot: Slot }[]>();
  for (const sl of slots) {
    const l = byLine.get(sl.line);
    if (!l) byLine.set(sl.line, { first: new Map([[sl.col, sl]]), inner: sl, outer: sl });
    else {
      if (!l.first.has(sl.col)) l.first.set(sl.col, sl);
      if (sl.col > l.inner.col) l.inner = sl;
      if (sl.col < l.outer.col) l.outer = sl;
    }
  }
  for (const l of byLine.values()) {
    for (const [col, sl] of l.first) {
      let list = byCol.get(col);
      if (!list) byCol.set(col, (list = []));
      list.push({ line: sl.line, slot: sl });
    }
  }
  for (const list of byCol.values()) list.sort((a, b) => a.line - b.line);
  const lines = [...byLine.entries()].map(([line, l]) => ({ line, l })).sort((a, b) => a.line - b.line);

  // The planned insertions: container → gap index → entries, in the comments' order.
  const plans = new Map<Branch | Value[], { index: Map<unknown, number>; gaps: Map<number, (Item | Value)[]> }>();
  const place = (container: Branch | Value[], gap: (index: Map<unknown, number>, size: number) => number, entry: Item | Value) => {
    let plan = plans.get(container);
    if (!plan) {
      // An item's position is its first occurrence, as indexOf would find it.
      const arr = container instanceof Branch ? (container.items as unknown[]) : container;
      const index = new Map<unknown, number>();
      arr.forEach((x, i) => {
        if (!index.has(x)) index.set(x, i);
      });
      plans.set(container, (plan = { index, gaps: new Map() }));
    }
    const size = container instanceof Branch ? container.items.length : container.length;
    const g = gap(plan.index, size);
    const list = plan.gaps.get(g);
    if (list) list.push(entry);
    else plan.gaps.set(g, [entry]);
  };
  const before = (sl: Slot, c: Comment) => place(sl.container, (ix) => ix.get(sl.item) ?? 0, entryFor(sl.container, c));
  const after = (sl: Slot, c: Comment) => place(sl.container, (ix) => (ix.get(sl.item) ?? -1) + 1, entryFor(sl.container, c));
  const atEnd = (c: Comment) => place(root, (_ix, size) => size, { comment: c });

  for (const c of comments) {
    const comment = new Comment(c.text, c.trailing);
    if (c.trailing) {
      // A line comment: before the innermost item that starts on its line (sops 3.13 Inline),
      // else the innermost one on the last line before it.
      const onLine = byLine.get(c.line)?.inner ?? lines[countUpTo(lines, c.line, false) - 1]?.l.inner;
      if (onLine) before(onLine, comment);
      else atEnd(comment);
      continue;
    }
    const nextLine = lines[countUpTo(lines, c.line, false)];
    const same = nextLine?.l.first.get(c.col);
    if (same) {
      before(same, comment);
      continue;
    }
    // A foot comment: after the last earlier item at this column, in the innermost such container.
    const atCol = byCol.get(c.col) ?? [];
    const prev = atCol[countUpTo(atCol, c.line, true) - 1]?.slot;
    if (prev) {
      after(prev, comment);
      continue;
    }
    // Odd indentation: attach to what follows, or to the end of the document.
    if (nextLine) before(nextLine.l.outer, comment);
    else atEnd(comment);
  }

  for (const [container, plan] of plans) {
    const arr = container instanceof Branch ? (container.items as unknown[]) : container;
    const out: unknown[] = [];
    for (let i = 0; i <= arr.length; i++) {
      for (const e of plan.gaps.get(i) ?? []) out.push(e);
      if (i < arr.length) out.push(arr[i]);
    }
    // Refilled in place (no spread: a million arguments would overflow the stack).
    arr.length = 0;
    for (const x of out) arr.push(x);
  }
}

/** Parses YAML: the fast block-subset parser when it understands the text, else the full one. */
export function parseYaml(data: Uint8Array, file?: string): Tree {
  const text = decodeUtf8(data, file);
  const fast = parseYamlFast(text, file);
  if (fast) {
    placeComments(fast.root, fast.slots, fast.comments);
    return [fast.root];
  }
  return parseYamlFull(text, file);
}

/** The full parser (the yaml package, resolved the go-yaml way); exported for the equivalence tests. */
export function parseYamlFull(text: string, file?: string): Tree {
  const lc = new (yamlLib().LineCounter)();
  let docs: Document.Parsed[];
  try {
    docs = parseYamlDocuments(text, file, { schema: "failsafe", uniqueKeys: true, merge: false, lineCounter: lc, strict: true, prettyErrors: false });
  } catch (e) {
    if (e instanceof BootMetaError) throw e;
    throw malformed("YAML", (e as Error).message);
  }
  const tree: Tree = [];
  const lines = text.split("\n");
  const ctx: Ctx = { lc, text, lines, slots: [], scalarLines: new Set(), targets: new Map() };
  const lineCount = lines.length;
  docs.forEach((doc, di) => {
    const err = doc.errors[0];
    if (err) {
      const msg = err.message.split("\n")[0] ?? err.message;
      throw malformed("YAML", err.code === "DUPLICATE_KEY" ? `${msg} (duplicate keys are not allowed)` : msg);
    }
    const contents = doc.contents as Node | null;
    ctx.targets = checkYamlShape(doc, file, (why) => malformed("YAML", why));
    ctx.slots = [];
    let root: Branch;
    if (contents === null || (yamlLib().isScalar(contents) && contents.value === null && contents.source === "")) root = new Branch();
    else if (yamlLib().isMap(contents)) root = convert(ctx, doc, contents, "(top level)") as Branch;
    else throw malformed("YAML", `document ${di + 1} is a ${yamlLib().isSeq(contents) ? "list" : "scalar"} at the top level; sops needs a map`);
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
  loadPlain: (data, o) => parseYaml(data, o?.file),
  loadEncrypted(data, o) {
    const tree = parseYaml(data, o?.file);
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
