import { limitExceeded, limits, tooDeep } from "../../limits.js";
import { Branch, type Item, type Value } from "../tree.js";
import { malformed } from "./errors.js";
import { resolvePlain } from "./go-yaml-scalars.js";

/**
 * A fast parser for the block-YAML subset that sops writes and most config files use:
 * block maps and lists, plain and single-line quoted scalars, literal blocks, `{}`/`[]`,
 * comments. Anything else (flow collections, anchors, tags, folded or multi-line scalars,
 * several documents, tabs) makes it give up — `undefined` — and the full parser takes over,
 * so its answers are the full parser's, only sooner (test/sops/yaml-fast.test.ts). It never
 * sees an alias, and it refuses past the depth and node limits as the full parser does.
 */

export interface FastSlot {
  line: number;
  col: number;
  container: Branch | Value[];
  item: Item | Value;
}
export interface FastComment {
  line: number;
  col: number;
  text: string;
  trailing: boolean;
}
export interface FastResult {
  root: Branch;
  slots: FastSlot[];
  comments: FastComment[];
}

class GiveUp extends Error {}
const giveUp = (): never => {
  throw new GiveUp();
};

const DQ_ESCAPES: Record<string, string> = { "0": "\0", a: "\x07", b: "\b", t: "\t", "\t": "\t", n: "\n", v: "\v", f: "\f", r: "\r", e: "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", N: "\u0085", _: "\u00a0", L: "\u2028", P: "\u2029" };

export function parseYamlFast(text: string, file?: string): FastResult | undefined {
  if (text.includes("\r") || text.includes("\t")) return undefined;
  const { maxDepth, maxNodes } = limits();
  let depth = 0; // maps and lists open around the current line
  let nodes = 0;
  const enter = () => {
    if (++depth > maxDepth) throw tooDeep(file);
  };
  const count = () => {
    if (++nodes > maxNodes) throw limitExceeded("maxNodes", file, `has more than ${maxNodes} values`);
  };
  const lines = text.split("\n");
  // The empty string after the final newline is not a line.
  if (lines[lines.length - 1] === "") lines.pop();
  else if (text !== "") return undefined; // no final newline: leave block-scalar endings to the full parser
  const slots: FastSlot[] = [];
  const comments: FastComment[] = [];
  let i = 0; // current line

  const indentOf = (l: string) => l.length - l.trimStart().length;
  /** Skips blank and comment lines (recording comments); returns the next content line index or -1. */
  const next = (): number => {
    while (i < lines.length) {
      const l = lines[i] as string;
      const t = l.trimStart();
      if (t === "") {
        i++;
        continue;
      }
      if (t.startsWith("#")) {
        comments.push({ line: i, col: indentOf(l), text: t.slice(1), trailing: false });
        i++;
        continue;
      }
      if (/^(---|\.\.\.)(\s|$)/.test(l) || t.startsWith("%")) giveUp();
      return i;
    }
    return -1;
  };

  /** Splits the rest of a line into its value text and a trailing comment. */
  const trailing = (line: number, start: number, rest: string): string => {
    const m = /(^|\s)#/.exec(rest);
    if (!m) return rest.trimEnd();
    const at = m.index + m[1]!.length;
    comments.push({ line, col: start + at, text: rest.slice(at + 1), trailing: true });
    return rest.slice(0, at).trimEnd();
  };

  const doubleQuoted = (s: string): { value: string; end: number } => {
    let out = "";
    for (let k = 1; k < s.length; k++) {
      const c = s[k] as string;
      if (c === '"') return { value: out, end: k + 1 };
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = s[++k];
      if (e === undefined) giveUp();
      const simple = DQ_ESCAPES[e as string];
      if (simple !== undefined) out += simple;
      else if (e === "x" || e === "u" || e === "U") {
        const n = e === "x" ? 2 : e === "u" ? 4 : 8;
        const hex = s.slice(k + 1, k + 1 + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) giveUp();
        out += String.fromCodePoint(Number.parseInt(hex, 16));
        k += n;
      } else giveUp();
    }
    return giveUp();
  };

  const singleQuoted = (s: string): { value: string; end: number } => {
    let out = "";
    for (let k = 1; k < s.length; k++) {
      const c = s[k] as string;
      if (c === "'") {
        if (s[k + 1] === "'") {
          out += "'";
          k++;
          continue;
        }
        return { value: out, end: k + 1 };
      }
      out += c;
    }
    return giveUp();
  };

  /** A scalar or `{}`/`[]` or a literal block, starting at column `col` of line `line`, owned by a node at `ownerIndent`. */
  const inlineValue = (line: number, col: number, rest: string, ownerIndent: number): Value => {
    const c = rest[0];
    if (c === '"' || c === "'") {
      const q = c === '"' ? doubleQuoted(rest) : singleQuoted(rest);
      if (trailing(line, col + q.end, rest.slice(q.end)) !== "") giveUp();
      return q.value;
    }
    if (c === "|") {
      const m = /^\|([-+]?)(\s+#.*)?\s*$/.exec(rest);
      if (!m) giveUp();
      return literal(m?.[1] ?? "", ownerIndent);
    }
    const v = trailing(line, col, rest);
    if ((v === "{}" || v === "[]") && depth + 1 > maxDepth) throw tooDeep(file);
    if (v === "{}") return new Branch();
    if (v === "[]") return [];
    if (v === "" || /^[[\]{}&*!|>%@`?]/.test(v) || v.includes(": ") || v.endsWith(":") || /^-( |$)/.test(v)) giveUp();
    if (v.startsWith("'") || v.startsWith('"')) giveUp();
    const r = resolvePlain(v);
    return r.kind === "null" ? null : r.kind === "str" ? v : r.value;
  };

  const literal = (chomp: string, ownerIndent: number): Value => {
    i++;
    const body: string[] = [];
    let blockIndent = -1;
    while (i < lines.length) {
      const l = lines[i] as string;
      if (l.trim() === "") {
        body.push("");
        i++;
        continue;
      }
      const ind = indentOf(l);
      if (ind <= ownerIndent) break;
      if (blockIndent < 0) blockIndent = ind;
      if (ind < blockIndent) giveUp();
      body.push(l.slice(blockIndent));
      i++;
    }
    if (blockIndent < 0) giveUp();
    // Trailing blank lines belong to the chomping, not the content.
    let end = body.length;
    while (end > 0 && body[end - 1] === "") end--;
    const content = body.slice(0, end).join("\n");
    const blanks = body.length - end;
    if (chomp === "-") return content;
    if (chomp === "+") return `${content}\n${"\n".repeat(blanks)}`;
    return `${content}\n`;
  };

  const keyAt = (line: number, col: number, s: string): { key: string; rest: string; restCol: number } | undefined => {
    let key: string;
    let after: number;
    if (s[0] === '"' || s[0] === "'") {
      const q = s[0] === '"' ? doubleQuoted(s) : singleQuoted(s);
      key = q.value;
      after = q.end;
      if (s[after] !== ":") return undefined;
    } else {
      const m = /^([^\s#'"[\]{},&*!|>%@`?:-][^\s:]*(?: [^\s:#]+)*|-[^\s:][^\s:]*(?: [^\s:#]+)*):(?= |$)/.exec(s);
      if (!m) return undefined;
      key = m[1] as string;
      after = key.length;
      const r = resolvePlain(key);
      if (r.kind !== "str") throw malformed("YAML", `the key ${JSON.stringify(key)} at line ${line + 1} is not a string (it reads as ${r.kind}); quote it`);
    }
    const rest = s.slice(after + 1).trimStart();
    return { key, rest, restCol: col + s.length - rest.length };
  };

  /** The block value under a key or dash owned at `ownerIndent`; a key's list may sit at the key's own indent. */
  const childOf = (ownerIndent: number, allowSeqAtSameIndent = true): Value => {
    const n = next();
    if (n < 0) return null;
    const l = lines[n] as string;
    const ind = indentOf(l);
    if (ind > ownerIndent) return block(ind);
    if (allowSeqAtSameIndent && ind === ownerIndent && /^-( |$)/.test(l.slice(ind))) return seq(ind);
    return null;
  };

  const map = (indent: number, first?: { line: number; col: number; text: string }): Branch => {
    enter();
    const b = new Branch();
    const seen = new Set<string>();
    const entry = (line: number, col: number, s: string) => {
      const k = keyAt(line, col, s);
      if (!k) giveUp();
      const { key, rest, restCol } = k as NonNullable<typeof k>;
      if (seen.has(key)) throw malformed("YAML", `map keys must be unique: ${JSON.stringify(key)} appears twice (duplicate keys are not allowed)`);
      seen.add(key);
      count();
      const item: Item = { key, value: null };
      b.items.push(item);
      slots.push({ line, col, container: b, item });
      let value: Value;
      if (rest === "" || rest.startsWith("#")) {
        trailing(line, restCol, rest);
        i = line + 1;
        value = childOf(col);
      } else {
        value = inlineValue(line, restCol, rest, col);
        if (!rest.startsWith("|")) i = line + 1;
      }
      item.value = value;
    };
    if (first) entry(first.line, first.col, first.text);
    for (;;) {
      const n = next();
      if (n < 0) break;
      const l = lines[n] as string;
      const ind = indentOf(l);
      if (ind < indent) break;
      if (ind > indent) giveUp();
      if (/^-( |$)/.test(l.slice(ind))) break;
      entry(n, ind, l.slice(ind));
    }
    depth--;
    return b;
  };

  const seq = (indent: number): Value[] => {
    enter();
    const list: Value[] = [];
    for (;;) {
      const n = next();
      if (n < 0) break;
      const l = lines[n] as string;
      const ind = indentOf(l);
      if (ind < indent) break;
      if (ind > indent) giveUp();
      const after = l.slice(ind);
      if (!/^-( |$)/.test(after)) break;
      const rest = after.slice(1).trimStart();
      const restCol = l.length - rest.length;
      let v: Value;
      if (rest === "" || rest.startsWith("#")) {
        trailing(n, restCol, rest);
        i = n + 1;
        v = childOf(ind, false);
      } else if (rest.startsWith("- ")) {
        return giveUp();
      } else if (keyAt(n, restCol, rest)) {
        v = map(restCol, { line: n, col: restCol, text: rest });
      } else {
        v = inlineValue(n, restCol, rest, ind);
        if (!rest.startsWith("|")) i = n + 1;
      }
      count();
      list.push(v);
      slots.push({ line: n, col: ind, container: list, item: v });
    }
    depth--;
    return list;
  };

  const block = (indent: number): Value => {
    const n = next();
    const l = lines[n] as string;
    return /^-( |$)/.test(l.slice(indent)) ? seq(indent) : map(indent);
  };

  try {
    const n = next();
    if (n < 0) return undefined; // empty or comments only: leave the subtle cases to the full parser
    const l = lines[n] as string;
    if (indentOf(l) !== 0 || /^-( |$)/.test(l)) return undefined;
    const root = map(0);
    if (next() >= 0) return undefined; // something we did not understand is left
    return { root, slots, comments };
  } catch (e) {
    if (e instanceof GiveUp) return undefined;
    throw e;
  }
}
