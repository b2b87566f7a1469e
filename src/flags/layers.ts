/**
 * The `flags` section of each config layer, merged per flag (DESIGN.md "Conventions" →
 * "Flags"): defaults ← env ← developer folder. Pure: plain values in, plain values out.
 *
 * - `flags: { <key>: <flagd flag> | <shorthand> }`; `$evaluators` and `$metadata` are
 *   reserved keys there (flagd's `$evaluators` and flag-set `metadata`).
 * - Shorthand: `true`/`false` is a flag with variants `on`/`off`; any other value that is
 *   not a map is a flag with one variant, `default`.
 * - A later layer merges into a flag field by field: `variants` merged by name, every other
 *   field replaced; `null` removes (a flag, a field, a variant), as it removes a config key.
 *   A shorthand pins the flag where it is written: it is static there (its targeting is
 *   dropped), so a developer's `new_checkout: true` turns the flag on for them whatever the
 *   rules below say.
 * - `$evaluators` and `$metadata` merge by key, later wins.
 */

export type PlainMap = Record<string, unknown>;

export const EVALUATORS_KEY = "$evaluators";
export const METADATA_KEY = "$metadata";

export interface FlagLayerInput {
  /** defaults, env, developer */
  name: string;
  /** the layer's file, for messages */
  path: string;
  /** the layer's whole config; only its `flags` is read */
  value: PlainMap;
}

export interface LayeredFlag {
  key: string;
  /** The merged definition, shorthand expanded: what is validated and evaluated. */
  definition: unknown;
  /** The layers that wrote to this flag, least specific first. */
  layers: string[];
}

export interface LayeredFlags {
  flags: Map<string, LayeredFlag>;
  /** `$evaluators` by name, with the layer that last wrote each. */
  evaluators: Map<string, { rule: unknown; layer: string }>;
  /** `$metadata`, merged: flagd's flag-set metadata. */
  metadata: PlainMap;
  /** What could not be read at all (a `flags` that is not a map): the rest still loads. */
  problems: { layer: string; path: string; message: string }[];
}

const isMap = (v: unknown): v is PlainMap => typeof v === "object" && v !== null && !Array.isArray(v);

/** Flag keys and variant names are data: never an inherited property of a plain object. */
const newMap = (): PlainMap => Object.create(null) as PlainMap;

/** Whether a layer's value for a flag is shorthand rather than a flagd flag definition. */
export function isShorthand(v: unknown): boolean {
  return v !== null && v !== undefined && !isMap(v);
}

/** A shorthand as the flagd flag it stands for. */
export function expandShorthand(v: unknown): PlainMap {
  const flag = newMap();
  flag.state = "ENABLED";
  if (typeof v === "boolean") {
    flag.variants = Object.assign(newMap(), { on: true, off: false });
    flag.defaultVariant = v ? "on" : "off";
  } else {
    flag.variants = Object.assign(newMap(), { default: v });
    flag.defaultVariant = "default";
  }
  return flag;
}

function mergeFlag(base: PlainMap | undefined, over: unknown): PlainMap {
  const shorthand = isShorthand(over);
  const o = shorthand ? expandShorthand(over) : (over as PlainMap);
  const out: PlainMap = Object.assign(newMap(), base ?? {});
  if (shorthand) delete out.targeting;
  for (const [field, v] of Object.entries(o)) {
    if (v === null) delete out[field];
    else if (field === "variants" && isMap(v) && isMap(out.variants)) {
      const variants: PlainMap = Object.assign(newMap(), out.variants);
      for (const [name, value] of Object.entries(v)) {
        if (value === null) delete variants[name];
        else variants[name] = value;
      }
      out.variants = variants;
    } else out[field] = v;
  }
  return out;
}

/** Merges the layers' `flags` sections (least specific first). */
export function layerFlags(layers: readonly FlagLayerInput[]): LayeredFlags {
  const flags = new Map<string, LayeredFlag>();
  const evaluators = new Map<string, { rule: unknown; layer: string }>();
  const metadata = newMap();
  const problems: LayeredFlags["problems"] = [];
  for (const layer of layers) {
    if (!Object.hasOwn(layer.value, "flags")) continue;
    const section = layer.value.flags;
    if (section === null || section === undefined) continue;
    if (!isMap(section)) {
      problems.push({ layer: layer.name, path: layer.path, message: `flags in ${layer.path} is a ${Array.isArray(section) ? "list" : typeof section}, not a map of flag keys to flags: its flags are ignored` });
      continue;
    }
    for (const [key, v] of Object.entries(section)) {
      if (key === EVALUATORS_KEY || key === METADATA_KEY) {
        if (v === null) continue;
        if (!isMap(v)) {
          problems.push({ layer: layer.name, path: layer.path, message: `flags.${key} in ${layer.path} must be a map, not a ${Array.isArray(v) ? "list" : typeof v}: it is ignored` });
          continue;
        }
        for (const [name, x] of Object.entries(v)) {
          if (key === EVALUATORS_KEY) {
            if (x === null) evaluators.delete(name);
            else evaluators.set(name, { rule: x, layer: layer.name });
          } else if (x === null) delete metadata[name];
          else metadata[name] = x;
        }
        continue;
      }
      if (v === null) {
        flags.delete(key);
        continue;
      }
      const before = flags.get(key);
      flags.set(key, { key, definition: mergeFlag(before?.definition as PlainMap | undefined, v), layers: [...(before?.layers ?? []), layer.name] });
    }
  }
  return { flags, evaluators, metadata, problems };
}
