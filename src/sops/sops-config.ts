import { dirname, join, resolve, sep } from "node:path";
import { BootMetaError, ExitCode } from "../errors.js";
import { exists } from "../io.js";
import { parseYamlValue } from "../yaml.js";
import { parseRecipients } from "./age.js";
import { goRegExp } from "./regex.js";
import { SELECTION_KINDS, type SelectionRule } from "./selection.js";

export type { SelectionRule } from "./selection.js";

// `.sops.yaml` as sops reads it (config/config.go): discovery from the working directory up,
// creation rules matched first-wins by path_regex, key groups with merges, one selection
// rule per creation rule, store indents. Only age keys can be encrypted for here; a rule that
// names other key types is refused when it is used rather than silently narrowed.

/** A `creation_rules` entry, reduced to what an age-only engine uses. */
export interface CreationRule {
  pathRegex?: string;
  /** Age recipients per key group: merged groups' keys first, duplicates dropped (config.go:311-361). */
  keyGroups: string[][];
  shamirThreshold?: number;
  selection?: SelectionRule;
  macOnlyEncrypted?: boolean;
  /** Key types the rule names besides age (pgp, kms, …): boot-meta cannot encrypt for them. */
  otherKeyTypes?: string[];
}

export interface SopsConfig {
  path: string;
  dir: string;
  creationRules: CreationRule[];
  stores: { yaml?: { indent?: number }; json?: { indent?: number }; json_binary?: { indent?: number } };
}

const NAME = ".sops.yaml";
/** config.go maxDepth: the directory itself and 99 parents. */
const MAX_DEPTH = 100;

/**
 * Finds `.sops.yaml` as sops does (config/config.go:55-94, cmd/sops/main.go:2356-2363): from
 * `startDir` (sops uses the working directory, not the file's) upward, at most 100 levels;
 * `.sops.yml` is never used. An explicit path (`--config`) or `SOPS_CONFIG` wins and must
 * exist (`SOPS_NO_CONFIG`). Resolves `undefined` when there is none.
 */
export async function findSopsConfig(startDir: string, opts: { explicitPath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string | undefined> {
  const explicit = opts.explicitPath || (opts.env ?? process.env).SOPS_CONFIG;
  if (explicit) {
    const p = resolve(startDir, explicit);
    if (!(await exists(p))) {
      throw new BootMetaError("FILE_NOT_FOUND", `the sops config file ${p} does not exist`, ExitCode.FileNotFound, {
        data: { path: p },
        suggestions: [opts.explicitPath ? "check the --config path" : "check SOPS_CONFIG, or unset it to look for .sops.yaml from the current directory up"],
      });
    }
    return p;
  }
  let dir = resolve(startDir);
  for (let i = 0; i < MAX_DEPTH; i++) {
    const p = join(dir, NAME);
    if (await exists(p)) return p;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

function invalid(path: string, why: string, suggestions: string[] = []): BootMetaError {
  return new BootMetaError("SOPS_INVALID_CONFIG", `${path} is not a valid sops config: ${why}`, ExitCode.InvalidFormat, { data: { path }, suggestions });
}

// The file is read with the YAML failsafe schema (every scalar a string) and converted the
// way go-yaml v3 decodes into sops' typed config struct, so `shamir_threshold: 0x2` and
// `mac_only_encrypted: yes` mean what they mean to sops, and a recipient is never a number.
type Node = string | Node[] | { [k: string]: Node } | undefined;

const isNull = (v: Node): boolean => v === undefined || (typeof v === "string" && /^(~|null|Null|NULL|)$/.test(v));
const isMap = (v: Node): v is { [k: string]: Node } => typeof v === "object" && v !== null && !Array.isArray(v);

function str(v: Node, path: string, where: string): string | undefined {
  if (isNull(v)) return undefined;
  if (typeof v !== "string") throw invalid(path, `${where} must be a string`);
  return v;
}

function int(v: Node, path: string, where: string): number | undefined {
  if (isNull(v)) return undefined;
  const s = typeof v === "string" ? v.replace(/_/g, "") : "";
  // go-yaml resolves ints with strconv.ParseInt(s, 0, 64) and accepts whole floats into ints.
  const n = /^[-+]?(0x[0-9a-fA-F]+|0o[0-7]+|0b[01]+|[0-9]+)$/.test(s) ? Number(s) : /^[-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isInteger(n)) throw invalid(path, `${where} must be a whole number, not ${JSON.stringify(v)}`);
  return n;
}

function bool(v: Node, path: string, where: string): boolean | undefined {
  if (isNull(v)) return undefined;
  // go-yaml v3 takes YAML 1.1 spellings when the target is a bool (decode.go).
  if (typeof v === "string" && /^(true|True|TRUE|y|Y|yes|Yes|YES|on|On|ON)$/.test(v)) return true;
  if (typeof v === "string" && /^(false|False|FALSE|n|N|no|No|NO|off|Off|OFF)$/.test(v)) return false;
  throw invalid(path, `${where} must be true or false, not ${JSON.stringify(v)}`);
}

/** `age: a,b` or `age: [a, "b,c"]`: split on commas and trimmed, empty entries dropped. */
function keyList(v: Node, path: string, where: string): string[] {
  if (isNull(v)) return [];
  const items = typeof v === "string" ? [v] : Array.isArray(v) ? v : undefined;
  if (!items || items.some((x) => typeof x !== "string")) throw invalid(path, `${where} must be a string or a list of strings`);
  return (items as string[])
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

const OTHER_RULE_KEYS = ["pgp", "kms", "gcp_kms", "hckms", "azure_keyvault", "hc_vault_transit_uri"] as const;
const OTHER_GROUP_KEYS = ["pgp", "kms", "gcp_kms", "hckms", "azure_keyvault", "hc_vault"] as const;

const nonEmpty = (v: Node): boolean => !isNull(v) && !(Array.isArray(v) && v.length === 0) && !(typeof v === "string" && v.trim() === "");

/** One key group: merged groups' keys first, then its own (config.go extractMasterKeys). */
function group(g: Node, path: string, where: string, others: Set<string>): string[] {
  if (!isMap(g)) throw invalid(path, `${where} must be a map`);
  if (!isNull(g.merge) && !Array.isArray(g.merge)) throw invalid(path, `${where}.merge must be a list of key groups`);
  const merged = (Array.isArray(g.merge) ? g.merge : []).flatMap((m, i) => group(m, path, `${where}.merge[${i}]`, others));
  for (const k of OTHER_GROUP_KEYS) if (nonEmpty(g[k])) others.add(k);
  return [...new Set([...merged, ...keyList(g.age, path, `${where}.age`)])];
}

function rule(r: Node, path: string, i: number): CreationRule {
  const where = `creation_rules[${i}]`;
  if (!isMap(r)) throw invalid(path, `${where} must be a map`);
  const kinds = SELECTION_KINDS.filter((k) => str(r[k], path, `${where}.${k}`) !== undefined);
  // config.go:467-490 (configFromRule).
  if (kinds.length > 1) {
    throw invalid(path, `${where} sets ${kinds.join(" and ")}; sops allows only one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex per rule`, [
      "keep one selection rule; express the others through it",
    ]);
  }
  const others = new Set<string>();
  let keyGroups: string[][];
  // key_groups replaces the rule's own keys, but only when it has entries (config.go:311-316).
  if (Array.isArray(r.key_groups) && r.key_groups.length > 0) {
    keyGroups = r.key_groups.map((g, j) => group(g, path, `${where}.key_groups[${j}]`, others));
  } else {
    if (!isNull(r.key_groups) && !Array.isArray(r.key_groups)) throw invalid(path, `${where}.key_groups must be a list`);
    keyGroups = [keyList(r.age, path, `${where}.age`)];
    for (const k of OTHER_RULE_KEYS) if (nonEmpty(r[k])) others.add(k);
  }
  const threshold = int(r.shamir_threshold, path, `${where}.shamir_threshold`);
  if (threshold !== undefined && threshold < 0) throw invalid(path, `${where}.shamir_threshold cannot be negative`);
  const kind = kinds[0];
  const pathRegex = str(r.path_regex, path, `${where}.path_regex`);
  const out: CreationRule = { keyGroups };
  if (pathRegex) out.pathRegex = pathRegex;
  if (threshold) out.shamirThreshold = threshold;
  if (kind) out.selection = { kind, value: str(r[kind], path, `${where}.${kind}`) as string };
  if (bool(r.mac_only_encrypted, path, `${where}.mac_only_encrypted`)) out.macOnlyEncrypted = true;
  if (others.size) out.otherKeyTypes = [...others];
  return out;
}

function indentOf(v: Node, path: string, where: string): { indent?: number } | undefined {
  if (isNull(v)) return undefined;
  if (!isMap(v)) throw invalid(path, `${where} must be a map`);
  const indent = int(v.indent, path, `${where}.indent`);
  return indent === undefined ? {} : { indent };
}

/**
 * Parses `.sops.yaml` text (config/config.go:126-197). `age` may be a comma string or a list
 * whose entries hold comma lists; `key_groups` with `merge`; `shamir_threshold`; at most one
 * of the six selection keys; `mac_only_encrypted`; `stores.{yaml,json,json_binary}.indent`.
 * Unknown keys are ignored and YAML anchors, aliases and `<<` merges work, as in sops.
 * Recipients and `path_regex` are checked when a rule is used ({@link matchCreationRule}), as
 * sops checks them only for the rule it picks. Throws `SOPS_INVALID_CONFIG`.
 */
export function parseSopsConfig(text: string, path: string): SopsConfig {
  let doc = (parseYamlValue(text, path, (why) => invalid(path, `it is not valid YAML (${why})`), { schema: "failsafe", merge: true, uniqueKeys: true }) ?? undefined) as Node;
  if (isNull(doc)) doc = {};
  if (!isMap(doc)) throw invalid(path, "the top level must be a map");
  if (!isNull(doc.creation_rules) && !Array.isArray(doc.creation_rules)) throw invalid(path, "creation_rules must be a list");
  const creationRules = (Array.isArray(doc.creation_rules) ? doc.creation_rules : []).map((r, i) => rule(r, path, i));
  const stores: SopsConfig["stores"] = {};
  if (!isNull(doc.stores)) {
    if (!isMap(doc.stores)) throw invalid(path, "stores must be a map");
    for (const k of ["yaml", "json", "json_binary"] as const) {
      const s = indentOf(doc.stores[k], path, `stores.${k}`);
      if (s) stores[k] = s;
    }
  }
  return { path, dir: dirname(resolve(path)), creationRules, stores };
}

export function pathRegExp(pattern: string, where = "path_regex"): RegExp {
  return goRegExp(pattern, where);
}

/**
 * The first creation rule whose `path_regex` matches `filePath` (Go RE2, unanchored; a rule
 * without one matches everything), the path made absolute and then relative to the config's
 * directory when the file is under it (config.go:570-611). Throws `SOPS_NO_CREATION_RULE`
 * when no rule matches, and for the rule it picks: `SOPS_INVALID_REGEX` (a pattern that is not
 * RE2), `SOPS_INVALID_RECIPIENT`, `SOPS_UNSUPPORTED_KEY_TYPE` (pgp, kms… recipients boot-meta
 * cannot encrypt for) and `SOPS_INVALID_CONFIG` (a key group without keys).
 */
export function matchCreationRule(config: SopsConfig, filePath: string): CreationRule {
  const abs = resolve(filePath);
  const rel = abs.startsWith(config.dir + sep) ? abs.slice(config.dir.length + 1) : abs;
  const index = config.creationRules.findIndex((r, i) => !r.pathRegex || pathRegExp(r.pathRegex, `path_regex of creation_rules[${i}]`).test(rel));
  const r = config.creationRules[index];
  if (!r) {
    throw new BootMetaError(
      "SOPS_NO_CREATION_RULE",
      config.creationRules.length ? `no creation rule in ${config.path} matches ${rel}` : `${config.path} has no creation_rules, so nothing says whom to encrypt ${rel} for`,
      ExitCode.NoMatchingCreationRules,
      {
        data: { config: config.path, file: rel, pathRegexes: config.creationRules.map((c) => c.pathRegex ?? null) },
        suggestions: ["add a creation rule whose path_regex matches this path (relative to the config's directory), or pass --age"],
      },
    );
  }
  const where = `creation_rules[${index}] of ${config.path}`;
  if (r.otherKeyTypes?.length) {
    throw new BootMetaError(
      "SOPS_UNSUPPORTED_KEY_TYPE",
      `${where} (for ${rel}) also names ${r.otherKeyTypes.join(", ")} keys, which boot-meta cannot encrypt for; encrypting with its age keys alone would lock those readers out`,
      ExitCode.InvalidArgument,
      { data: { config: config.path, file: rel, keyTypes: r.otherKeyTypes }, suggestions: ["use age recipients in this rule, or the sops binary for this file"] },
    );
  }
  const keyGroups = r.keyGroups.map((g) => parseRecipients(g));
  const empty = keyGroups.findIndex((g) => g.length === 0);
  // sops refuses an empty key group (sops.go UpdateMasterKeysWithKeyServices); a rule with no
  // keys at all is left to the caller, which may have --age.
  if (keyGroups.length > 1 && empty >= 0) throw invalid(config.path, `key group ${empty} of creation_rules[${index}] has no age recipients`);
  return { ...r, keyGroups };
}
