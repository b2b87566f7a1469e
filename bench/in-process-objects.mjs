// The baseline of bench/git.bench.mjs: a commit's objects hashed and written as loose objects
// in this process, as src/meta/objects.ts did until the bench showed one `git fast-import`
// faster once a write touches more than a few files (commit "Build a write's commit with one
// git fast-import"). Kept here, out of src/, so that the bench goes on measuring the road
// not taken. Plain JS; path conflicts are not checked (the bench's writes have none).
import { createHash, randomBytes } from "node:crypto";
import { access, mkdir, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { encodeName } from "../dist/meta/names.js";

const TREE_MODE = "40000";

const objectId = (format, type, body) => createHash(format).update(`${type} ${body.length}\0`).update(body).digest("hex");

/** Git's tree order: by name bytes, a directory compared as if its name ended in "/". */
const sortKey = (e) => encodeName(e.mode === TREE_MODE ? `${e.name}/` : e.name);

function formatTree(entries) {
  const sorted = entries.map((e) => ({ e, k: sortKey(e) })).sort((a, b) => Buffer.compare(a.k, b.k));
  return Buffer.concat(sorted.flatMap(({ e }) => [Buffer.from(`${e.mode} `, "latin1"), encodeName(e.name), Buffer.from([0]), Buffer.from(e.id, "hex")]));
}

/** Writes loose objects into a repository's object store (idempotent: an existing object is kept). */
export class ObjectStore {
  constructor(objectsDir, format) {
    this.dir = objectsDir;
    this.format = format;
  }

  async write(type, body) {
    const id = objectId(this.format, type, body);
    const dir = join(this.dir, id.slice(0, 2));
    const path = join(dir, id.slice(2));
    if (await access(path).then(() => true, () => false)) return id;
    await mkdir(dir, { recursive: true });
    // Written beside, then renamed into place: a reader never sees a partial object.
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

/** The tree of `base` with `changes` (path → bytes, or null to remove) applied, written to `store`; only the trees on changed paths are read and rewritten. */
export async function applyChanges(store, readTree, base, changes) {
  const root = { files: new Map(), dirs: new Map() };
  for (const [path, change] of changes) {
    const parts = path.split("/");
    let d = root;
    for (const p of parts.slice(0, -1)) {
      if (!d.dirs.has(p)) d.dirs.set(p, { files: new Map(), dirs: new Map() });
      d = d.dirs.get(p);
    }
    d.files.set(parts.at(-1), change);
  }
  return build(store, readTree, base, root);
}

async function build(store, readTree, base, d) {
  const entries = new Map((base ? await readTree(base) : []).map((e) => [e.name, e]));
  for (const [name, sub] of d.dirs) {
    const old = entries.get(name);
    const id = await build(store, readTree, old?.mode === TREE_MODE ? old.id : undefined, sub);
    if (id === undefined) entries.delete(name);
    else entries.set(name, { mode: TREE_MODE, name, id });
  }
  for (const [name, change] of d.files) {
    const old = entries.get(name);
    if (change === null) {
      if (old?.mode !== TREE_MODE) entries.delete(name);
      continue;
    }
    entries.set(name, { mode: old?.mode === "100755" ? old.mode : "100644", name, id: await store.write("blob", change) });
  }
  if (entries.size === 0) return undefined;
  return store.write("tree", formatTree([...entries.values()]));
}

/** A commit object's text. `author`/`committer` are full idents: "Name <email> SECONDS ±HHMM". */
export function formatCommit(o) {
  const message = o.message.endsWith("\n") ? o.message : `${o.message}\n`;
  return Buffer.from(`tree ${o.tree}\n${o.parents.map((p) => `parent ${p}\n`).join("")}author ${o.author}\ncommitter ${o.committer}\n\n${message}`, "utf8");
}
