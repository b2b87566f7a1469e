import { change, type ConfigTarget, targetPath } from "../config/edit.js";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import type { CommitResult } from "../meta/commit.js";
import type { WriteOptions } from "../meta/repo.js";
import type { IdentitySet } from "../sops/identities.js";
import { Branch, fromPlain, toPlain, type Value } from "../sops/tree.js";
import { EVALUATORS_KEY, expandShorthand, isShorthand, METADATA_KEY } from "./layers.js";
import { loadFlags } from "./load.js";
import { checkEvaluator, checkFlag } from "./schema.js";

/**
 * Writes to the `flags` section of one config layer, through the config write path
 * (config/edit.ts `change`): encrypted like every config value, one commit, pushed by
 * compare-and-swap. Flag keys and variant names are map keys, so they stay readable in the
 * file, as every config key does; values and targeting rules are encrypted.
 */

export type FlagWriteOptions = WriteOptions & { identities: IdentitySet };

export interface FlagWriteResult {
  key: string;
  path: string;
  changed: boolean;
}

/** Throws FLAGS_BAD_KEY for a key no flag may have. */
export function validateFlagKey(key: string): string {
  if (key === "" || key === EVALUATORS_KEY || key === METADATA_KEY || /[\u0000-\u001f\u007f]/.test(key)) {
    throw new BootMetaError("FLAGS_BAD_KEY", `${JSON.stringify(key)} is not a flag key: ${key === "" ? "it is empty" : key.startsWith("$") ? `${key} is reserved in a flags section (shared rules and flag-set metadata)` : "it holds a control character"}`, ExitCode.InvalidArgument, {
      suggestions: ["name the flag with letters, digits, dashes, underscores or dots, e.g. new-checkout"],
    });
  }
  return key;
}

function flagsBranch(root: Branch): Branch {
  const existing = root.get("flags");
  if (existing instanceof Branch) return existing;
  if (existing !== undefined && existing !== null) {
    throw new BootMetaError("FLAGS_INVALID", `flags in this layer is not a map (it is a ${Array.isArray(existing) ? "list" : typeof existing}): no flag can be written into it`, ExitCode.InvalidFormat, {
      suggestions: ["fix the layer with `boot-meta config edit` (flags must map flag keys to flags)"],
    });
  }
  const b = new Branch();
  root.set("flags", b);
  return b;
}

/** The layer's own `$evaluators`, as plain rules. */
function layerEvaluators(flags: Branch): Map<string, unknown> {
  const ev = flags.get(EVALUATORS_KEY);
  return ev instanceof Branch ? new Map(Object.entries(toPlain(ev) as Record<string, unknown>)) : new Map();
}

/**
 * `flags set KEY`: the flag's whole entry in the layer becomes `value` — a flagd flag (a
 * map) or a shorthand (`true`, `"blue"`, `42`). Validated against flagd's schema before
 * anything is written; throws FLAGS_INVALID naming the flag and what is wrong (the repo is
 * left as it was), FLAGS_BAD_KEY, and what a config write throws.
 */
export async function setFlag(repoDir: string, t: ConfigTarget, key: string, value: unknown, o: FlagWriteOptions): Promise<CommitResult<FlagWriteResult>> {
  validateFlagKey(key);
  if (value === null || value === undefined) {
    throw new BootMetaError("FLAGS_INVALID", `flag ${key}: no definition was given`, ExitCode.InvalidArgument, { suggestions: ["give a flagd flag (--file, --json-value) or a shorthand value (true, false, a string or a number)"] });
  }
  const r = await change(repoDir, t, o, `flags: set ${key} in ${targetPath(t)}`, (root) => {
    const flags = flagsBranch(root);
    const definition = isShorthand(value) ? expandShorthand(value) : value;
    const errors = checkFlag(definition, layerEvaluators(flags), { refsElsewhere: true });
    if (errors.length) throw invalid(key, targetPath(t), errors);
    flags.set(key, fromPlain(value));
    return true;
  });
  return { ...r, value: { key, path: r.value.path, changed: r.value.changed } };
}

/** Whether the env's merged flags (as this reader loads them) define the flag. */
async function definedInEnv(repoDir: string, t: ConfigTarget, key: string, identities: IdentitySet): Promise<boolean> {
  if (t.env === undefined) return false;
  try {
    return (await loadFlags({ repo: repoDir, project: t.project, env: t.env, identities, cwd: repoDir })).get(key) !== undefined;
  } catch (e) {
    // An env with no config yet defines nothing; any other failure is the user's to see.
    if (isBootMetaError(e, "CONFIG_NOT_FOUND")) return false;
    throw e;
  }
}

/**
 * `flags enable|disable KEY`: sets flagd's `state` in the layer. A shorthand there becomes
 * the flag it stands for; a layer without the flag gets `{state}` alone, merged over the
 * flag the layers below define. Throws FLAGS_NOT_FOUND when no layer of the env defines it.
 */
export async function setFlagState(repoDir: string, t: ConfigTarget, key: string, state: "ENABLED" | "DISABLED", o: FlagWriteOptions): Promise<CommitResult<FlagWriteResult & { state: string }>> {
  validateFlagKey(key);
  const below = await definedInEnv(repoDir, t, key, o.identities);
  const r = await change(repoDir, t, o, `flags: ${state === "ENABLED" ? "enable" : "disable"} ${key} in ${targetPath(t)}`, (root) => {
    const flags = flagsBranch(root);
    const current: Value | undefined = flags.get(key);
    if (current instanceof Branch) {
      if (current.get("state") === state) return false;
      current.set("state", state);
    } else if (current !== undefined && current !== null) {
      flags.set(key, fromPlain({ ...expandShorthand(toPlain(current)), state }));
    } else if (below) {
      flags.set(key, fromPlain({ state }));
    } else {
      throw new BootMetaError("FLAGS_NOT_FOUND", `there is no flag ${key} in ${targetPath(t)}${t.env === undefined ? "" : " or the layers below it"}`, ExitCode.General, {
        data: { key },
        suggestions: [`define it first: \`boot-meta flags set ${key} true\``],
      });
    }
    return true;
  });
  return { ...r, value: { key, path: r.value.path, changed: r.value.changed, state } };
}

function invalid(key: string, path: string, errors: string[]): BootMetaError {
  return new BootMetaError("FLAGS_INVALID", `flag ${key} is not a valid flagd flag, so it was not written to ${path}: ${errors.join("; ")}`, ExitCode.InvalidFormat, {
    data: { key, path, errors },
    suggestions: ["see https://flagd.dev/reference/flag-definitions/ for the shape of a flag", "or give a shorthand: true, false, a string or a number"],
  });
}

export interface FlagImportResult {
  path: string;
  /** The flags written, sorted. */
  flags: string[];
  /** Flags written that flagd's schema refuses, each with why: each evaluates to its error (PARSE_ERROR) until fixed. */
  invalid: { flag: string; errors: string[] }[];
  /** The shared evaluators written, sorted. */
  evaluators: string[];
  changed: boolean;
}

/**
 * `flags import FILE`: a flagd flag-definition file (`{ flags: {…}, $evaluators: {…} }`, as
 * flagd reads it) into one config layer, in one commit: each flag's entry becomes the file's,
 * `$evaluators` merge by name, flags the file does not name stay as they are. Every flag and
 * evaluator is checked against flagd's schema: the file is taken as it is, and a flag the
 * schema refuses is listed in `invalid` (it fails alone when evaluated, as on any load); with
 * `strict`, any invalid flag or evaluator refuses the whole file (FLAGS_INVALID listing each,
 * nothing written).
 */
export async function importFlags(repoDir: string, t: ConfigTarget, doc: unknown, o: FlagWriteOptions & { strict?: boolean }): Promise<CommitResult<FlagImportResult>> {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) || typeof (doc as { flags?: unknown }).flags !== "object" || (doc as { flags?: unknown }).flags === null) {
    throw new BootMetaError("FLAGS_INVALID", "the file is not a flagd flag-definition file: it has no flags map", ExitCode.InvalidFormat, {
      suggestions: ['a flagd file looks like {"flags": {"new-checkout": {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}}}'],
    });
  }
  const incoming = (doc as { flags: Record<string, unknown> }).flags;
  const incomingEvaluators = ((doc as Record<string, unknown>)[EVALUATORS_KEY] ?? {}) as Record<string, unknown>;
  if (typeof incomingEvaluators !== "object" || Array.isArray(incomingEvaluators)) throw new BootMetaError("FLAGS_INVALID", `${EVALUATORS_KEY} in the file is not a map of rules`, ExitCode.InvalidFormat);
  for (const key of Object.keys(incoming)) validateFlagKey(key);
  const invalid: FlagImportResult["invalid"] = [];
  const r = await change(repoDir, t, o, `flags: import ${Object.keys(incoming).length} flag(s) into ${targetPath(t)}`, (root) => {
    const flags = flagsBranch(root);
    const evaluators = layerEvaluators(flags);
    for (const [name, rule] of Object.entries(incomingEvaluators)) evaluators.set(name, rule);
    const problems: string[] = [];
    invalid.length = 0;
    for (const [name, rule] of Object.entries(incomingEvaluators)) for (const p of checkEvaluator(rule)) problems.push(`${EVALUATORS_KEY}.${name}: ${p}`);
    for (const [key, value] of Object.entries(incoming)) {
      const definition = isShorthand(value) ? expandShorthand(value) : value;
      const errors = checkFlag(definition, evaluators, { refsElsewhere: true });
      if (errors.length) invalid.push({ flag: key, errors });
      for (const p of errors) problems.push(`${key}: ${p}`);
    }
    if (problems.length && o.strict) {
      throw new BootMetaError("FLAGS_INVALID", `the file's flags are not all valid flagd flags, so none was written to ${targetPath(t)}: ${problems.join("; ")}`, ExitCode.InvalidFormat, {
        data: { path: targetPath(t), errors: problems },
        suggestions: ["fix them in the file (see https://flagd.dev/reference/flag-definitions/) and import again"],
      });
    }
    let changed = false;
    if (Object.keys(incomingEvaluators).length) {
      const ev = flags.get(EVALUATORS_KEY) instanceof Branch ? (flags.get(EVALUATORS_KEY) as Branch) : new Branch();
      for (const [name, rule] of Object.entries(incomingEvaluators)) ev.set(name, fromPlain(rule));
      flags.set(EVALUATORS_KEY, ev);
      changed = true;
    }
    for (const [key, value] of Object.entries(incoming)) {
      flags.set(key, fromPlain(value));
      changed = true;
    }
    return changed;
  });
  return { ...r, value: { path: r.value.path, flags: Object.keys(incoming).sort(), invalid: invalid.sort((a, b) => (a.flag < b.flag ? -1 : 1)), evaluators: Object.keys(incomingEvaluators).sort(), changed: r.value.changed } };
}
