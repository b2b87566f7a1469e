import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import type { ErrorObject, ValidateFunction } from "ajv";
import { BootMetaError, ExitCode } from "../errors.js";
import { decodeUtf8 } from "../limits.js";
import { schemaFile } from "../meta/layout.js";
import { mergeLayers, type Plain } from "./merge.js";

/**
 * A project's optional JSON Schema (`<project>/schema.json`, plain JSON: it holds no secret)
 * that the merged config of every env must satisfy. Checked by the loader, by `config set` and
 * `config edit` before they write, and — through {@link checkProjectSchema} — by anything else
 * that has the layers in hand (the pre-commit check). A violation names the key and the layer
 * the value came from (the merge's provenance), never the value: config values may be secrets.
 */

/** One place where the merged config breaks the schema. */
export interface SchemaViolation {
  /** Dotted key the rule is about ("" for the whole config). */
  key: string;
  /** ajv's words for the rule broken, e.g. "must be integer". */
  message: string;
  /** The layer that set the value ("defaults", "env", "developer"), or null when no layer sets it (a required key missing). */
  layer: string | null;
  /** That layer's file, or null. */
  path: string | null;
}

export interface SchemaLayer {
  name: string;
  path: string;
  value: Plain;
}

type AjvClass = typeof import("ajv").default;
const compiledBySha = new Map<string, ValidateFunction>();

/**
 * The validator of a schema file's bytes, compiled once per content. Draft-07 (ajv's default)
 * unless `$schema` names 2019-09 or 2020-12. Throws `CONFIG_SCHEMA_BAD` for bytes that are not
 * JSON or not a schema ajv compiles.
 */
export function compileProjectSchema(bytes: Uint8Array, path: string): ValidateFunction {
  const sha = createHash("sha256").update(bytes).digest("hex");
  const hit = compiledBySha.get(sha);
  if (hit) return hit;
  const bad = (why: string) =>
    new BootMetaError("CONFIG_SCHEMA_BAD", `${path} is not a JSON Schema boot-meta can use: ${why}`, ExitCode.InvalidFormat, {
      data: { path },
      suggestions: [`fix ${path} (a JSON Schema, draft-07 unless its $schema says 2019-09 or 2020-12), or remove it to check nothing`],
    });
  let schema: unknown;
  try {
    schema = JSON.parse(decodeUtf8(bytes, path));
  } catch (e) {
    throw bad(e instanceof Error ? e.message : String(e));
  }
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw bad("it is not a JSON object");
  const draft = String((schema as { $schema?: unknown }).$schema ?? "");
  const require = createRequire(import.meta.url);
  // Loaded on first use: most loads have no schema, and ajv costs tens of ms to load.
  const Ajv = (draft.includes("2020-12") ? require("ajv/dist/2020") : draft.includes("2019-09") ? require("ajv/dist/2019") : require("ajv")) as AjvClass | { default: AjvClass };
  const Klass = (typeof Ajv === "function" ? Ajv : Ajv.default) as AjvClass;
  // strict: false — a project's schema may carry keywords of its own (titles, x-…) that are not ours to refuse.
  // Anyone who can push can write schema.json, and ajv trusts schemas as code: a `pattern` with
  // nested repetition (`^(a+)+$`) would make every load that checks a long value hang. Such a
  // pattern is refused when the schema is compiled (safe-regex2's star-height check).
  const safeRegex = require("safe-regex2") as (re: string, o?: { limit?: number }) => boolean;
  const regExp = Object.assign(
    (pattern: string, flags: string) => {
      if (!safeRegex(pattern)) throw new Error(`the pattern ${JSON.stringify(pattern.length > 100 ? `${pattern.slice(0, 100)}…` : pattern)} could take exponential time to match (a repetition inside a repetition); write it without one`);
      return new RegExp(pattern, flags);
    },
    { code: "new RegExp" },
  );
  const ajv = new Klass({ strict: false, allErrors: true, code: { regExp } });
  let v: ValidateFunction;
  try {
    v = ajv.compile(schema as object);
  } catch (e) {
    throw bad(e instanceof Error ? e.message : String(e));
  }
  if (compiledBySha.size > 64) compiledBySha.clear();
  compiledBySha.set(sha, v);
  return v;
}

const unpointer = (p: string): string[] => (p === "" ? [] : p.slice(1).split("/").map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~")));

/** The dotted key an ajv error is about: its instance path, plus the property it names for required / additionalProperties. */
function keyOf(e: ErrorObject): string {
  const segs = unpointer(e.instancePath);
  const p = e.params as { missingProperty?: string; additionalProperty?: string; propertyName?: string };
  const named = p.missingProperty ?? p.additionalProperty ?? p.propertyName;
  if (named !== undefined) segs.push(named);
  return segs.join(".");
}

/** The layer a key's value came from: its own origin, a parent's (a list or scalar set whole), or the one layer of everything under it. */
function layerOf(key: string, origins: Record<string, string>): string | null {
  for (let k = key; ; k = k.slice(0, Math.max(0, k.lastIndexOf(".")))) {
    if (Object.hasOwn(origins, k)) return origins[k] as string;
    if (!k.includes(".")) break;
  }
  const under = new Set(Object.entries(origins).filter(([k]) => key === "" || k.startsWith(`${key}.`)).map(([, l]) => l));
  // Several layers made this map: the most specific one is the one to look at first.
  const order = ["developer", "env", "defaults"];
  return order.find((l) => under.has(l)) ?? null;
}

/**
 * Checks the merged config of `layers` (least specific first, as `layersFor` orders them)
 * against a project's schema. Returns the violations, none when it satisfies it or when there
 * is no schema (`schema` undefined). Pure: the caller reads the schema and decrypts the layers.
 * Throws `CONFIG_SCHEMA_BAD` for a schema that does not compile.
 */
export function checkProjectSchema(o: { project: string; schema: Uint8Array | undefined; layers: readonly SchemaLayer[] }): SchemaViolation[] {
  if (o.schema === undefined) return [];
  const validate = compileProjectSchema(o.schema, schemaFile(o.project));
  const { value, origins } = mergeLayers(o.layers.map((l) => ({ name: l.name, value: l.value })));
  // ajv reads plain JSON: the merge's prototype-less maps are copied as such.
  if (validate(JSON.parse(JSON.stringify(value)))) return [];
  const seen = new Set<string>();
  const out: SchemaViolation[] = [];
  for (const e of validate.errors ?? []) {
    // anyOf/oneOf report each branch and then themselves; the branches say what is wrong.
    const key = keyOf(e);
    const message = e.message ?? e.keyword;
    if (seen.has(`${key}\0${message}`)) continue;
    seen.add(`${key}\0${message}`);
    const layer = e.keyword === "required" ? null : layerOf(key, origins);
    out.push({ key, message, layer, path: layer === null ? null : (o.layers.find((l) => l.name === layer)?.path ?? null) });
  }
  return out;
}

/** `CONFIG_SCHEMA_INVALID` for `violations` of `<project>/schema.json` by the config of `env` (the caller says what was or was not done). */
export function schemaInvalid(project: string, env: string, violations: readonly SchemaViolation[], outcome: string): BootMetaError {
  const lines = violations.map((v) => `${v.key || "(the whole config)"} ${v.message}${v.layer ? ` (set in the ${v.layer} layer, ${v.path})` : " (no layer sets it)"}`);
  return new BootMetaError(
    "CONFIG_SCHEMA_INVALID",
    `the config of ${project} ${env} does not satisfy ${schemaFile(project)}: ${lines.slice(0, 10).join("; ")}${lines.length > 10 ? `; and ${lines.length - 10} more` : ""}. ${outcome}`,
    ExitCode.General,
    {
      data: { project, env, schema: schemaFile(project), violations },
      suggestions: [`change the value in the layer named (\`boot-meta config set KEY VALUE -p ${project} -e ${env}\`, --defaults for the defaults layer), or change ${schemaFile(project)}`],
    },
  );
}

/** Throws `CONFIG_SCHEMA_INVALID` when the merged config of `layers` breaks the project's schema. */
export function assertProjectSchema(o: { project: string; env: string; schema: Uint8Array | undefined; layers: readonly SchemaLayer[]; outcome: string }): void {
  const v = checkProjectSchema(o);
  if (v.length) throw schemaInvalid(o.project, o.env, v, o.outcome);
}
