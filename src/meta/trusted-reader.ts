import { Git } from "./git.js";
import type { TreeEntry } from "./objects.js";
import { byName, type Reader } from "./reader.js";
import type { Taint, TrustedView } from "./verify.js";

/**
 * The trusted view of `repoDir` at `head` (verify.ts trustedView: signed history from the trust
 * root `root`) and `r` — a reader of that commit — read through it ({@link trustedReader}): what
 * anything that acts on records under a trust root reads them with. The view is returned too,
 * for callers that warn about the paths it set aside. Trusted versions are read through `r`'s own
 * git when it has one (a commit reader of a clone opened apart from git's location variables).
 */
export async function readTrusted<R extends Reader & { git?: unknown }>(r: R, repoDir: string, root: string, head: string, o: { onTainted?: (path: string, t: Taint) => void } = {}): Promise<{ view: TrustedView; reader: R }> {
  const { trustedView } = await import("./verify.js");
  const git = r.git instanceof Git ? r.git : await Git.at(repoDir);
  const view = await trustedView(repoDir, { root, head });
  return { view, reader: trustedReader(r, view.tainted, async (id) => (await git.readBlobs([id]))[0], o) };
}

/**
 * A reader that sees what allowed signers wrote (DESIGN.md "Signing keys for commits"): each
 * tainted path (verify.ts trustedView) is read at its last trusted version, or is absent when it
 * had none — in `read`, `children`, `list`, and `entry`/`readMany` when the reader has them, so
 * no way of reading goes round it. `blob` reads a trusted version by its id; `onTainted` hears
 * each tainted path that is read (to warn about it).
 */
export function trustedReader<R extends Reader>(r: R, tainted: ReadonlyMap<string, Taint>, blob: (id: string) => Promise<Uint8Array | undefined>, o: { onTainted?: (path: string, t: Taint) => void } = {}): R {
  if (tainted.size === 0) return r;
  const under = (dir: string) => {
    const d = dir.replace(/\/$/, "");
    return [...tainted].filter(([p]) => d === "" || p.startsWith(`${d}/`));
  };
  const read = async (path: string): Promise<Uint8Array | undefined> => {
    const t = tainted.get(path);
    if (!t) return r.read(path);
    o.onTainted?.(path, t);
    return t.trusted === undefined ? undefined : blob(t.trusted);
  };
  const out: Reader & { entry?: unknown; readMany?: unknown } = {
    ...r,
    read,
    children: async (dir: string) => {
      const d = dir.replace(/\/$/, "");
      const names = new Map((await r.children(dir)).map((c) => [c.name, c]));
      for (const [p, t] of under(d)) {
        const rest = d === "" ? p : p.slice(d.length + 1);
        if (rest.includes("/")) continue;
        if (t.trusted === undefined) names.delete(rest);
        else names.set(rest, { name: rest, dir: false });
      }
      return [...names.values()].sort(byName);
    },
    list: async (dir: string) => {
      const files = new Set(await r.list(dir));
      for (const [p, t] of under(dir)) {
        if (t.trusted === undefined) files.delete(p);
        else files.add(p);
      }
      return [...files].sort();
    },
  };
  const inner = r as Reader & { entry?: (path: string) => Promise<TreeEntry | undefined>; readMany?: unknown };
  if (typeof inner.entry === "function") {
    const entry = inner.entry.bind(r);
    out.entry = async (path: string): Promise<TreeEntry | undefined> => {
      const t = tainted.get(path);
      if (!t) return entry(path);
      return t.trusted === undefined ? undefined : { mode: "100644", name: path.split("/").pop() as string, id: t.trusted };
    };
  }
  if (inner.readMany !== undefined) {
    out.readMany = async (paths: string[]) => {
      const bodies = await Promise.all(paths.map((p) => read(p)));
      return new Map(paths.map((p, i) => [p, bodies[i]]));
    };
  }
  return out as unknown as R;
}
