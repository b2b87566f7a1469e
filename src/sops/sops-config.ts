import { access } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import { parse } from "yaml";
import { BootMetaError, ExitCode } from "../errors.js";
import { parseRecipients } from "./age.js";
import { goRegExp } from "./regex.js";
import { SELECTION_KINDS, type SelectionRule } from "./selection.js";

export type { SelectionRule } from "./selection.js";

/** A `creation_rules` entry, reduced to what an age-only engine uses. */
export interface CreationRule {
  pathRegex?: string;
  /** Age recipients per key group (merged groups first, as config.go:311-361). */
  keyGroups: string[][];
  shamirThreshold?: number;
  selection?: SelectionRule;
  macOnlyEncrypted?: boolean;
}

export interface SopsConfig {
  path: string;
  dir: string;
  creationRules: CreationRule[];
  stores: { yaml?: { indent?: number }; json?: { indent?: number }; json_binary?: { indent?: number } };
}

const NAME = ".sops.yaml";

/**
 * Finds `.sops.yaml` as sops does (config/config.go:55-94): from the current directory (not
 * the file's) upward, at most 100 levels; `--config`/SOPS_CONFIG win.
 */
export async function findSopsConfig(startDir: string, opts: { explicitPath?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string | undefined> {
  const explicit = opts.explicitPath ?? (opts.env ?? process.env).SOPS_CONFIG;
  if (explicit) {
    const p = resolve(startDir, explicit);
    try {
      await access(p);
    } catch {
      throw new BootMetaError("SOPS_NO_CONFIG", `the config file ${p} does not exist`, ExitCode.FileNotFound, { data: { path: p } });
    }
    return p;
  }
  let dir = resolve(startDir);
  for (let i = 0; i < 100; i++) {
    const p = join(dir, NAME);
    try {
      await access(p);
      return p;
    } catch {
      /* keep walking up */
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

function invalid(path: string, why: string): BootMetaError {
  return new BootMetaError("SOPS_INVALID_CONFIG", `${path}: ${why}`, ExitCode.InvalidFormat, { data: { path } });
}

/** `age: a,b` or `age: [a, "b,c"]`: entries may themselves hold comma lists. */
function ageList(v: unknown, path: string, where: string): string[] {
  if (v === undefined || v === null) return [];
  const items = typeof v === "string" ? [v] : Array.isArray(v) ? v : undefined;
  if (!items || items.some((x) => typeof x !== "string")) throw invalid(path, `${where} must be a string or a list of strings`);
  return parseRecipients(items as string[]);
}

function groupRecipients(g: unknown, path: string, where: string): string[] {
  if (typeof g !== "object" || g === null || Array.isArray(g)) throw invalid(path, `${where} must be a map`);
  const o = g as Record<string, unknown>;
  const merged = Array.isArray(o.merge) ? o.merge.flatMap((m, i) => groupRecipients(m, path, `${where}.merge[${i}]`)) : [];
  return [...new Set([...merged, ...ageList(o.age, path, `${where}.age`)])];
}

export function parseSopsConfig(text: string, path: string): SopsConfig {
  let doc: unknown;
  try {
    doc = parse(text, { maxAliasCount: 1000 }) ?? {};
  } catch (e) {
    throw invalid(path, `not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalid(path, "the top level must be a map");
  const o = doc as Record<string, unknown>;
  const rules = o.creation_rules ?? [];
  if (!Array.isArray(rules)) throw invalid(path, "creation_rules must be a list");
  const creationRules = rules.map((r, i): CreationRule => {
    if (typeof r !== "object" || r === null) throw invalid(path, `creation_rules[${i}] must be a map`);
    const rule = r as Record<string, unknown>;
    const where = `creation_rules[${i}]`;
    const kinds = SELECTION_KINDS.filter((k) => typeof rule[k] === "string" && rule[k] !== "");
    if (kinds.length > 1) throw invalid(path, `${where} names more than one of ${kinds.join(", ")}; sops allows one`);
    const pathRegex = typeof rule.path_regex === "string" && rule.path_regex !== "" ? rule.path_regex : undefined;
    if (pathRegex) goRegExp(pathRegex, `${where}.path_regex`);
    // With key_groups, the rule's own top-level keys are ignored (config.go:371-451).
    const keyGroups = Array.isArray(rule.key_groups) ? rule.key_groups.map((g, j) => groupRecipients(g, path, `${where}.key_groups[${j}]`)) : [ageList(rule.age, path, `${where}.age`)];
    const threshold = rule.shamir_threshold;
    if (threshold !== undefined && (typeof threshold !== "number" || !Number.isInteger(threshold) || threshold < 0)) throw invalid(path, `${where}.shamir_threshold must be a whole number`);
    const kind = kinds[0];
    return {
      pathRegex,
      keyGroups,
      shamirThreshold: threshold === undefined || threshold === 0 ? undefined : threshold,
      selection: kind ? { kind, value: rule[kind] as string } : undefined,
      macOnlyEncrypted: rule.mac_only_encrypted === true ? true : undefined,
    };
  });
  const stores = (typeof o.stores === "object" && o.stores !== null ? o.stores : {}) as SopsConfig["stores"];
  return { path, dir: dirname(resolve(path)), creationRules, stores };
}

/**
 * The first rule whose `path_regex` matches the file path, made relative to the config's
 * directory when the file is under it (config.go:570-611); a rule without one matches all.
 */
export function matchCreationRule(config: SopsConfig, filePath: string): CreationRule {
  const abs = isAbsolute(filePath) ? filePath : resolve(filePath);
  const rel = abs.startsWith(config.dir + sep) ? abs.slice(config.dir.length + 1) : abs;
  for (const r of config.creationRules) {
    if (!r.pathRegex || goRegExp(r.pathRegex, "path_regex").test(rel)) return r;
  }
  throw new BootMetaError("SOPS_NO_CREATION_RULE", `no creation rule in ${config.path} matches ${rel}`, ExitCode.NoMatchingCreationRules, {
    data: { config: config.path, file: rel },
    suggestions: ["add a rule whose path_regex matches this file, or pass --age"],
  });
}
