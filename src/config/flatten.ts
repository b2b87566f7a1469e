import { BootMetaError, ExitCode } from "../errors.js";
import type { Plain } from "./merge.js";

/**
 * How `boot-meta run` writes lists: `comma` (the default) joins scalar items with `,`, which
 * is what Go's kelseyhightower/envconfig, sethvargo/go-envconfig and caarlos0/env split into
 * a slice; `json` writes the list as JSON text, for lists of maps or items holding commas.
 */
export type ListStyle = "comma" | "json";

export interface FlattenOptions {
  /** Put before every name, as given (`APP_`): envconfig's prefix, and the way out for keys that start with a digit. */
  prefix?: string;
  /** Flatten the `flags:` section too, as `FLAGS_…` (default: left out — they are flag definitions for an evaluator, not values). */
  includeFlags?: boolean;
  lists?: ListStyle;
  /** Names the caller sets itself (`BOOT_META_COMMIT`, …): a key that flattens to one is refused as a collision. */
  reserved?: readonly string[];
}

/**
 * The merged config as environment variables, for a server that reads its settings from
 * the environment (a Go binary with envconfig or viper):
 *
 * - a nested key's path is joined with `_`, upper-cased, and every character outside
 *   `[A-Z0-9_]` becomes `_`: `database.url` → `DATABASE_URL`, `feature-x.on` → `FEATURE_X_ON`
 *   (viper's `SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))` finds them);
 * - strings as they are; numbers and booleans as their JSON text (`8080`, `1.5`, `true`);
 * - maps are flattened key by key; an empty map sets nothing;
 * - lists, by `lists`: `comma` joins scalar items (`[80, 443]` → `80,443`, `[]` → empty) and
 *   refuses an item that is a map, a list, null or a string holding a comma, since the joined
 *   text would read back as something else; `json` writes the list as JSON text. Not indexed
 *   `_0`, `_1` variables: no Go env library reads those (they are Spring's and .NET's habit);
 * - `null` sets nothing — the merge already reads a `null` as "remove this key";
 * - the `flags` section is left out unless `includeFlags`: it holds flagd flag definitions
 *   (variants, targeting by instance and percentage) that an evaluator resolves, and a copy
 *   of the definitions is not the value this instance should see;
 * - `prefix` goes before every name.
 *
 * Refused, with a typed error that names keys and never values: two keys that become one
 * name (`RUN_ENV_COLLISION`, also for a reserved name), a name that is not a valid variable
 * name — empty, or starting with a digit (`RUN_ENV_INVALID_NAME`: a silent `_` in front would
 * be a name the server's author has to guess; `prefix` is the fix) — and a value no variable
 * can hold (a NUL byte) or a list `comma` cannot write (`RUN_ENV_UNREPRESENTABLE`).
 *
 * Pure: returns name → value in the config's key order.
 */
export function flattenConfig(config: Plain, o: FlattenOptions = {}): Map<string, string> {
  const prefix = o.prefix ?? "";
  const lists = o.lists ?? "comma";
  const out = new Map<string, string>();
  // name → every key that became it, in config order
  const keysOf = new Map<string, string[]>();
  const reserved = new Set(o.reserved ?? []);

  const put = (path: string[], value: string): void => {
    const name = prefix + path.map(envSegment).join("_");
    const key = keyPath(path);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new BootMetaError("RUN_ENV_INVALID_NAME", `config key ${key} would become ${JSON.stringify(name)}, which is not an environment variable name (a letter or _ first, then letters, digits and _)`, ExitCode.General, {
        data: { key, name },
        suggestions: ["run with --prefix (e.g. --prefix APP_) so every name starts with a letter, or rename the key in the meta repo"],
      });
    }
    const keys = keysOf.get(name);
    if (keys) keys.push(key);
    else {
      keysOf.set(name, [key]);
      out.set(name, value);
    }
  };

  const walk = (path: string[], v: unknown): void => {
    if (v === null || v === undefined) return;
    if (Array.isArray(v)) return put(path, listText(path, v, lists));
    if (typeof v === "object") {
      for (const [k, x] of Object.entries(v as Plain)) walk([...path, k], x);
      return;
    }
    put(path, scalarText(path, v));
  };

  for (const [k, v] of Object.entries(config)) {
    if (k === "flags" && !o.includeFlags) continue;
    walk([k], v);
  }
  const collisions = [...keysOf].filter(([name, keys]) => keys.length > 1 || reserved.has(name)).map(([name, keys]) => ({ name, keys }));
  if (collisions.length) {
    const what = collisions.map((c) => `${c.keys.join(" and ")} would ${c.keys.length === 2 ? "both " : c.keys.length > 2 ? "all " : ""}become ${c.name}${reserved.has(c.name) ? ", which boot-meta run sets itself" : ""}`);
    throw new BootMetaError("RUN_ENV_COLLISION", `config keys collide as environment variables: ${what.join("; ")}`, ExitCode.General, {
      data: { collisions },
      suggestions: ["rename one of the keys in the meta repo (`boot-meta config unset` / `config set`), so that each becomes a name of its own"],
    });
  }
  return out;
}

/** One path segment as part of a name: upper-cased, anything outside [A-Z0-9_] as `_`. */
function envSegment(s: string): string {
  return s.toUpperCase().replace(/[^A-Z0-9_]/gu, "_");
}

/** A key as `config get` takes it (`database.url`), or sops' `["a.b"]["c"]` when a segment holds a dot. */
export function keyPath(path: string[]): string {
  return path.every((p) => /^[^.[\]"]+$/.test(p)) ? path.join(".") : path.map((p) => `[${JSON.stringify(p)}]`).join("");
}

function scalarText(path: string[], v: unknown): string {
  const text = typeof v === "string" ? v : String(v);
  if (text.includes("\0")) throw unrepresentable(path, "holds a NUL byte, which no environment variable can carry");
  return text;
}

function listText(path: string[], items: unknown[], style: ListStyle): string {
  if (style === "json") return JSON.stringify(items);
  return items
    .map((item, i) => {
      if (item === null || typeof item === "object") throw unrepresentable(path, `is a list whose item ${i} is ${item === null ? "null" : Array.isArray(item) ? "a list" : "a map"}, which a comma-joined list cannot hold`, true);
      const text = scalarText(path, item);
      if (text.includes(",")) throw unrepresentable(path, `is a list whose item ${i} holds a comma, so the comma-joined text would read back as more items`, true);
      return text;
    })
    .join(",");
}

function unrepresentable(path: string[], why: string, list = false): BootMetaError {
  const key = keyPath(path);
  return new BootMetaError("RUN_ENV_UNREPRESENTABLE", `config key ${key} ${why}`, ExitCode.General, {
    data: { key },
    suggestions: list ? ["run with --lists json to pass lists as JSON text, or change the value in the meta repo"] : ["change the value in the meta repo"],
  });
}
