import { Git } from "./git.js";
import { parseTree } from "./objects.js";

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

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Runs `fn` with a reader of the committed state at HEAD (or a given commit): one
 * `git cat-file --batch` for every read, closed when `fn` is done. A lookup reads the few
 * tree and blob objects on its path, never the whole repository.
 */
export async function withReader<T>(repoDir: string, at: string | undefined, fn: (r: CommitReader) => Promise<T>): Promise<T> {
  const git = await Git.at(repoDir);
  const commit = await git.resolve(at ?? "HEAD");
  const format = commit.length === 64 ? "sha256" : "sha1";
  const cat = git.catFile();
  const tree = async (spec: string) => {
    const o = await cat.object(spec);
    return o?.type === "tree" ? parseTree(o.body, format) : [];
  };
  const dirSpec = (dir: string) => {
    const d = dir.replace(/\/$/, "");
    return { d, spec: d === "" ? `${commit}^{tree}` : `${commit}:${d}` };
  };
  try {
    const read = (p: string) => cat.read(`${commit}:${p}`);
    return await fn({
      commit,
      git,
      read,
      async readMany(paths) {
        const bodies = await Promise.all(paths.map(read));
        return new Map(paths.map((p, i) => [p, bodies[i]]));
      },
      async children(dir) {
        return (await tree(dirSpec(dir).spec)).map((e) => ({ name: e.name, dir: e.mode === "40000" })).sort(byName);
      },
      async list(dir) {
        const { d, spec } = dirSpec(dir);
        const out: string[] = [];
        const walk = async (at: string, entries: Awaited<ReturnType<typeof tree>>): Promise<void> => {
          const subdirs = entries.filter((e) => e.mode === "40000");
          for (const e of entries) if (e.mode !== "40000") out.push(at === "" ? e.name : `${at}/${e.name}`);
          // Pipelined: every subtree of this level is asked for at once.
          const trees = await Promise.all(subdirs.map((e) => tree(e.id)));
          for (const [i, e] of subdirs.entries()) await walk(at === "" ? e.name : `${at}/${e.name}`, trees[i] ?? []);
        };
        await walk(d, await tree(spec));
        return out.sort();
      },
    });
  } finally {
    cat.close();
  }
}
