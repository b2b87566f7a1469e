import type { EvaluationContext, FlagMetadata, FlagValue, Logger } from "@openfeature/core";
import type { FeatureFlag, Storage } from "@openfeature/flagd-core";
import { evaluationContext, type RunsWhere } from "./context.js";
import type { LayeredFlags } from "./layers.js";
import { checkEvaluator, checkFlag, checkMetadata, refClosure, withRefs } from "./schema.js";

export type FlagType = "boolean" | "string" | "number" | "object";

/** OpenFeature's reasons as boot-meta gives them (SPLIT: the flag's rule is a `fractional` split). */
export type FlagReason = "STATIC" | "DEFAULT" | "TARGETING_MATCH" | "SPLIT" | "DISABLED" | "ERROR";

/** One evaluation, as an OpenFeature provider or `flags eval --json` reports it. */
export interface FlagEvaluation<T extends FlagValue = FlagValue> {
  key: string;
  /** The variant's value, or the caller's default (null when none was given) on DISABLED, DEFAULT without a default variant, and ERROR. */
  value: T | null;
  variant: string | null;
  reason: FlagReason;
  /** OpenFeature's error code (FLAG_NOT_FOUND, PARSE_ERROR, TYPE_MISMATCH, GENERAL, …) when reason is ERROR. */
  errorCode: string | null;
  errorMessage: string | null;
  /** The flag's metadata (flag-set `$metadata` under the flag's own). */
  flagMetadata: FlagMetadata;
  /** The meta repo commit the flag was read at: the version of this answer. */
  commit: string;
}

export interface EvaluateOptions<T extends FlagValue = FlagValue> {
  /** The type the caller expects, as an SDK's getBooleanValue… asks (default: the flag's own). A flag of another type is TYPE_MISMATCH. */
  type?: FlagType;
  /** The code default: returned on errors, when disabled, and when no variant applies. */
  defaultValue?: T;
  /** The app's attributes, on top of where it runs. */
  context?: EvaluationContext;
  /** Overrides the targeting key (default: the context's, else the instance id). */
  targetingKey?: string;
}

/** A flag as loaded: its merged definition and, when it cannot be evaluated, why. */
export interface FlagEntry {
  key: string;
  definition: unknown;
  /** The layers that wrote to it, least specific first. */
  layers: string[];
  /** Why the flag is invalid (it then evaluates to ERROR / PARSE_ERROR); empty when valid. */
  errors: string[];
  /** The type of its variants, when valid. */
  type: FlagType | null;
}

const quiet: Logger = { error() {}, warn() {}, info() {}, debug() {} };

/** flagd-core's read side over flags compiled one at a time, so one broken flag cannot take the others down. */
class CompiledFlags implements Storage {
  private readonly flags: Map<string, FeatureFlag>;
  private readonly metadata: FlagMetadata;
  constructor(flags: Map<string, FeatureFlag>, metadata: FlagMetadata) {
    this.flags = flags;
    this.metadata = metadata;
  }
  setConfigurations(): string[] {
    throw new Error("a boot-meta flag set is read-only: load a new one");
  }
  getFlag(key: string): FeatureFlag | undefined {
    return this.flags.get(key);
  }
  getFlags(): Map<string, FeatureFlag> {
    return this.flags;
  }
  getFlagSetMetadata(): FlagMetadata {
    return this.metadata;
  }
}

type Core = InstanceType<typeof import("@openfeature/flagd-core").FlagdCore>;

function typeOfFlag(definition: unknown): FlagType | null {
  const variants = (definition as { variants?: Record<string, unknown> }).variants;
  const first = variants ? Object.values(variants)[0] : undefined;
  const t = typeof first;
  return t === "boolean" || t === "string" || t === "number" ? t : t === "object" && first !== null ? "object" : null;
}

/** The operation a rule starts with, following `$ref`s (bounded: a cycle is no split). */
function topOperation(rule: unknown, evaluators: LayeredFlags["evaluators"]): string | undefined {
  let r = rule;
  for (let i = 0; i < 16; i++) {
    if (typeof r !== "object" || r === null || Array.isArray(r)) return undefined;
    const keys = Object.keys(r);
    if (keys.length !== 1) return undefined;
    const ref = (r as Record<string, unknown>).$ref;
    if (keys[0] === "$ref" && typeof ref === "string") r = evaluators.get(ref)?.rule;
    else return keys[0];
  }
  return undefined;
}

/** JSON with object keys sorted: the same definition gives the same text whatever order YAML kept. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object" && v !== null) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

/**
 * A project and env's flags at one commit, ready to evaluate: what `loadFlags` returns and
 * what an OpenFeature provider would hold (evaluation is synchronous, in-process, through
 * flagd-core; `changedKeys` gives the keys for a ConfigurationChanged event).
 */
export class FlagSet {
  readonly commit: string;
  readonly project: string;
  readonly env: string;
  /** Where these flags are evaluated: the context every evaluation starts from. */
  readonly where: RunsWhere;
  /** Problems with the flags sections themselves, the evaluators or `$metadata` (each named); flags not involved still load. */
  readonly problems: string[];
  private readonly entries: Map<string, FlagEntry>;
  private readonly core: Core;
  private readonly splits: Set<string>;
  /** Where it runs, as a context: made once (flagd-core copies a context, never changes it). */
  private readonly baseContext: EvaluationContext;

  /** @internal Use `loadFlags` or `flagsFromConfig`. */
  constructor(where: RunsWhere, entries: Map<string, FlagEntry>, core: Core, splits: Set<string>, problems: string[]) {
    this.where = where;
    this.commit = where.commit;
    this.project = where.project;
    this.env = where.env;
    this.entries = entries;
    this.core = core;
    this.splits = splits;
    this.problems = problems;
    this.baseContext = Object.freeze(evaluationContext(where));
  }

  /** Every flag key, sorted. */
  keys(): string[] {
    return [...this.entries.keys()].sort();
  }

  /** A flag's merged definition and validity, or undefined. */
  get(key: string): FlagEntry | undefined {
    return this.entries.get(key);
  }

  /** The context an evaluation with these options sees. */
  context(o: Pick<EvaluateOptions, "context" | "targetingKey"> = {}): EvaluationContext {
    if (o.context === undefined && o.targetingKey === undefined) return this.baseContext;
    return evaluationContext(this.where, o.context, o.targetingKey);
  }

  /**
   * Evaluates one flag with flagd-core. Never throws for a flag's own fault: a missing flag is
   * ERROR / FLAG_NOT_FOUND, an invalid one ERROR / PARSE_ERROR with the reason, a type other
   * than `type` ERROR / TYPE_MISMATCH, each with the default value.
   */
  evaluate<T extends FlagValue = FlagValue>(key: string, o: EvaluateOptions<T> = {}): FlagEvaluation<T> {
    const entry = this.entries.get(key);
    const fallback = (o.defaultValue ?? null) as T | null;
    // Object literals, not a spread of a shared base: V8 made the spread the most of an
    // evaluation's cost (bench/flags.bench.mjs).
    if (entry && entry.errors.length > 0) {
      return { key, commit: this.commit, value: fallback, variant: null, reason: "ERROR", errorCode: "PARSE_ERROR", errorMessage: `flag ${key} (set in ${entry.layers.join(" ← ")}) is not a valid flagd flag: ${entry.errors.join("; ")}`, flagMetadata: {} };
    }
    const type = o.type ?? entry?.type ?? "object";
    const r = this.core.resolve(type, key, fallback as FlagValue, this.context(o), quiet);
    const reason = (r.reason === "TARGETING_MATCH" && this.splits.has(key) ? "SPLIT" : r.reason) as FlagReason;
    return {
      key,
      commit: this.commit,
      value: (r.value ?? null) as T | null,
      variant: r.variant ?? null,
      reason,
      errorCode: r.errorCode ?? null,
      errorMessage: r.errorMessage ?? null,
      flagMetadata: r.flagMetadata,
    };
  }

  /** Every flag evaluated with its own type (disabled ones included, as DISABLED). */
  evaluateAll(o: Omit<EvaluateOptions, "type" | "defaultValue"> = {}): FlagEvaluation[] {
    return this.keys().map((k) => this.evaluate(k, o));
  }

  /** Keys whose definition or validity differ between two flag sets (added and removed ones too): an OpenFeature ConfigurationChanged's `flagsChanged`. */
  changedKeys(other: FlagSet): string[] {
    const out: string[] = [];
    for (const k of new Set([...this.keys(), ...other.keys()])) {
      const a = this.entries.get(k);
      const b = other.entries.get(k);
      if (!a || !b || canonical([a.definition, a.errors]) !== canonical([b.definition, b.errors])) out.push(k);
    }
    return out.sort();
  }
}

/**
 * Validates and compiles merged flags. Each flag is checked against flagd's schema and
 * compiled by flagd-core on its own: an invalid flag is kept with its errors (and evaluates
 * to them), the rest are unaffected. An invalid evaluator fails the flags that use it.
 */
export async function buildFlagSet(layered: LayeredFlags, where: RunsWhere, o: { logger?: Logger } = {}): Promise<FlagSet> {
  const { FlagdCore, MemoryStorage } = await import("@openfeature/flagd-core");
  const logger = o.logger ?? quiet;
  const problems = layered.problems.map((p) => p.message);
  const badEvaluators = new Map<string, string[]>();
  for (const [name, { rule, layer }] of layered.evaluators) {
    const errors = checkEvaluator(rule);
    if (errors.length) {
      badEvaluators.set(name, errors);
      problems.push(`flags.$evaluators.${name} (from ${layer}) is not a valid flagd targeting rule: ${errors.join("; ")}`);
    }
  }
  let metadata = layered.metadata;
  const metaErrors = checkMetadata(metadata);
  if (metaErrors.length) {
    problems.push(`flags.$metadata is not valid flagd metadata (values must be strings, numbers or booleans): ${metaErrors.join("; ")}; it is ignored`);
    metadata = {};
  }
  const rules = new Map([...layered.evaluators].map(([name, e]) => [name, e.rule]));
  const entries = new Map<string, FlagEntry>();
  const compiled = new Map<string, FeatureFlag>();
  const splits = new Set<string>();
  for (const [key, f] of layered.flags) {
    const errors = checkFlag(f.definition, rules);
    const targeting = (f.definition as { targeting?: unknown }).targeting;
    const refs = errors.length ? new Set<string>() : refClosure(targeting, rules);
    for (const ref of refs) {
      const bad = badEvaluators.get(ref);
      if (bad) errors.push(`it uses the evaluator ${ref}, which is invalid: ${bad.join("; ")}`);
    }
    if (errors.length === 0) {
      // flagd-core resolves `$ref`s and compiles the rule; only the evaluators this flag uses go
      // in, each with its own `$ref`s already in place (flagd-core replaces one level only).
      const evaluators = Object.fromEntries([...refs].map((r) => [r, withRefs(rules.get(r), rules)]));
      try {
        const storage = new MemoryStorage(logger);
        storage.setConfigurations(JSON.stringify({ flags: { [key]: f.definition }, ...(refs.size ? { $evaluators: evaluators } : {}), metadata }), false);
        const ff = storage.getFlag(key);
        if (ff) compiled.set(key, ff);
        else errors.push("flagd-core did not load it");
      } catch (e) {
        const cause = (e as { cause?: unknown }).cause;
        errors.push(`flagd-core refused it: ${cause instanceof Error ? cause.message : (e as Error).message}`);
      }
      if (topOperation(targeting, layered.evaluators) === "fractional") splits.add(key);
    }
    entries.set(key, { key, definition: f.definition, layers: f.layers, errors, type: errors.length ? null : typeOfFlag(f.definition) });
  }
  const core = new FlagdCore(new CompiledFlags(compiled, metadata as FlagMetadata), logger);
  return new FlagSet(where, entries, core, splits, problems);
}
