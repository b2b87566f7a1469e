import { type CatFile, Git } from "./git.js";
import { type ObjectFormat, parseTree } from "./objects.js";

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

/**
 * The files of `commit` (none when undefined) through an open `git cat-file --batch`: each
 * read or listing asks for the few tree and blob objects on its path. Shared by reads at a
 * commit (withReader) and by a write's view of its base commit (store.ts).
 */
export function readerOver(cat: CatFile, format: ObjectFormat, commit: string | undefined): Reader {
  const tree = async (spec: string) => {
    const o = await cat.object(spec);
    return o?.type === "tree" ? parseTree(o.body, format) : [];
  };
  const treeOf = (dir: string) => {
    const d = dir.replace(/\/$/, "");
    return commit ? tree(d === "" ? `${commit}^{tree}` : `${commit}:${d}`) : Promise.resolve([]);
  };
  return {
    read: async (p) => (commit ? cat.read(`${commit}:${p}`) : undefined),
    async children(dir) {
      return (await treeOf(dir)).map((e) => ({ name: e.name, dir: e.mode === "40000" })).sort(byName);
    },
    async list(dir) {
      const out: string[] = [];
      const walk = async (at: string, entries: Awaited<ReturnType<typeof tree>>): Promise<void> => {
        const subdirs = entries.filter((e) => e.mode === "40000");
        for (const e of entries) if (e.mode !== "40000") out.push(at === "" ? e.name : `${at}/${e.name}`);
        // Pipelined: every subtree of this level is asked for at once.
        const trees = await Promise.all(subdirs.map((e) => tree(e.id)));
        for (const [i, e] of subdirs.entries()) await walk(at === "" ? e.name : `${at}/${e.name}`, trees[i] ?? []);
      };
      await walk(dir.replace(/\/$/, ""), await treeOf(dir));
      return out.sort();
    },
  };
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
