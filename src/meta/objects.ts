import { createHash } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";
import { decodeName, encodeName } from "./names.js";

/**
 * Git's object format where boot-meta meets it directly: tree objects parsed as they come out
 * of `git cat-file --batch` (reader.ts walks trees by id), and a write planned here and
 * handed to one `git fast-import` process, which writes its blobs, trees and commit.
 *
 * Why fast-import (bench/git.bench.mjs, a ~2,000-file meta repo): a commit of 50 files over
 * the repository took 157 ms as loose objects hashed and written in this process and 25 ms
 * through fast-import, which writes a pack when it has many objects. A 1-file commit costs
 * fast-import's process start (19 ms against 8 ms in-process): a few milliseconds on a write
 * that, pushed, takes ~90 ms anyway. `hash-object --stdin-paths` + `mktree` per tree was the
 * slowest at both sizes.
 */

export type ObjectFormat = "sha1" | "sha256";
export type ObjectType = "blob" | "tree" | "commit";

export interface TreeEntry {
  mode: string;
  name: string;
  id: string;
}

const TREE_MODE = "40000";

export function objectId(format: ObjectFormat, type: ObjectType, body: Uint8Array): string {
  return createHash(format).update(`${type} ${body.length}\0`).update(body).digest("hex");
}

/** Parses a raw tree object (`MODE NAME\0<binary id>` entries). Names of any bytes round-trip (names.ts). */
export function parseTree(body: Uint8Array, format: ObjectFormat): TreeEntry[] {
  const idLen = format === "sha1" ? 20 : 32;
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const out: TreeEntry[] = [];
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    const nul = buf.indexOf(0, sp);
    if (sp < 0 || nul < 0 || nul + 1 + idLen > buf.length) throw new BootMetaError("META_GIT_FAILED", "a tree object in the meta repository is malformed", ExitCode.General);
    out.push({ mode: buf.toString("latin1", off, sp), name: decodeName(buf.subarray(sp + 1, nul)), id: buf.toString("hex", nul + 1, nul + 1 + idLen) });
    off = nul + 1 + idLen;
  }
  return out;
}

/** A change to one path: new bytes, or null to remove the file. */
export type Change = Uint8Array | null;

/** A write as fast-import will apply it to the base tree: the paths it removes, then the files it writes. */
export interface ImportPlan {
  removals: string[];
  files: { path: string; mode: string; bytes: Uint8Array }[];
  /** False when the result is the base tree itself (writing the bytes that are already there is not a change). */
  changed: boolean;
}

interface Dir {
  files: Map<string, Change>;
  dirs: Map<string, Dir>;
}

/**
 * Checks `changes` against the tree of `base` and says what fast-import must do. fast-import
 * quietly turns a file into a directory (or back) when a path asks for it, and removes a whole
 * directory for a `D` of its name; git's index refuses both, and so does this, with
 * META_PATH_CONFLICT: a file may replace a directory only that the same change empties, and
 * a directory a file only that the same change removes. Only the trees on the paths that
 * change are read. A rewritten executable stays executable.
 */
export async function planImport(format: ObjectFormat, readTree: (id: string) => Promise<TreeEntry[]>, base: string | undefined, changes: Map<string, Change>): Promise<ImportPlan> {
  const root: Dir = { files: new Map(), dirs: new Map() };
  for (const [path, change] of changes) {
    const parts = path.split("/");
    let d = root;
    for (const p of parts.slice(0, -1)) {
      let next = d.dirs.get(p);
      if (!next) d.dirs.set(p, (next = { files: new Map(), dirs: new Map() }));
      d = next;
    }
    d.files.set(parts.at(-1) as string, change);
  }
  const plan: ImportPlan = { removals: [], files: [], changed: false };
  await walk(format, readTree, base, root, "", plan);
  return plan;
}

/** Plans one directory; returns how many entries it keeps (0: it disappears, as in git). */
async function walk(format: ObjectFormat, readTree: (id: string) => Promise<TreeEntry[]>, base: string | undefined, d: Dir, at: string, plan: ImportPlan): Promise<number> {
  const entries = new Map((base ? await readTree(base) : []).map((e) => [e.name, e]));
  // Directories first: a file removed in the same change may make room for one, and a
  // directory emptied by it may make room for a file.
  for (const [name, sub] of d.dirs) {
    const old = entries.get(name);
    if (old && old.mode !== TREE_MODE && d.files.get(name) !== null) throw pathConflict(`${at}${name}`, "it is a file");
    const kept = await walk(format, readTree, old?.mode === TREE_MODE ? old.id : undefined, sub, `${at}${name}/`, plan);
    if (kept === 0) entries.delete(name);
    else entries.set(name, { mode: TREE_MODE, name, id: "" });
  }
  for (const [name, change] of d.files) {
    const old = entries.get(name);
    if (change === null) {
      // Removing the file that a new directory replaced is already done.
      if (old?.mode === TREE_MODE && !d.dirs.has(name)) throw pathConflict(`${at}${name}`, "it is a directory, not a file");
      if (old && old.mode !== TREE_MODE) {
        entries.delete(name);
        plan.removals.push(`${at}${name}`);
        plan.changed = true;
      }
      continue;
    }
    if (old?.mode === TREE_MODE) throw pathConflict(`${at}${name}`, "it is a directory");
    const mode = old?.mode === "100755" ? old.mode : "100644";
    if (old?.mode !== mode || old.id !== objectId(format, "blob", change)) plan.changed = true;
    plan.files.push({ path: `${at}${name}`, mode, bytes: change });
    entries.set(name, { mode, name, id: "" });
  }
  return entries.size;
}

function pathConflict(path: string, why: string): BootMetaError {
  return new BootMetaError("META_PATH_CONFLICT", `cannot write under ${path}: ${why} in the meta repository`, ExitCode.General, { data: { path } });
}

/**
 * Where fast-import parks the commit while it builds it. The stream resets it to no commit
 * before it ends, so fast-import writes no ref: the commit is known by its id only, until
 * the branch moves to it by compare-and-swap.
 */
const SCRATCH_REF = "refs/boot-meta/import";

/**
 * The `git fast-import` stream that builds `plan` as one commit on `base` and prints the
 * commit's id (`get-mark`) on stdout. `author`/`committer` are full idents with their
 * dates: "Name <email> SECONDS ±HHMM" (fast-import's raw date format). `feature done`: a
 * stream cut short (this process killed) makes fast-import fail rather than build half a
 * commit.
 */
export function importStream(plan: ImportPlan, o: { base: string | undefined; author: string; committer: string; message: string }): Buffer {
  const message = Buffer.from(o.message.endsWith("\n") ? o.message : `${o.message}\n`, "utf8");
  const parts: Uint8Array[] = [Buffer.from(`feature done\ncommit ${SCRATCH_REF}\nmark :1\nauthor ${o.author}\ncommitter ${o.committer}\ndata ${message.length}\n`), message];
  if (o.base) parts.push(Buffer.from(`from ${o.base}\n`));
  for (const path of plan.removals) parts.push(Buffer.from(`D ${quotePath(path)}\n`, "latin1"));
  for (const f of plan.files) parts.push(Buffer.from(`M ${f.mode} inline ${quotePath(f.path)}\ndata ${f.bytes.length}\n`, "latin1"), f.bytes, Buffer.from("\n"));
  parts.push(Buffer.from(`\nget-mark :1\nreset ${SCRATCH_REF}\ndone\n`));
  return Buffer.concat(parts);
}

/**
 * A path in fast-import's C-style quotes, every byte outside printable ASCII as an octal
 * escape: fast-import has no `-z` form, and this is the one in which a name of any bytes
 * (a line break, a quote, bytes that are not UTF-8: names.ts) is read back as itself.
 * Returned as latin1 text, one character per byte.
 */
export function quotePath(path: string): string {
  let out = '"';
  for (const b of encodeName(path)) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b < 0x20 || b >= 0x7f) out += `\\${b.toString(8).padStart(3, "0")}`;
    else out += String.fromCharCode(b);
  }
  return `${out}"`;
}

/** Seconds and the local zone as git writes them ("1764000000 +0100"). */
export function gitTimestamp(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  return `${Math.floor(d.getTime() / 1000)} ${off < 0 ? "-" : "+"}${String(Math.floor(abs / 60)).padStart(2, "0")}${String(abs % 60).padStart(2, "0")}`;
}
