import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { bindingMismatch, openedBinding, withoutBinding } from "../meta/binding.js";
import { openBytes } from "../sops/engine.js";
import type { IdentitySet } from "../sops/identities.js";
import { Branch, toPlain } from "../sops/tree.js";
import { mergeLayers, type Plain } from "./merge.js";

export interface ConfigLayer {
  name: "defaults" | "env" | "developer";
  path: string;
  found: boolean;
}

/** A layer's ciphertext as read from git or from the config service (undefined: no such file). */
export interface LayerBytes {
  name: ConfigLayer["name"];
  path: string;
  bytes: Uint8Array | undefined;
}

/** One layer's decrypted config, as read, before the merge. */
export interface LayerValue {
  name: ConfigLayer["name"];
  path: string;
  value: Plain;
}

/**
 * Where a loaded config keeps its layers' own values: a symbol, not enumerable, so that
 * `LoadedConfig` prints, serialises and compares exactly as before. Flags merge per flag
 * (DESIGN.md "Flags"), not deep as config does, so src/flags reads the layers themselves.
 */
const LAYER_VALUES = Symbol("boot-meta.layerValues");

/** The layers a config was merged from (least specific first), or undefined for a value not made by loadConfig (a copy, say). */
export function layerValuesOf(c: object): readonly LayerValue[] | undefined {
  return (c as { [LAYER_VALUES]?: readonly LayerValue[] })[LAYER_VALUES];
}

/** `to`, carrying the layer values `from` was opened with (a spread copies no symbol that is not enumerable). */
export function withLayerValues<T extends object>(from: object, to: T): T {
  const values = layerValuesOf(from);
  if (values) Object.defineProperty(to, LAYER_VALUES, { value: values, enumerable: false });
  return to;
}

export interface OpenedLayers {
  config: Plain;
  flags: Plain;
  layers: ConfigLayer[];
  origins: Record<string, string>;
}

/**
 * Decrypts the layers of one env with the reader's identities and merges them, the same for
 * every source (a clone, a cached clone, the config service, its cache on disk). Each layer's
 * MAC is checked, and one that states (under its MAC) that it was written for another path is
 * refused: the path checked is the one the caller expects (`layersFor`), never one a server or
 * a file names. `denied` turns a data key no identity opens into CONFIG_ACCESS_DENIED, saying
 * what the source can say about who reads the layer.
 */
export async function openLayers(
  project: string,
  env: string,
  commit: string,
  sources: LayerBytes[],
  identities: IdentitySet,
  denied: (path: string, data: Record<string, unknown>) => Promise<BootMetaError> | BootMetaError,
): Promise<OpenedLayers> {
  const layers: ConfigLayer[] = [];
  const values: LayerValue[] = [];
  for (const l of sources) {
    layers.push({ name: l.name, path: l.path, found: l.bytes !== undefined });
    if (!l.bytes) continue;
    try {
      const f = await openBytes(l.bytes, { format: "yaml", identities, path: l.path, pgp: false });
      // A layer that says (under its MAC) it was written for another path was copied here.
      const bound = openedBinding(f);
      if (bound !== undefined && bound !== l.path) throw bindingMismatch(l.path, bound);
      values.push({ name: l.name, path: l.path, value: toPlain(withoutBinding(f.tree)[0] ?? new Branch()) as Plain });
    } catch (e) {
      if (isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE")) throw await denied(l.path, e.data);
      throw e;
    }
  }
  // Defaults alone mean the env does not exist (a typo, most likely): say so.
  if (!layers.some((l) => l.found && l.name !== "defaults")) {
    throw new BootMetaError("CONFIG_NOT_FOUND", `there is no config for ${project} ${env} at ${commit.slice(0, 12)}: ${sources.filter((l) => l.name !== "defaults").map((l) => l.path).join(" and ")} do not exist`, ExitCode.General, {
      suggestions: [`create it: \`boot-meta env create ${project} ${env}\``],
    });
  }
  const { value, origins } = mergeLayers(values);
  const flags = typeof value.flags === "object" && value.flags !== null ? (value.flags as Plain) : {};
  const opened: OpenedLayers = { config: value, flags, layers, origins };
  Object.defineProperty(opened, LAYER_VALUES, { value: Object.freeze(values), enumerable: false });
  return opened;
}
