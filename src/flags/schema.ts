import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { ErrorObject, ValidateFunction } from "ajv";

/**
 * Validation of flags against flagd's own published JSON schemas (flags.json and
 * targeting.json from open-feature/flagd-schemas, vendored byte for byte in
 * vendor/flagd-schemas with their provenance), plus the few structural rules flagd-core
 * enforces by throwing (src/lib/feature-flag.ts `validateStructure`) and `$ref`s that name
 * no evaluator. flagd-core itself only logs schema errors; boot-meta refuses such a flag on
 * write and, on load, makes it fail alone.
 */

const FLAGS_ID = "https://flagd.dev/schema/v0/flags.json";
const TARGETING_ID = "https://flagd.dev/schema/v0/targeting.json";

interface Validators {
  baseFlag: ValidateFunction;
  anyFlag: ValidateFunction;
  targeting: ValidateFunction;
  metadata: ValidateFunction;
}

let validators: Validators | undefined;

function schemaFile(name: string): unknown {
  // vendor/ sits two levels above this file in src/ and in dist/ alike (and ships in the package).
  return JSON.parse(readFileSync(new URL(`../../vendor/flagd-schemas/${name}`, import.meta.url), "utf8"));
}

/** Compiled on first use: most commands never validate a flag, and compiling costs tens of ms. */
function compiled(): Validators {
  if (validators) return validators;
  type AjvClass = typeof import("ajv").default;
  const Ajv = createRequire(import.meta.url)("ajv") as AjvClass;
  // strict: false — these are upstream's schemas as published (draft-07, with `title`s and
  // `$comment`s where ajv's strict mode wants none); they are not ours to edit.
  const ajv = new Ajv({ strict: false, allErrors: false });
  ajv.addSchema(schemaFile("targeting.json") as object, TARGETING_ID);
  ajv.addSchema(schemaFile("flags.json") as object, FLAGS_ID);
  const get = (ref: string): ValidateFunction => {
    const v = ajv.getSchema(ref);
    if (!v) throw new Error(`the vendored flagd schema has no ${ref}`);
    return v;
  };
  validators = {
    baseFlag: get(`${FLAGS_ID}#/definitions/baseFlag`),
    anyFlag: get(`${FLAGS_ID}#/definitions/anyFlag`),
    targeting: get(TARGETING_ID),
    metadata: get(`${FLAGS_ID}#/definitions/metadata`),
  };
  return validators;
}

/**
 * ajv's errors as short sentences. Under an `anyOf`/`oneOf` (targeting is one, variant types
 * another) ajv reports every branch's failure; the deepest paths say what is actually wrong.
 */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  if (!errors?.length) return [];
  const depth = (e: ErrorObject) => e.instancePath.split("/").length;
  const deepest = Math.max(...errors.map(depth));
  let picked = errors.filter((e) => depth(e) === deepest);
  // "must match a schema in anyOf" says less than the branch errors beside it.
  if (picked.some((e) => e.keyword !== "anyOf" && e.keyword !== "oneOf")) picked = picked.filter((e) => e.keyword !== "anyOf" && e.keyword !== "oneOf");
  const out = new Set<string>();
  for (const e of picked) {
    const p = e.params as { additionalProperty?: unknown; allowedValues?: unknown[] };
    const extra = e.keyword === "additionalProperties" ? ` (${String(p.additionalProperty)})` : e.keyword === "enum" ? ` (${(p.allowedValues ?? []).join(", ")})` : "";
    const where = e.instancePath ? e.instancePath.slice(1).split("/").map((x) => x.replace(/~1/g, "/").replace(/~0/g, "~")).join(".") : "it";
    out.add(`${where} ${e.message ?? "is not valid"}${extra}`);
  }
  return [...out].slice(0, 3);
}

/**
 * A rule with each `{"$ref": name}` replaced by the evaluator of that name, as flagd-core does
 * before it validates and compiles (so a `$ref` may stand wherever its rule could).
 */
export function withRefs(rule: unknown, evaluators: ReadonlyMap<string, unknown>, depth = 0): unknown {
  if (depth > 64) return rule;
  if (Array.isArray(rule)) return rule.map((x) => withRefs(x, evaluators, depth + 1));
  if (typeof rule !== "object" || rule === null) return rule;
  const ref = (rule as Record<string, unknown>).$ref;
  if (Object.keys(rule).length === 1 && typeof ref === "string" && evaluators.has(ref)) return withRefs(evaluators.get(ref), evaluators, depth + 1);
  return Object.fromEntries(Object.entries(rule).map(([k, v]) => [k, withRefs(v, evaluators, depth + 1)]));
}

const typeOfVariant = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "list" : typeof v);

/** The `$ref` names a rule uses, directly or through the evaluators it names (bounded, for cycles). */
export function refClosure(rule: unknown, evaluators: ReadonlyMap<string, unknown>): Set<string> {
  const out = new Set<string>();
  const todo = [...refsIn(rule)];
  while (todo.length && out.size < 1000) {
    const r = todo.pop() as string;
    if (out.has(r)) continue;
    out.add(r);
    if (evaluators.has(r)) todo.push(...refsIn(evaluators.get(r)));
  }
  return out;
}

/** `$ref` names used anywhere in a targeting rule. */
export function refsIn(rule: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(rule)) for (const x of rule) refsIn(x, out);
  else if (typeof rule === "object" && rule !== null) {
    const keys = Object.keys(rule);
    const ref = (rule as Record<string, unknown>).$ref;
    if (keys.length === 1 && typeof ref === "string") out.add(ref);
    else for (const x of Object.values(rule)) refsIn(x, out);
  }
  return out;
}

/**
 * What is wrong with one flag definition (empty: valid). `evaluators` are the shared rules
 * that exist (`$evaluators`): its `$ref`s are checked with them in place, as flagd-core reads
 * them. `refsElsewhere` (a write to one layer, whose `$ref`s may name evaluators of another):
 * a `$ref` to none of them is not an error here; loading checks it.
 */
export function checkFlag(definition: unknown, evaluators: ReadonlyMap<string, unknown>, o: { refsElsewhere?: boolean } = {}): string[] {
  const v = compiled();
  const flag = definition as { variants: Record<string, unknown>; defaultVariant?: string | null; targeting?: unknown };
  const targeting = withRefs(flag?.targeting, evaluators);
  // What is left after every known `$ref` is replaced: names no evaluator has, or a cycle.
  const left = [...refsIn(targeting)];
  const cyclic = left.filter((r) => evaluators.has(r));
  if (cyclic.length) return [`its targeting's {"$ref": ${JSON.stringify(cyclic[0])}} never ends: flags.$evaluators refer to each other in a cycle`];
  const missing = left.filter((r) => !evaluators.has(r));
  if (missing.length && !o.refsElsewhere) return missing.map((ref) => `its targeting uses {"$ref": ${JSON.stringify(ref)}}, but flags.$evaluators has no ${JSON.stringify(ref)}`);
  // targeting.json takes a `$ref` inside a rule but not as the whole rule (flagd-core replaces it first).
  const checked = missing.length && Object.keys(targeting as object).length === 1 && "$ref" in (targeting as object) ? {} : targeting;
  const resolved = typeof definition === "object" && definition !== null && "targeting" in definition ? { ...definition, targeting: checked } : definition;
  if (!v.baseFlag(resolved)) return describeErrors(v.baseFlag.errors);
  if (!v.anyFlag(resolved)) {
    const types = [...new Set(Object.values(flag.variants).map(typeOfVariant))];
    return [`its variants must all be booleans, all strings, all numbers or all objects; they are ${types.join(", ")}`];
  }
  const problems: string[] = [];
  if (typeof flag.defaultVariant === "string" && !Object.hasOwn(flag.variants, flag.defaultVariant)) {
    problems.push(`defaultVariant ${JSON.stringify(flag.defaultVariant)} is not one of its variants (${Object.keys(flag.variants).join(", ")})`);
  }
  return problems;
}

/** What is wrong with one shared evaluator of `$evaluators` (empty: valid). */
export function checkEvaluator(rule: unknown): string[] {
  const v = compiled();
  return v.targeting(rule) ? [] : describeErrors(v.targeting.errors);
}

/** What is wrong with the flag-set metadata (`$metadata`): flagd allows strings, numbers and booleans. */
export function checkMetadata(metadata: unknown): string[] {
  const v = compiled();
  return v.metadata(metadata) ? [] : describeErrors(v.metadata.errors);
}
