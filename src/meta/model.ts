import { stringify } from "yaml";
import { BootMetaError, ExitCode } from "../errors.js";
import { parseRecipients } from "../sops/age.js";
import { parseYamlValue } from "../yaml.js";
import { developerOf, parseConfigPath, validateName } from "./layout.js";

/**
 * `.boot-meta.yaml`: groups of principals and who reads which environment. Readers are
 * principal or group names; `$owner` is the developer a `dev/<name>` folder belongs to.
 * Env keys are exact names, `dev/*` (every developer folder) or `*` (any other env).
 */
export interface MetaConfig {
  version: 1;
  groups: Record<string, string[]>;
  access: { project: string[]; envs: Record<string, string[]> };
}

export const DEFAULT_META_CONFIG: MetaConfig = {
  version: 1,
  groups: { admins: [], developers: [], "prod-servers": [], ci: [] },
  access: {
    project: ["admins", "developers", "ci", "prod-servers"],
    envs: {
      dev: ["admins", "developers"],
      "dev/*": ["admins", "$owner"],
      stage: ["admins", "ci"],
      prod: ["admins", "prod-servers"],
      "*": ["admins"],
    },
  },
};

function invalid(why: string): BootMetaError {
  return new BootMetaError("META_INVALID_CONFIG", `.boot-meta.yaml is invalid: ${why}`, ExitCode.InvalidFormat, {
    suggestions: ["fix it by hand (it is plain YAML) or restore it from git history"],
  });
}

const names = (v: unknown, where: string): string[] => {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw invalid(`${where} must be a list of names`);
  return v as string[];
};

export function parseMetaConfig(text: string): MetaConfig {
  const doc = parseYamlValue(text, ".boot-meta.yaml", invalid);
  if (typeof doc !== "object" || doc === null) throw invalid("the top level must be a map");
  const o = doc as Record<string, unknown>;
  if (o.version !== 1) throw invalid(`version ${JSON.stringify(o.version)} is not supported (this boot-meta reads version 1)`);
  const groupsIn = (o.groups ?? {}) as Record<string, unknown>;
  const groups: Record<string, string[]> = {};
  for (const [g, members] of Object.entries(groupsIn)) groups[validateName("group", g)] = names(members, `groups.${g}`);
  const access = (o.access ?? {}) as Record<string, unknown>;
  const envsIn = (access.envs ?? {}) as Record<string, unknown>;
  const envs: Record<string, string[]> = {};
  for (const [e, readers] of Object.entries(envsIn)) envs[e] = names(readers, `access.envs.${e}`);
  return { version: 1, groups, access: { project: names(access.project, "access.project"), envs } };
}

export function renderMetaConfig(c: MetaConfig): string {
  return `# boot-meta repository settings: groups of principals (keys/<name>.txt) and who reads what.
# Readers are principals or groups; $owner is the developer a dev/<name> folder belongs to.
# After editing, run \`boot-meta access sync\` to regenerate .sops.yaml and re-key files.
${stringify(c, { indent: 2, lineWidth: 0 })}`;
}

/** The reader names (before group expansion) for an env. */
export function envReaders(c: MetaConfig, env: string): string[] {
  if (c.access.envs[env]) return c.access.envs[env] as string[];
  if (developerOf(env) && c.access.envs["dev/*"]) return c.access.envs["dev/*"] as string[];
  return c.access.envs["*"] ?? [];
}

/** Expands groups and `$owner` into principal names (sorted, unique). */
export function expandReaders(c: MetaConfig, readers: string[], owner?: string): string[] {
  const out = new Set<string>();
  for (const r of readers) {
    if (r === "$owner") {
      if (owner) out.add(owner);
    } else if (c.groups[r]) for (const m of c.groups[r] as string[]) out.add(m);
    else out.add(r);
  }
  return [...out].sort();
}

/** Who opens a sealed record (see layout.ts SEALED_SUFFIX): an env's readers, or the project's. */
export function sealedReaders(c: MetaConfig, env?: string): string[] {
  return env ? expandReaders(c, envReaders(c, env), developerOf(env)) : expandReaders(c, c.access.project);
}

/** Recipients of a set of principals (sorted, unique), and those of them with no key. */
export function recipientsOf(s: Pick<RepoState, "keys">, readers: string[]): { recipients: string[]; missingKeys: string[] } {
  const recipients = new Set<string>();
  const missingKeys: string[] = [];
  for (const r of readers) {
    const k = s.keys.get(r);
    if (!k || k.length === 0) missingKeys.push(r);
    else for (const x of k) recipients.add(x);
  }
  return { recipients: [...recipients].sort(), missingKeys };
}

/** The principals allowed to read a config file of the layout, or undefined for other paths. */
export function readersOfPath(c: MetaConfig, path: string): string[] | undefined {
  const p = parseConfigPath(path);
  if (!p) return undefined;
  if (p.env === undefined) return expandReaders(c, c.access.project);
  return expandReaders(c, envReaders(c, p.env), developerOf(p.env));
}

/** keys/<principal>.txt: public keys only, one per line, `#` comments. */
export function parsePrincipalKeys(text: string, name: string): string[] {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
  if (lines.some((l) => l.toUpperCase().startsWith("AGE-SECRET-KEY"))) throw privateKeyRefused(`keys/${name}.txt`);
  return parseRecipients(lines);
}

export function privateKeyRefused(where: string): BootMetaError {
  return new BootMetaError("META_PRIVATE_KEY_REFUSED", `${where} holds a private age key (AGE-SECRET-KEY-…); only public keys (age1…) belong in the meta repository`, ExitCode.InvalidArgument, {
    suggestions: ["give the public key instead: `age-keygen -y key.txt` prints it", "if a private key was committed, treat it as leaked: rotate it"],
  });
}

export interface RepoState {
  config: MetaConfig;
  /** every project (directories holding a project.yaml) */
  projects: string[];
  /** principal → age recipients */
  keys: Map<string, string[]>;
  /** the config files: each project's config.sops.yaml and every file under <project>/envs/ */
  files: string[];
}

/** Recipients a file must be encrypted to under the rules (sorted), and who they belong to. */
export function expectedAccess(s: RepoState, path: string): { readers: string[]; recipients: string[]; missingKeys: string[] } | undefined {
  const readers = readersOfPath(s.config, path);
  if (!readers) return undefined;
  return { readers, ...recipientsOf(s, readers) };
}

/** The principal names a set of recipients belongs to (for messages that name people, not keys). */
export function principalsOf(s: RepoState, recipients: string[]): string[] {
  const out = new Set<string>();
  for (const r of recipients) {
    let found = false;
    for (const [name, ks] of s.keys) if (ks.includes(r)) (out.add(name), (found = true));
    if (!found) out.add(`${r.slice(0, 12)}… (unknown key)`);
  }
  return [...out].sort();
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * `.sops.yaml` generated from the rules, so the sops CLI encrypts new files in this repo to
 * the right recipients: most specific rule first (developer folders, named envs, any dev
 * folder, any env, project defaults), because sops takes the first match.
 */
export function renderSopsYaml(s: RepoState): string {
  const devFolders = new Set<string>();
  for (const f of s.files) {
    const p = parseConfigPath(f);
    const d = p?.env ? developerOf(p.env) : undefined;
    if (d) devFolders.add(d);
  }
  const rules: { comment: string; regex: string; readers: string[]; owner?: string }[] = [];
  for (const d of [...devFolders].sort()) rules.push({ comment: `dev/${d}`, regex: `(^|/)envs/dev/${esc(d)}/[^/]+$`, readers: envReaders(s.config, `dev/${d}`), owner: d });
  const named = Object.keys(s.config.access.envs).filter((e) => e !== "*" && e !== "dev/*").sort((a, b) => b.split("/").length - a.split("/").length || a.localeCompare(b));
  for (const e of named) rules.push({ comment: e, regex: `(^|/)envs/${esc(e)}/[^/]+$`, readers: s.config.access.envs[e] as string[] });
  if (s.config.access.envs["dev/*"]) rules.push({ comment: "dev/* (no owner known: admins of the rule only)", regex: "(^|/)envs/dev/[^/]+/[^/]+$", readers: s.config.access.envs["dev/*"] as string[] });
  if (s.config.access.envs["*"]) rules.push({ comment: "any other env", regex: "(^|/)envs/.+/[^/]+$", readers: s.config.access.envs["*"] as string[] });
  rules.push({ comment: "project defaults", regex: "(^|/)config\\.sops\\.yaml$", readers: s.config.access.project });
  const lines = ["# Generated by boot-meta from .boot-meta.yaml and keys/ — do not edit by hand;", "# run `boot-meta access sync` after changing either. The sops CLI uses these rules too.", "creation_rules:"];
  for (const r of rules) {
    const principals = expandReaders(s.config, r.readers, r.owner);
    const recipients = [...new Set(principals.flatMap((p) => s.keys.get(p) ?? []))].sort();
    if (recipients.length === 0) continue;
    lines.push(`  # ${r.comment}: ${principals.join(", ")}`, `  - path_regex: ${JSON.stringify(r.regex)}`, "    age: >-");
    lines.push(`      ${recipients.join(",\n      ")}`);
  }
  if (lines.length === 3) lines[2] = "creation_rules: []";
  return `${lines.join("\n")}\n`;
}
