import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { bindingMismatch, openedBinding, withoutBinding } from "../meta/binding.js";
import { layersFor, validateName } from "../meta/layout.js";
import { principalsOf } from "../meta/model.js";
import { withReader } from "../meta/reader.js";
import { readState } from "../meta/state.js";
import { openBytes } from "../sops/engine.js";
import type { IdentitySet } from "../sops/identities.js";
import { Branch, toPlain } from "../sops/tree.js";
import { compareConfigs } from "./diff.js";
import { getDotted, mergeLayers, type Plain } from "./merge.js";

/** One layer of one env as this reader saw it. */
export interface DiffLayer {
  env: string;
  name: "defaults" | "env" | "developer";
  path: string;
  found: boolean;
  /** Decrypted with the reader's identities; false when none of them opens it (its keys are then not compared). */
  readable: boolean;
  /** Who the file is encrypted to, when the reader cannot open it. */
  readers?: string[];
}

/** A key's value in one env: the layer it came from, its type, and (only when asked) the value itself. */
export interface DiffSide {
  env: string;
  layer: string;
  path: string;
  type: "string" | "int" | "float" | "bool" | "null" | "list" | "map";
  /** Only with `values: true`: config values may be secrets. */
  value?: unknown;
  /** Characters of a string, items of a list: what a masked value still says. */
  size?: number;
}

export interface DiffKey {
  key: string;
  /** `differs`: in both envs, not equal; `only`: in one env (the one in `sides`). */
  status: "differs" | "only";
  sides: DiffSide[];
}

export interface EnvDiff {
  project: string;
  commit: string;
  envs: [string, string];
  values: boolean;
  layers: DiffLayer[];
  /** Every layer that exists was read: the comparison is the whole of both configs. */
  complete: boolean;
  /** Keys in both envs with equal values. */
  same: number;
  keys: DiffKey[];
}

const typeOfPlain = (v: unknown): DiffSide["type"] =>
  v === null ? "null" : Array.isArray(v) ? "list" : typeof v === "object" ? "map" : typeof v === "boolean" ? "bool" : typeof v === "number" ? (Number.isInteger(v) ? "int" : "float") : "string";

/**
 * `boot-meta config diff -p P A B`: how the merged configs of two envs of a project differ at
 * one commit, as far as the reader may see. Each layer is opened with the reader's identities
 * (its MAC and path binding checked, as the loader does); one they do not open is listed as
 * unreadable, with who may read it, and left out of the comparison instead of failing it.
 * Values are in the result only with `values: true`. Throws `CONFIG_DIFF_SAME_ENV`,
 * `CONFIG_NOT_FOUND` for an env with no config, `META_BINDING_MISMATCH` for a copied layer.
 */
export async function diffEnvs(repoDir: string, o: { project: string; envs: [string, string]; identities: IdentitySet; at?: string; values?: boolean }): Promise<EnvDiff> {
  const project = validateName("project", o.project);
  const [a, b] = o.envs.map((e) => validateName("env", e)) as [string, string];
  if (a === b) {
    throw new BootMetaError("CONFIG_DIFF_SAME_ENV", `config diff compares two envs, and was given ${a} twice`, ExitCode.InvalidArgument, {
      data: { env: a },
      suggestions: [`name two envs of ${project}: \`boot-meta config diff -p ${project} stage prod\``],
    });
  }
  return withReader(repoDir, o.at, async (r) => {
    const layers: DiffLayer[] = [];
    const merged = new Map<string, { value: Plain; origins: Record<string, string>; paths: Map<string, string> }>();
    let state: Awaited<ReturnType<typeof readState>> | undefined;
    for (const env of [a, b]) {
      const specs = layersFor(project, env);
      const values: { name: string; value: Plain }[] = [];
      for (const l of specs) {
        const bytes = await r.read(l.path);
        const seen: DiffLayer = { env, ...l, found: bytes !== undefined, readable: bytes !== undefined };
        layers.push(seen);
        if (!bytes) continue;
        try {
          const f = await openBytes(bytes, { format: "yaml", identities: o.identities, path: l.path, pgp: false });
          const bound = openedBinding(f);
          if (bound !== undefined && bound !== l.path) throw bindingMismatch(l.path, bound);
          values.push({ name: l.name, value: toPlain(withoutBinding(f.tree)[0] ?? new Branch()) as Plain });
        } catch (e) {
          if (!isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE")) throw e;
          seen.readable = false;
          state ??= await readState(r);
          seen.readers = principalsOf(state, (e.data.recipients as string[] | undefined) ?? []);
        }
      }
      if (!layers.some((l) => l.env === env && l.found && l.name !== "defaults")) {
        throw new BootMetaError("CONFIG_NOT_FOUND", `there is no config for ${project} ${env} at ${r.commit.slice(0, 12)}: ${specs.filter((l) => l.name !== "defaults").map((l) => l.path).join(" and ")} do not exist`, ExitCode.General, {
          suggestions: [`the envs of ${project} are the folders under ${project}/envs/; create one with \`boot-meta env create ${project} ${env}\``],
        });
      }
      const m = mergeLayers(values);
      merged.set(env, { ...m, paths: new Map(specs.map((l) => [l.name, l.path])) });
    }
    const ma = merged.get(a) as NonNullable<ReturnType<typeof merged.get>>;
    const mb = merged.get(b) as NonNullable<ReturnType<typeof merged.get>>;
    const side = (env: string, m: typeof ma, key: string): DiffSide => {
      const v = getDotted(m.value, key);
      const layer = m.origins[key] ?? "defaults";
      const type = typeOfPlain(v);
      const size = typeof v === "string" ? [...v].length : Array.isArray(v) ? v.length : undefined;
      return { env, layer, path: m.paths.get(layer) ?? "", type, ...(size !== undefined ? { size } : {}), ...(o.values ? { value: v } : {}) };
    };
    const keys: DiffKey[] = [];
    let same = 0;
    for (const c of compareConfigs(ma.value, mb.value)) {
      if (c.same) same++;
      else if (c.in === "both") keys.push({ key: c.key, status: "differs", sides: [side(a, ma, c.key), side(b, mb, c.key)] });
      else keys.push({ key: c.key, status: "only", sides: [c.in === "a" ? side(a, ma, c.key) : side(b, mb, c.key)] });
    }
    return { project, commit: r.commit, envs: [a, b], values: Boolean(o.values), layers, complete: layers.every((l) => l.readable || !l.found), same, keys };
  });
}
