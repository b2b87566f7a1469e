import { BootMetaError, ExitCode } from "../errors.js";
import { type CatFile, Git } from "./git.js";
import { type ObjectFormat, parseTree, type TreeEntry } from "./objects.js";

/** What a read sees at one commit; a write's Tx has the same shape. */
export interface Reader {
  read(path: string): Promise<Uint8Array | undefined>;
  /** What is directly in `dir`: names, and whether each is a directory (sorted by name). */
  children(dir: string): Promise<{ name: string; dir: boolean }[]>;
  /** Every file under `dir`, recursively ("" for the whole tree), sorted. */
  list(dir: string): Promise<string[]>;
}

export interface CommitReader extends Reader {
  /** The commit read from. */
  readonly commit: string;
  readonly git: Git;
  /** Several files at once (pipelined on the same reader); a missing one maps to undefined. */
  readMany(paths: string[]): Promise<Map<string, Uint8Array | undefined>>;
}

/** Sorts entries by name, as `children` returns them. */
export const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** A reader that also answers what a path is (a write's dirty check needs the committed object). */
export interface TreeReader extends Reader {
  /** The tree entry at `path` (the root when ""), or undefined when there is none. */
  entry(path: string): Promise<TreeEntry | undefined>;
}

/** Parsed trees by object id: shareable between readers of one repository (trees never change). */
export type TreeCache = Map<string, Promise<Map<string, TreeEntry>>>;

const TREE = "40000";
/** Submodule entries name a commit of another repository: neither a file nor a directory here. */
const GITLINK = "160000";

/**
 * The files of `commit` (or of a root tree given as `{ tree }`; none when undefined) through an open `git cat-file --batch`. Paths
 * are resolved here, walking the trees from the commit's root by object id, so only ids cross
 * git's line protocol and a name of any bytes (a newline, a CR, bytes that are not UTF-8) is
 * read as itself and never as another path. Trees are immutable, so each is fetched once per
 * reader. Shared by reads at a commit (withReader) and by a write's view of its base commit
 * (store.ts).
 */
export function readerOver(cat: CatFile, format: ObjectFormat, commit: string | { tree: string } | undefined, trees: TreeCache = new Map()): TreeReader {
  const tree = (id: string) => {
    let t = trees.get(id);
    if (!t) {
      t = cat.object(id).then((o) => {
        if (o?.type !== "tree") throw missingObject(id);
        const entries = new Map<string, TreeEntry>();
        for (const e of parseTree(o.body, format)) {
          // Entries git itself never checks out (fsck: an empty name, a full path, . or ..):
          // no path can name them, so no reader sees them — and none stops a listing.
          if (e.name === "" || e.name === "." || e.name === ".." || e.name.includes("/")) continue;
          entries.set(e.name, e);
        }
        return entries;
      });
      trees.set(id, t);
    }
    return t;
  };
  let root: Promise<TreeEntry | undefined> | undefined;
  const rootEntry = () =>
    (root ??= typeof commit === "object"
      ? Promise.resolve({ mode: TREE, name: "", id: commit.tree })
      : commit
      ? cat.object(commit).then((o) => {
          const id = o?.type === "commit" ? /^tree ([0-9a-f]+)/.exec(Buffer.from(o.body).toString("latin1"))?.[1] : undefined;
          if (!id) throw missingObject(commit);
          return { mode: TREE, name: "", id };
        })
      : Promise.resolve(undefined));
  const entry = async (path: string): Promise<TreeEntry | undefined> => {
    const p = path.replace(/\/$/, "");
    let e = await rootEntry();
    for (const name of p === "" ? [] : p.split("/")) {
      if (e?.mode !== TREE) return undefined;
      e = (await tree(e.id)).get(name);
    }
    return e;
  };
  const entriesOf = async (dir: string) => {
    const d = dir.replace(/\/$/, "");
    const e = await entry(d);
    return e?.mode === TREE ? [...(await tree(e.id)).values()] : [];
  };
  return {
    entry,
    async read(p) {
      const e = await entry(p);
      if (!e || e.mode === TREE || e.mode === GITLINK) return undefined;
      const o = await cat.object(e.id);
      return o?.type === "blob" ? o.body : undefined;
    },
    async children(dir) {
      return (await entriesOf(dir)).filter((e) => e.mode !== GITLINK).map((e) => ({ name: e.name, dir: e.mode === TREE })).sort(byName);
    },
    async list(dir) {
      const out: string[] = [];
      const walk = async (at: string, entries: TreeEntry[]): Promise<void> => {
        const subdirs = entries.filter((e) => e.mode === TREE);
        for (const e of entries) if (e.mode !== TREE && e.mode !== GITLINK) out.push(at === "" ? e.name : `${at}/${e.name}`);
        // Pipelined: every subtree of this level is asked for at once.
        const subtrees = await Promise.all(subdirs.map((e) => tree(e.id)));
        for (const [i, e] of subdirs.entries()) await walk(at === "" ? e.name : `${at}/${e.name}`, [...(subtrees[i] ?? new Map()).values()]);
      };
      const d = dir.replace(/\/$/, "");
      await walk(d, await entriesOf(d));
      return out.sort();
    },
  };
}

function missingObject(id: string): BootMetaError {
  return new BootMetaError("META_GIT_FAILED", `object ${id} is missing from the meta repository`, ExitCode.General, { suggestions: ["run `git fsck` in the meta repo"] });
}

/**
 * Runs `fn` with a reader of the committed state at HEAD (or a given commit): one
 * `git cat-file --batch` for every read, closed when `fn` is done. A lookup reads the few
 * tree and blob objects on its path, never the whole repository.
 */
export async function withReader<T>(repoDir: string, at: string | undefined, fn: (r: CommitReader) => Promise<T>): Promise<T> {
  const git = await Git.at(repoDir);
  const commit = await git.resolve(at ?? "HEAD");
  const cat = git.catFile();
  try {
    const r = readerOver(cat, commit.length === 64 ? "sha256" : "sha1", commit);
    return await fn({
      ...r,
      commit,
      git,
      async readMany(paths) {
        const bodies = await Promise.all(paths.map(r.read));
        return new Map(paths.map((p, i) => [p, bodies[i]]));
      },
    });
  } finally {
    cat.close();
  }
}
