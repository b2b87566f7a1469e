import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { stringify } from "yaml";
import { BootMetaError, ExitCode } from "../errors.js";
import { decodeUtf8 } from "../limits.js";
import { encryptBytes, readRecipients, rotateBytes, updateKeysBytes } from "../sops/engine.js";
import type { IdentitySet } from "../sops/identities.js";
import { withReader } from "./reader.js";
import { Git } from "./git.js";
import { CONFIG_FILE, defaultsFile, envFile, KEYS_DIR, META_CONFIG, PROJECT_DIRS, PROJECT_FILE, parseConfigPath, projectFile, SEALABLE_DIRS, SEALED_SUFFIX, SOPS_CONFIG, validateName } from "./layout.js";
import { DEFAULT_META_CONFIG, expectedAccess, type MetaConfig, parseMetaConfig, parsePrincipalKeys, principalsOf, recipientsOf, renderMetaConfig, renderSopsYaml, type RepoState, sealedReaders } from "./model.js";
import { commitChanges, type CommitOptions, type CommitResult, type Tx } from "./store.js";

export interface WriteOptions {
  author?: string;
  push?: boolean;
  onProgress?: (line: string) => void;
}

const commitOpts = <T>(o: WriteOptions, message: CommitOptions<T>["message"]): CommitOptions<T> => ({ message, author: o.author, push: o.push });
type Rekeyed = { rewrapped: string[]; rotated: string[] };

/**
 * Reads the repository's settings, keys and config files as the transaction sees them: only
 * keys/ and each project's config and envs/ are listed, so a meta repo with 100,000 records
 * costs no more here than an empty one.
 */
export async function readState(tx: Pick<Tx, "read" | "list" | "children">): Promise<RepoState> {
  const raw = await tx.read(META_CONFIG);
  if (!raw) {
    throw new BootMetaError("META_NOT_INITIALISED", `this repository has no ${META_CONFIG}: it is not a boot-meta meta repository`, ExitCode.General, {
      suggestions: ["run `boot-meta init` in it first"],
    });
  }
  const config = parseMetaConfig(decodeUtf8(raw, META_CONFIG));
  const keys = new Map<string, string[]>();
  for (const c of await tx.children(KEYS_DIR)) {
    const m = /^([^/]+)\.txt$/.exec(c.name);
    if (c.dir || !m) continue;
    const text = decodeUtf8((await tx.read(`${KEYS_DIR}/${c.name}`)) ?? new Uint8Array(), `${KEYS_DIR}/${c.name}`);
    keys.set(m[1] as string, parsePrincipalKeys(text, m[1] as string));
  }
  const files: string[] = [];
  const projects: string[] = [];
  // Every config file, wherever its project sits (project names may have slashes); the
  // record directories beside a project.yaml, and the digest index, are not descended into.
  const walk = async (dir: string): Promise<void> => {
    const entries = await tx.children(dir);
    const isProject = entries.some((c) => !c.dir && c.name === PROJECT_FILE);
    if (isProject) projects.push(dir);
    const at = dir === "" ? "" : `${dir}/`;
    for (const c of entries) {
      if (!c.dir) {
        if (c.name === CONFIG_FILE) files.push(`${at}${c.name}`);
      } else if (c.name === "envs") files.push(...(await tx.list(`${at}envs`)));
      else if (!(isProject && PROJECT_DIRS.includes(c.name)) && !(dir === "" && (c.name === KEYS_DIR || c.name === "binaries"))) await walk(`${at}${c.name}`);
    }
  };
  await walk("");
  return { config, projects: projects.sort(), keys, files: files.sort() };
}

/** An encrypted file the access rules govern: its recipients now, and those the rules want. */
export interface Governed {
  path: string;
  format: "yaml" | "json";
  /** undefined when the file is not a readable sops file (`error` says why) */
  now: string[] | undefined;
  error?: unknown;
  readers: string[];
  want: string[];
  missingKeys: string[];
}

/**
 * Every file the rules govern: the config files, and the sealed records of every project
 * (only their record directories that can hold sealed records are listed).
 */
export async function governedFiles(r: Pick<Tx, "read" | "children">, state: RepoState): Promise<Governed[]> {
  const out: Governed[] = [];
  const recipientsIn = (bytes: Uint8Array, format: "yaml" | "json", path: string): { now: string[] | undefined; error?: unknown } => {
    try {
      return { now: readRecipients(bytes, format, path).flat().sort() };
    } catch (error) {
      return { now: undefined, error };
    }
  };
  for (const path of state.files) {
    if (!path.endsWith(`/${CONFIG_FILE}`) || !parseConfigPath(path)) continue;
    const bytes = await r.read(path);
    const access = expectedAccess(state, path);
    if (!bytes || !access) continue;
    out.push({ path, format: "yaml", ...recipientsIn(bytes, "yaml", path), readers: access.readers, want: access.recipients, missingKeys: access.missingKeys });
  }
  for (const project of state.projects) {
    for (const dir of SEALABLE_DIRS) {
      const walk = async (at: string): Promise<void> => {
        for (const c of await r.children(at)) {
          const path = `${at}/${c.name}`;
          if (c.dir) await walk(path);
          else if (c.name.endsWith(SEALED_SUFFIX)) {
            const bytes = (await r.read(path)) as Uint8Array;
            let env: string | undefined;
            try {
              const v = (JSON.parse(Buffer.from(bytes).toString("utf8")) as { sealedEnv?: unknown }).sealedEnv;
              env = typeof v === "string" && v !== "" ? v : undefined;
            } catch {
              /* not JSON: reported as not a sops file below */
            }
            const readers = sealedReaders(state.config, env);
            const { recipients, missingKeys } = recipientsOf(state, readers);
            out.push({ path, format: "json", ...recipientsIn(bytes, "json", path), readers, want: recipients, missingKeys });
          }
        }
      };
      await walk(`${project}/${dir}`);
    }
  }
  return out;
}

/** Reads the state at a commit (default HEAD) without writing. */
export async function readStateAt(repoDir: string, at = "HEAD"): Promise<RepoState & { commit: string; git: Git }> {
  const git = await Git.open(repoDir);
  return withReader(git.dir, at, async (r) => ({ ...(await readState(r)), commit: r.commit, git }));
}

const REPO_README = `# Meta repository (boot-meta)

This repository holds the meta data of live systems: per project and environment config and
feature flags (SOPS files encrypted to age keys — each reader opens only what its key allows),
and the records of releases, channels, binaries and instances.

- \`.boot-meta.yaml\`: groups of principals and who reads which environment.
- \`.sops.yaml\`: generated from it, so the \`sops\` CLI works here too.
- \`keys/<name>.txt\`: public age keys (never private ones).
- \`<project>/envs/<env>/config.sops.yaml\`: config per environment; \`envs/dev/<developer>/\` per developer.

Use \`boot-meta --help\`; every command has \`--json\`.
`;

/** `boot-meta init`: a meta repository (git init when needed), committed. */
export async function initRepo(dir: string, o: WriteOptions & { config?: MetaConfig } = {}): Promise<CommitResult<{ dir: string }>> {
  const abs = resolve(dir);
  await mkdir(abs, { recursive: true });
  if (!existsSync(resolve(abs, ".git"))) await Git.init(abs);
  return commitChanges(abs, commitOpts(o, "boot-meta: initialise the meta repository\n\nGroups, access rules and the generated .sops.yaml; keys are added with `boot-meta keys add`."), async (tx) => {
    if (await tx.read(META_CONFIG)) {
      throw new BootMetaError("META_ALREADY_INITIALISED", `${abs} is already a boot-meta meta repository`, ExitCode.General, { suggestions: ["nothing to do; see `boot-meta access show`"] });
    }
    const config = o.config ?? DEFAULT_META_CONFIG;
    tx.write(META_CONFIG, renderMetaConfig(config));
    tx.write(`${KEYS_DIR}/README.md`, "Public age keys of principals, one file per person, machine group or CI: `<name>.txt`.\n");
    tx.write("README.md", REPO_README);
    tx.write(SOPS_CONFIG, renderSopsYaml({ config, projects: [], keys: new Map(), files: [] }));
    return { dir: abs };
  });
}

/** `boot-meta project create NAME`. */
export async function createProject(repoDir: string, name: string, o: WriteOptions & { repos?: string[]; owners?: string[] } = {}) {
  validateName("project", name);
  return commitChanges(repoDir, commitOpts(o, `project: create ${name}`), async (tx) => {
    await readState(tx);
    if (await tx.read(projectFile(name))) throw new BootMetaError("META_EXISTS", `the project ${name} already exists`, ExitCode.General);
    tx.write(projectFile(name), stringify({ name, repos: o.repos ?? [], owners: o.owners ?? [] }));
    return { project: name };
  });
}

async function requireProject(tx: Tx, project: string): Promise<void> {
  validateName("project", project);
  if (!(await tx.read(projectFile(project)))) {
    throw new BootMetaError("META_NO_PROJECT", `there is no project ${project} in this meta repository`, ExitCode.General, { suggestions: [`create it with \`boot-meta project create ${project}\``] });
  }
}

/** Encrypts a new config file to the recipients the rules give it. */
export async function newConfigFile(state: RepoState, path: string, plaintext = "{}\n"): Promise<Uint8Array> {
  const access = expectedAccess(state, path);
  if (!access || access.recipients.length === 0) {
    throw new BootMetaError("META_NO_READERS", `nobody with a key may read ${path}: the rules name ${access?.readers.join(", ") || "no one"}, and none of them has a key in keys/`, ExitCode.General, {
      suggestions: ["add keys first: `boot-meta keys add NAME --key age1… --group admins`"],
    });
  }
  return encryptBytes(Buffer.from(plaintext), { format: "yaml", keyGroups: [access.recipients], path });
}

/** `boot-meta env create PROJECT ENV`: an empty encrypted config for the env. */
export async function createEnv(repoDir: string, project: string, env: string, o: WriteOptions = {}) {
  validateName("env", env);
  const path = envFile(project, env);
  return commitChanges(repoDir, commitOpts(o, `env: create ${project}/${env}`), async (tx) => {
    await requireProject(tx, project);
    if (await tx.read(path)) throw new BootMetaError("META_EXISTS", `${project} already has the env ${env}`, ExitCode.General);
    const state = await readState(tx);
    tx.write(path, await newConfigFile({ ...state, files: [...state.files, path] }, path));
    // A new developer folder gets its own creation rule in .sops.yaml.
    tx.write(SOPS_CONFIG, renderSopsYaml({ ...state, files: [...state.files, path] }));
    return { project, env, path };
  });
}

export interface RekeyPlan {
  updatekeys: { path: string; format: "yaml" | "json"; recipients: string[] }[];
  rotate: { path: string; format: "yaml" | "json"; recipients: string[] }[];
}

/**
 * Which encrypted files need new recipients (pure: read → plan → apply). A file that lost a
 * recipient is rotated (new data key: the removed reader opens nothing written after); a
 * file that only gained recipients is re-wrapped; a file already right is left alone, so
 * re-running after an interruption does only what is left.
 */
export function planRekey(files: Governed[]): RekeyPlan {
  const plan: RekeyPlan = { updatekeys: [], rotate: [] };
  for (const { path, format, now, want, error } of files) {
    // A governed file that is not a sops file cannot be re-keyed: a key removal that skipped
    // it would report success while the file stays readable. `access check` shows it too.
    if (!now) throw error;
    if (want.length === 0) continue;
    const removed = now.filter((r) => !want.includes(r));
    const added = want.filter((r) => !now.includes(r));
    if (removed.length) plan.rotate.push({ path, format, recipients: want });
    else if (added.length) plan.updatekeys.push({ path, format, recipients: want });
  }
  return plan;
}

async function applyRekey(tx: Tx, plan: RekeyPlan, identities: IdentitySet, progress?: (line: string) => void): Promise<void> {
  const total = plan.updatekeys.length + plan.rotate.length;
  let n = 0;
  for (const { path, format, recipients } of plan.updatekeys) {
    const r = await updateKeysBytes((await tx.read(path)) as Uint8Array, { format, keyGroups: [recipients], identities, path });
    tx.write(path, r.bytes);
    progress?.(`[${++n}/${total}] re-wrapped ${path}`);
  }
  for (const { path, format, recipients } of plan.rotate) {
    tx.write(path, await rotateBytes((await tx.read(path)) as Uint8Array, { format, identities, keyGroups: [recipients], path }));
    progress?.(`[${++n}/${total}] rotated ${path}`);
  }
}

async function rekeyAll(tx: Tx, state: RepoState, identities: IdentitySet, progress?: (line: string) => void): Promise<RekeyPlan> {
  const plan = planRekey(await governedFiles(tx, state));
  await applyRekey(tx, plan, identities, progress);
  tx.write(SOPS_CONFIG, renderSopsYaml(state));
  return plan;
}

/** `boot-meta keys add NAME --key age1…`: the principal can read what the rules give it, from now on. */
export async function addKey(repoDir: string, name: string, keys: string[], o: WriteOptions & { group?: string; identities: IdentitySet }) {
  validateName("principal", name);
  if (o.group) validateName("group", o.group);
  const recipients = parsePrincipalKeys(keys.join("\n"), name);
  if (recipients.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "give at least one public key with --key age1…", ExitCode.InvalidArgument);
  return commitChanges(
    repoDir,
    commitOpts(o, (v: Rekeyed) =>
        `keys: add ${name}${o.group ? ` to ${o.group}` : ""}\n\n${name} may now read ${v.rewrapped.length + v.rotated.length} file(s); their data keys were re-wrapped for the new recipients (values untouched).\n${[...v.rewrapped, ...v.rotated].map((p) => `- ${p}`).join("\n")}\n`,
    ),
    async (tx) => {
      const before = await readState(tx);
      tx.write(`${KEYS_DIR}/${name}.txt`, `# ${name}: public age key(s)\n${recipients.join("\n")}\n`);
      if (o.group && !(before.config.groups[o.group] ?? []).includes(name)) {
        const groups = { ...before.config.groups, [o.group]: [...(before.config.groups[o.group] ?? []), name].sort() };
        tx.write(META_CONFIG, renderMetaConfig({ ...before.config, groups }));
      }
      const plan = await rekeyAll(tx, await readState(tx), o.identities, o.onProgress);
      return { name, group: o.group ?? null, recipients, rewrapped: plan.updatekeys.map((p) => p.path), rotated: plan.rotate.map((p) => p.path) };
    },
  );
}

/**
 * `boot-meta keys remove NAME`: the key leaves keys/ and every group, and every file it could
 * read gets a new data key, so it can open nothing written from now on.
 */
export async function removeKey(repoDir: string, name: string, o: WriteOptions & { identities: IdentitySet }) {
  validateName("principal", name);
  return commitChanges(
    repoDir,
    commitOpts(o, (v: Rekeyed) =>
        `keys: remove ${name}\n\n${name} can no longer read anything written from now on: ${v.rotated.length} file(s) got a new data key and every value was re-encrypted.\n${v.rotated.map((p) => `- ${p}`).join("\n")}\n`,
    ),
    async (tx) => {
      const before = await readState(tx);
      const hadKey = before.keys.has(name);
      const inGroups = Object.entries(before.config.groups).filter(([, m]) => m.includes(name));
      if (hadKey) tx.remove(`${KEYS_DIR}/${name}.txt`);
      if (inGroups.length) {
        const groups = Object.fromEntries(Object.entries(before.config.groups).map(([g, m]) => [g, m.filter((x) => x !== name)]));
        tx.write(META_CONFIG, renderMetaConfig({ ...before.config, groups }));
      }
      const plan = await rekeyAll(tx, await readState(tx), o.identities, o.onProgress);
      if (!hadKey && !inGroups.length && plan.rotate.length === 0) {
        throw new BootMetaError("META_NO_PRINCIPAL", `there is no principal ${name} (no keys/${name}.txt, in no group), and no file is still encrypted to a removed key`, ExitCode.General);
      }
      return { name, groups: inGroups.map(([g]) => g), rotated: plan.rotate.map((p) => p.path), rewrapped: plan.updatekeys.map((p) => p.path) };
    },
  );
}

/** `boot-meta access sync`: regenerate .sops.yaml and bring every file to its rules' recipients. */
export async function syncAccess(repoDir: string, o: WriteOptions & { identities: IdentitySet }) {
  return commitChanges(
    repoDir,
    commitOpts(o, (v: Rekeyed) => `access: sync recipients with the rules\n\n${v.rotated.length} rotated, ${v.rewrapped.length} re-wrapped.\n`),
    async (tx) => {
      const plan = await rekeyAll(tx, await readState(tx), o.identities, o.onProgress);
      return { rotated: plan.rotate.map((p) => p.path), rewrapped: plan.updatekeys.map((p) => p.path) };
    },
  );
}

export interface Principal {
  name: string;
  recipients: string[];
  groups: string[];
}

export async function listKeys(repoDir: string): Promise<Principal[]> {
  const s = await readStateAt(repoDir);
  const names = new Set([...s.keys.keys(), ...Object.values(s.config.groups).flat()]);
  return [...names].sort().map((name) => ({
    name,
    recipients: s.keys.get(name) ?? [],
    groups: Object.entries(s.config.groups).filter(([, m]) => m.includes(name)).map(([g]) => g).sort(),
  }));
}

/** Every governed file of the repo (config files and sealed records) and who may read it. */
export async function accessMatrix(repoDir: string): Promise<{ commit: string; principals: string[]; files: { path: string; readers: string[]; missingKeys: string[] }[] }> {
  const git = await Git.open(repoDir);
  return withReader(git.dir, undefined, async (r) => {
    const s = await readState(r);
    const files = (await governedFiles(r, s)).map((g) => ({ path: g.path, readers: g.readers, missingKeys: g.missingKeys }));
    const principals = [...new Set([...s.keys.keys(), ...files.flatMap((f) => f.readers)])].sort();
    return { commit: r.commit, principals, files };
  });
}

export interface Drift {
  path: string;
  expected: string[];
  actual: string[];
  missing: string[];
  extra: string[];
}

/** Every encrypted file whose recipients differ from what the rules say. */
export async function accessCheck(repoDir: string): Promise<{ commit: string; checked: number; drift: Drift[] }> {
  const git = await Git.open(repoDir);
  return withReader(git.dir, undefined, async (r) => {
    const s = await readState(r);
    const files = await governedFiles(r, s);
    const drift: Drift[] = [];
    for (const g of files) {
      if (!g.now) {
        drift.push({ path: g.path, expected: g.want, actual: [], missing: g.want, extra: ["(not a sops file)"] });
        continue;
      }
      const actual = g.now;
      const missing = g.want.filter((x) => !actual.includes(x));
      const extra = actual.filter((x) => !g.want.includes(x));
      if (missing.length || extra.length) drift.push({ path: g.path, expected: g.want, actual, missing: principalsOf(s, missing), extra: principalsOf(s, extra) });
    }
    return { commit: r.commit, checked: files.length, drift };
  });
}

export { defaultsFile, envFile };
