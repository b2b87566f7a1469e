import { BootMetaError, ExitCode } from "../errors.js";
import { Branch, Comment, type Value } from "./tree.js";

export type PathPart = string | number;

/**
 * Parses sops' index syntax `["a"]["b"][0]` (cmd/sops/main.go:2401-2426): quoted parts are
 * map keys, bare integers are list indices.
 */
export function parseTreePath(text: string): PathPart[] {
  const parts: PathPart[] = [];
  const re = /\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(-?\d+))\s*\]/y;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) {
      throw new BootMetaError("INVALID_TREE_PATH", `cannot parse the path ${JSON.stringify(text)} at character ${i + 1}: expected ["key"] or [index]`, ExitCode.InvalidArgument, {
        suggestions: [`write it like '["database"]["password"]' or '["servers"][0]'`],
      });
    }
    if (m[3] !== undefined) parts.push(Number(m[3]));
    else parts.push((m[1] ?? m[2] ?? "").replace(/\\(.)/g, "$1"));
    i = re.lastIndex;
  }
  if (parts.length === 0) throw new BootMetaError("INVALID_TREE_PATH", "the path is empty: name at least one key", ExitCode.InvalidArgument);
  return parts;
}

/** Parses a dotted key (`database.password`, `servers.0.host`) as boot-meta's config verbs take it. */
export function parseDottedPath(text: string): PathPart[] {
  if (!text || text.split(".").some((p) => p === "")) {
    throw new BootMetaError("INVALID_TREE_PATH", `the key ${JSON.stringify(text)} is not a dotted path like database.password`, ExitCode.InvalidArgument);
  }
  return text.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

export function formatPath(path: readonly PathPart[]): string {
  return path.map((p) => (typeof p === "number" ? `[${p}]` : `[${JSON.stringify(p)}]`)).join("");
}

function notFound(path: readonly PathPart[], at: number): BootMetaError {
  return new BootMetaError("TREE_PATH_NOT_FOUND", `${formatPath(path)} does not exist: nothing at ${formatPath(path.slice(0, at + 1))}`, ExitCode.General, {
    data: { path: formatPath(path) },
  });
}

function listItems(v: Value[]): Value[] {
  return v.filter((x) => !(x instanceof Comment));
}

/** The value at a path, or throws TREE_PATH_NOT_FOUND. */
export function getPath(root: Branch, path: readonly PathPart[]): Value {
  let cur: Value = root;
  path.forEach((p, i) => {
    if (typeof p === "string" && cur instanceof Branch && cur.has(p)) cur = cur.get(p) as Value;
    else if (typeof p === "number" && Array.isArray(cur) && p >= 0 && p < listItems(cur).length) cur = listItems(cur)[p] as Value;
    else throw notFound(path, i);
  });
  return cur;
}

/**
 * Sets the value at a path, creating missing maps; a missing key is appended at the end of
 * its map and an index past the end appends (sops `set`). Returns the new root.
 */
export function setPath(root: Branch, path: readonly PathPart[], value: Value): void {
  let cur: Value = root;
  for (let i = 0; i < path.length; i++) {
    const p = path[i] as PathPart;
    const last = i === path.length - 1;
    if (cur instanceof Branch && typeof p === "string") {
      if (last) cur.set(p, value);
      else {
        let next = cur.get(p);
        if (!(next instanceof Branch) && !Array.isArray(next)) {
          next = typeof path[i + 1] === "number" ? [] : new Branch();
          cur.set(p, next);
        }
        cur = next;
      }
    } else if (Array.isArray(cur) && typeof p === "number") {
      const items = listItems(cur);
      const idx = p < items.length && p >= 0 ? cur.indexOf(items[p] as Value) : -1;
      if (last) {
        if (idx >= 0) cur[idx] = value;
        else cur.push(value);
      } else {
        let next = idx >= 0 ? cur[idx] : undefined;
        if (!(next instanceof Branch) && !Array.isArray(next)) {
          next = typeof path[i + 1] === "number" ? [] : new Branch();
          if (idx >= 0) cur[idx] = next;
          else cur.push(next);
        }
        cur = next as Value;
      }
    } else {
      throw new BootMetaError("TREE_PATH_TYPE", `cannot set ${formatPath(path)}: ${formatPath(path.slice(0, i))} is not a ${typeof p === "number" ? "list" : "map"}`, ExitCode.InvalidArgument);
    }
  }
}

/**
 * Removes the value at a path, with the line comment on its line (`key: v # c`); false when
 * it was not there. Comments on lines of their own stay where they are. A line comment is
 * stored just before its item, so left behind it would be written at the end of the next
 * item's line: the minimal diff of an unset is the removed lines, nothing moved.
 */
export function unsetPath(root: Branch, path: readonly PathPart[]): boolean {
  let parent: Value;
  try {
    parent = path.length === 1 ? root : getPath(root, path.slice(0, -1));
  } catch {
    return false;
  }
  const p = path[path.length - 1] as PathPart;
  if (parent instanceof Branch && typeof p === "string") {
    const at = parent.items.findIndex((it) => "key" in it && it.key === p);
    if (at < 0) return false;
    let from = at;
    while (from > 0 && isLineComment(parent.items[from - 1])) from--;
    parent.items.splice(from, at - from + 1);
    return true;
  }
  if (Array.isArray(parent) && typeof p === "number") {
    const item = listItems(parent)[p];
    if (item === undefined) return false;
    const at = parent.indexOf(item);
    let from = at;
    while (from > 0 && isLineComment(parent[from - 1])) from--;
    parent.splice(from, at - from + 1);
    return true;
  }
  return false;
}

function isLineComment(x: unknown): boolean {
  const c = x instanceof Comment ? x : typeof x === "object" && x !== null && "comment" in x ? (x as { comment: Comment }).comment : undefined;
  return c?.inline === true;
}
