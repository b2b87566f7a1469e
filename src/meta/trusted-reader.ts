import { byName, type Reader } from "./reader.js";
import type { Taint } from "./verify.js";

/**
 * A reader that sees what allowed signers wrote (DESIGN.md "Signing keys for commits"): each
 * tainted path (verify.ts trustedView) is read at its last trusted version, or is absent when it
 * had none, in `read`, `children` and `list` alike. `blob` reads a trusted version by its id.
 */
export function trustedReader<R extends Reader>(r: R, tainted: ReadonlyMap<string, Taint>, blob: (id: string) => Promise<Uint8Array | undefined>): R {
  if (tainted.size === 0) return r;
  const under = (dir: string) => {
    const d = dir.replace(/\/$/, "");
    return [...tainted].filter(([p]) => d === "" || p.startsWith(`${d}/`));
  };
  return {
    ...r,
    read: async (path: string) => {
      const t = tainted.get(path);
      if (!t) return r.read(path);
      return t.trusted === undefined ? undefined : blob(t.trusted);
    },
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
}
