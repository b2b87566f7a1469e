import { createHash, randomBytes } from "node:crypto";
import { access, mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { BootMetaError, ExitCode } from "../errors.js";
import { decodeName, encodeName } from "./names.js";

/**
 * Git objects built in this process: a write's blobs, trees and commit are hashed and stored
 * as loose objects here instead of through five git processes (`hash-object`, `read-tree`,
 * `update-index`, `write-tree`, `commit-tree`). A commit is the hot path of every writer, and
 * on a busy remote the time between reading the remote state and pushing is the window in
 * which another writer can win the race; this keeps that window short.
 *
 * The object format is git's own (sha1 or sha256 repositories); git reads what is written
 * here like anything it wrote itself (`git fsck` in the tests proves it).
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

/** Git's tree order: by name bytes, a directory compared as if its name ended in "/". */
function sortKey(e: TreeEntry): Buffer {
  return encodeName(e.mode === TREE_MODE ? `${e.name}/` : e.name);
}

export function formatTree(entries: TreeEntry[]): Buffer {
  const sorted = entries.map((e) => ({ e, k: sortKey(e) })).sort((a, b) => Buffer.compare(a.k, b.k));
  return Buffer.concat(sorted.flatMap(({ e }) => [Buffer.from(`${e.mode} `, "latin1"), encodeName(e.name), Buffer.from([0]), Buffer.from(e.id, "hex")]));
}

/** Writes loose objects into a repository's object store (idempotent: an existing object is kept). */
export class ObjectStore {
  readonly format: ObjectFormat;
  private readonly dir: string;
  constructor(objectsDir: string, format: ObjectFormat) {
    this.dir = objectsDir;
    this.format = format;
  }

  async write(type: ObjectType, body: Uint8Array): Promise<string> {
    const id = objectId(this.format, type, body);
    const dir = join(this.dir, id.slice(0, 2));
    const path = join(dir, id.slice(2));
    if (await access(path).then(() => true, () => false)) return id;
    await mkdir(dir, { recursive: true });
    // Written beside, then renamed into place: a reader (or a writer killed half-way) never
    // sees a partial object.
    const tmp = join(dir, `tmp_obj_${randomBytes(6).toString("hex")}`);
    try {
      await writeFile(tmp, deflateSync(Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]), { level: 1 }), { mode: 0o444 });
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
    return id;
  }
}

/** A change to one path: new bytes, or null to remove the file. */
export type Change = Uint8Array | null;

interface Dir {
  files: Map<string, Change>;
  dirs: Map<string, Dir>;
}

/**
 * The tree of `base` with `changes` applied, written to `store`: only the trees on the paths
 * that changed are read and rewritten. Returns undefined for an empty tree. Directories left
 * empty by removals disappear, as in git.
 */
export async function applyChanges(store: ObjectStore, readTree: (id: string) => Promise<TreeEntry[]>, base: string | undefined, changes: Map<string, Change>): Promise<string | undefined> {
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
  return build(store, readTree, base, root, "");
}

async function build(store: ObjectStore, readTree: (id: string) => Promise<TreeEntry[]>, base: string | undefined, d: Dir, at: string): Promise<string | undefined> {
  const entries = new Map((base ? await readTree(base) : []).map((e) => [e.name, e]));
  // Directories first: a file removed in the same change may make room for one, and a
  // directory emptied by it may make room for a file.
  for (const [name, sub] of d.dirs) {
    const old = entries.get(name);
    if (old && old.mode !== TREE_MODE && d.files.get(name) !== null) throw pathConflict(`${at}${name}`, "it is a file");
    const id = await build(store, readTree, old?.mode === TREE_MODE ? old.id : undefined, sub, `${at}${name}/`);
    if (id === undefined) entries.delete(name);
    else entries.set(name, { mode: TREE_MODE, name, id });
  }
  for (const [name, change] of d.files) {
    const old = entries.get(name);
    if (change === null) {
      // Removing the file that a new directory replaced is already done.
      if (old?.mode === TREE_MODE && !d.dirs.has(name)) throw pathConflict(`${at}${name}`, "it is a directory, not a file");
      if (old?.mode !== TREE_MODE) entries.delete(name);
      continue;
    }
    if (old?.mode === TREE_MODE) throw pathConflict(`${at}${name}`, "it is a directory");
    entries.set(name, { mode: old?.mode === "100755" ? old.mode : "100644", name, id: await store.write("blob", change) });
  }
  if (entries.size === 0) return undefined;
  return store.write("tree", formatTree([...entries.values()]));
}

function pathConflict(path: string, why: string): BootMetaError {
  return new BootMetaError("META_PATH_CONFLICT", `cannot write under ${path}: ${why} in the meta repository`, ExitCode.General, { data: { path } });
}

/** A commit object's text. `author`/`committer` are full idents: "Name <email> SECONDS ±HHMM". */
export function formatCommit(o: { tree: string; parents: string[]; author: string; committer: string; message: string }): Buffer {
  const message = o.message.endsWith("\n") ? o.message : `${o.message}\n`;
  return Buffer.from(`tree ${o.tree}\n${o.parents.map((p) => `parent ${p}\n`).join("")}author ${o.author}\ncommitter ${o.committer}\n\n${message}`, "utf8");
}

/** Seconds and the local zone as git writes them ("1764000000 +0100"). */
export function gitTimestamp(d = new Date()): string {
  const off = -d.getTimezoneOffset();
  const abs = Math.abs(off);
  return `${Math.floor(d.getTime() / 1000)} ${off < 0 ? "-" : "+"}${String(Math.floor(abs / 60)).padStart(2, "0")}${String(abs % 60).padStart(2, "0")}`;
}
