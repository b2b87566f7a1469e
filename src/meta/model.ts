import { yamlLib } from "../lazy-yaml.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { parseRecipients } from "../sops/age.js";
import { parseYamlValue } from "../yaml.js";
import { developerOf, parseGovernedPath, validateName } from "./layout.js";

/**
 * `.boot-meta.yaml`: groups of principals and who reads which environment. Readers are
 * principal or group names; `$owner` is the developer a `dev/<name>` folder belongs to.
 * Env keys are exact names, `dev/*` (every developer folder) or `*` (any other env).
 */
export interface MetaConfig {
  version: 1;
  groups: Record<string, string[]>;
  access: { project: string[]; envs: Record<string, string[]> };
  /** Who may change what (policy.ts); absent parts take their defaults there. */
  write?: WriteRules;
  /** Gates on promotions, by project (or `*`) then channel (or `*`): see {@link PromotionGate}. */
  promotion?: Record<string, Record<string, PromotionGate>>;
}

/**
 * `promotion:` in `.boot-meta.yaml`: what a release needs before `channel promote` (and the
 * captain) may point a channel at it. Admin-controlled because the file is the admin area's.
 *
 *     promotion:
 *       shop:                                    # a project, or "*"
 *         stable: { after: beta, soak: 1h, approvals: 1 }
 */
export interface PromotionGate {
  /** The channel a release must have run on first (with `soak`). */
  after?: string;
  /** How long, in seconds, the release must have had all of `after` before. */
  soakSeconds?: number;
  /** How many different principals must have approved the release for this channel (`channel approve`). */
  approvals?: number;
  /** Who may approve (principals or groups); default: those who may write the channel. */
  approvers?: string[];
}

/**
 * `write:` in `.boot-meta.yaml`: who may change which part of the repository, as principals,
 * groups, `$owner` (a developer's own folder) or `*` (any principal with a key). Checked by
 * `boot-meta verify` and by readers given a trust root, against the signer of each commit.
 */
export interface WriteRules {
  /** The rules themselves, keys/, tokens/, subscriptions/ and anything outside a project. */
  admin?: string[];
  /** A project's project.yaml, defaults (config.sops.yaml), schema and anything else in it not below. */
  defaults?: string[];
  /** An env's folder, by env name as in `access.envs` (exact, `dev/*`, `*`); default: the env's readers. */
  envs?: Record<string, string[]>;
  /** A channel's record and its approvals, by channel name or `*`. */
  channels?: Record<string, string[]>;
  /** Releases, binaries (and the digest index), imports. */
  releases?: string[];
  /** Instance reports and the event log. */
  instances?: string[];
  /**
   * How many different admins a change must carry (README "Signed history"): `admin: 2` means
   * a change to the rules, keys/ or anything else in the admin area needs its signer and one
   * more admin's signed approval of exactly that change (default 1: the signer alone).
   */
  quorum?: { admin?: number };
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
  // Names are data: `constructor` or `__proto__` is a group or env like any other, never a
  // property every object inherits.
  const groups: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [g, members] of Object.entries(groupsIn)) groups[validateName("group", g)] = names(members, `groups.${g}`);
  const access = (o.access ?? {}) as Record<string, unknown>;
  const envsIn = (access.envs ?? {}) as Record<string, unknown>;
  const envs: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [e, readers] of Object.entries(envsIn)) envs[e] = names(readers, `access.envs.${e}`);
  const config: MetaConfig = { version: 1, groups, access: { project: names(access.project, "access.project"), envs } };
  if (o.write !== undefined && o.write !== null) config.write = parseWriteRules(o.write);
  if (o.promotion !== undefined && o.promotion !== null) config.promotion = parsePromotion(o.promotion);
  return config;
}

/** `30s`, `5m`, `1h`, `2d` or a plain number of seconds, as seconds. */
function parseSoak(v: unknown, where: string): number {
  const m = typeof v === "number" ? [String(v), String(v), "s"] : typeof v === "string" ? /^(\d+)(s|m|h|d)?$/.exec(v.trim()) : null;
  const n = m ? Number(m[1]) * ({ s: 1, m: 60, h: 3600, d: 86_400 } as const)[(m[2] ?? "s") as "s" | "m" | "h" | "d"] : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${where} must be a duration like 30s, 5m, 1h or 2d, got ${JSON.stringify(v)}`);
  return n;
}

function parsePromotion(v: unknown): Record<string, Record<string, PromotionGate>> {
  const isMap = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
  if (!isMap(v)) throw invalid("promotion must be a map of projects (or *) to channels (or *) to gates: { after, soak, approvals, approvers }");
  const out: Record<string, Record<string, PromotionGate>> = Object.create(null) as Record<string, Record<string, PromotionGate>>;
  for (const [project, channels] of Object.entries(v)) {
    if (!isMap(channels)) throw invalid(`promotion.${project} must be a map of channels (or *) to gates`);
    const byChannel: Record<string, PromotionGate> = Object.create(null) as Record<string, PromotionGate>;
    for (const [channel, g] of Object.entries(channels)) {
      const where = `promotion.${project}.${channel}`;
      if (!isMap(g)) throw invalid(`${where} must be a map: { after, soak, approvals, approvers }`);
      const unknown = Object.keys(g).filter((k) => !["after", "soak", "approvals", "approvers"].includes(k));
      if (unknown.length) throw invalid(`${where}.${unknown[0]} is not a gate (after, soak, approvals, approvers)`);
      const gate: PromotionGate = {};
      if (g.after !== undefined) {
        if (typeof g.after !== "string") throw invalid(`${where}.after must be a channel name`);
        gate.after = validateName("env", g.after);
      }
      if (g.soak !== undefined) {
        if (gate.after === undefined) throw invalid(`${where}.soak needs after: the channel the release soaks on first`);
        gate.soakSeconds = parseSoak(g.soak, `${where}.soak`);
      }
      if (g.approvals !== undefined) {
        if (!Number.isInteger(g.approvals) || (g.approvals as number) < 0 || (g.approvals as number) > 100) throw invalid(`${where}.approvals must be a whole number of approvals from 0 to 100`);
        gate.approvals = g.approvals as number;
      }
      if (g.approvers !== undefined) gate.approvers = names(g.approvers, `${where}.approvers`);
      byChannel[channel] = gate;
    }
    out[project] = byChannel;
  }
  return out;
}

/** The gate on promotions to `channel` of `project`: its own rule, else `*`'s (project first, then channel); undefined when none. */
export function promotionGate(c: MetaConfig, project: string, channel: string): { gate: PromotionGate; rule: string } | undefined {
  const p = c.promotion;
  if (!p) return undefined;
  for (const pk of [project, "*"]) {
    const chans = own(p, pk);
    if (!chans) continue;
    for (const ck of [channel, "*"]) {
      const gate = own(chans, ck);
      if (gate) return { gate, rule: `promotion.${pk}.${ck}` };
    }
  }
  return undefined;
}

function parseWriteRules(v: unknown): WriteRules {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw invalid("write must be a map (admin, defaults, envs, channels, releases, instances)");
  const w = v as Record<string, unknown>;
  const known = ["admin", "defaults", "envs", "channels", "releases", "instances", "quorum"];
  const unknown = Object.keys(w).filter((k) => !known.includes(k));
  if (unknown.length) throw invalid(`write.${unknown[0]} is not a part of the repository rules can name (${known.join(", ")})`);
  const byName = (x: unknown, where: string): Record<string, string[]> => {
    if (typeof x !== "object" || x === null || Array.isArray(x)) throw invalid(`${where} must be a map of names to lists`);
    const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
    for (const [k, list] of Object.entries(x)) out[k] = names(list, `${where}.${k}`);
    return out;
  };
  const rules: WriteRules = {};
  for (const k of ["admin", "defaults", "releases", "instances"] as const) if (w[k] !== undefined) rules[k] = names(w[k], `write.${k}`);
  if (w.envs !== undefined) rules.envs = byName(w.envs, "write.envs");
  if (w.channels !== undefined) rules.channels = byName(w.channels, "write.channels");
  if (w.quorum !== undefined) {
    const q = w.quorum as Record<string, unknown>;
    if (typeof q !== "object" || q === null || Array.isArray(q) || Object.keys(q).some((k) => k !== "admin")) throw invalid("write.quorum must be a map with admin: a number of admins");
    if (q.admin !== undefined) {
      if (!Number.isInteger(q.admin) || (q.admin as number) < 1 || (q.admin as number) > 100) throw invalid("write.quorum.admin must be a whole number of admins from 1 to 100");
      rules.quorum = { admin: q.admin as number };
    }
  }
  return rules;
}

export function renderMetaConfig(c: MetaConfig): string {
  return `# boot-meta repository settings: groups of principals (keys/<name>.txt) and who reads what.
# Readers are principals or groups; $owner is the developer a dev/<name> folder belongs to.
# After editing, commit, then run \`boot-meta access sync\` to regenerate .sops.yaml and re-key files.
${yamlLib().stringify(c.promotion ? { ...c, promotion: renderPromotion(c.promotion) } : c, { indent: 2, lineWidth: 0 })}`;
}

/** The gates as `.boot-meta.yaml` says them (`soak: 3600s`), so a rendered file parses back. */
function renderPromotion(p: Record<string, Record<string, PromotionGate>>): Record<string, Record<string, Record<string, unknown>>> {
  const out: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const [project, chans] of Object.entries(p)) {
    out[project] = {};
    for (const [channel, { soakSeconds, ...g }] of Object.entries(chans)) (out[project] as Record<string, Record<string, unknown>>)[channel] = { ...g, ...(soakSeconds === undefined ? {} : { soak: `${soakSeconds}s` }) };
  }
  return out;
}

/** The reader names (before group expansion) for an env. */
export function envReaders(c: MetaConfig, env: string): string[] {
  return own(c.access.envs, env) ?? (developerOf(env) ? own(c.access.envs, "dev/*") : undefined) ?? own(c.access.envs, "*") ?? [];
}

/** A name's entry in a map of names; never an inherited property (`constructor`, `toString`). */
export const own = <T>(map: Record<string, T>, name: string): T | undefined => (Object.hasOwn(map, name) ? map[name] : undefined);

/** Expands groups and `$owner` into principal names (sorted, unique). */
export function expandReaders(c: MetaConfig, readers: string[], owner?: string): string[] {
  const out = new Set<string>();
  for (const r of readers) {
    if (r === "$owner") {
      if (owner) out.add(owner);
    } else if (own(c.groups, r)) for (const m of own(c.groups, r) as string[]) out.add(m);
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

/** The principals allowed to read a governed file of the layout, or undefined for other paths. */
export function readersOfPath(c: MetaConfig, path: string): string[] | undefined {
  const p = parseGovernedPath(path);
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
 * the right recipients. Every rule is anchored to a project boot-meta knows (a directory
 * with a project.yaml) and routes exactly the paths that `access check`, `keys add/remove`
 * and `access sync` govern — the project's `config.sops.yaml` and any file in its env
 * folders — so no file is encrypted by a rule that nothing keeps up to date. Within a
 * project the most specific rule comes first (developer folders, named envs, any dev folder,
 * any env, the defaults), because sops takes the first match.
 */
export function renderSopsYaml(s: RepoState): string {
  const devFolders = new Map<string, Set<string>>();
  for (const f of s.files) {
    const p = parseGovernedPath(f);
    const d = p?.env ? developerOf(p.env) : undefined;
    if (p && d) devFolders.set(p.project, (devFolders.get(p.project) ?? new Set()).add(d));
  }
  const envs = s.config.access.envs;
  const named = Object.keys(envs).filter((e) => e !== "*" && e !== "dev/*").sort((a, b) => b.split("/").length - a.split("/").length || (a < b ? -1 : a > b ? 1 : 0));
  const rules: { comment: string; regex: string; readers: string[]; owner?: string }[] = [];
  for (const project of [...s.projects].sort()) {
    const at = `^${esc(project)}/`;
    for (const d of [...(devFolders.get(project) ?? [])].sort()) rules.push({ comment: `${project} dev/${d}`, regex: `${at}envs/dev/${esc(d)}/[^/]+$`, readers: envReaders(s.config, `dev/${d}`), owner: d });
    for (const e of named) rules.push({ comment: `${project} ${e}`, regex: `${at}envs/${esc(e)}/[^/]+$`, readers: envs[e] as string[] });
    if (Object.hasOwn(envs, "dev/*")) rules.push({ comment: `${project} dev/* (no owner known: the rule's other readers only)`, regex: `${at}envs/dev/[^/]+/[^/]+$`, readers: envs["dev/*"] as string[] });
    if (Object.hasOwn(envs, "*")) rules.push({ comment: `${project} any other env`, regex: `${at}envs/.+/[^/]+$`, readers: envs["*"] as string[] });
    rules.push({ comment: `${project} defaults`, regex: `${at}config\\.sops\\.yaml$`, readers: s.config.access.project });
  }
  const lines = ["# Generated by boot-meta from .boot-meta.yaml and keys/ — do not edit by hand;", "# run `boot-meta access sync` after changing either. The sops CLI uses these rules too.", "creation_rules:"];
  for (const r of rules) {
    const principals = expandReaders(s.config, r.readers, r.owner);
    const recipients = recipientsOf(s, principals).recipients;
    if (recipients.length === 0) continue;
    // Names are written into a YAML comment: one with a line break would add lines of its own.
    lines.push(`  # ${oneLine(`${r.comment}: ${principals.join(", ")}`)}`, `  - path_regex: ${JSON.stringify(r.regex)}`, "    age: >-");
    lines.push(`      ${recipients.join(",\n      ")}`);
  }
  if (lines.length === 3) lines[2] = "creation_rules: []";
  return `${lines.join("\n")}\n`;
}

/** Text for a one-line comment: control characters escaped as in JSON. */
const oneLine = (s: string) => s.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
