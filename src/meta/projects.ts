import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { yamlLib } from "../lazy-yaml.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { encryptBytes } from "../sops/engine.js";
import { withBinding } from "./binding.js";
import { Git } from "./git.js";
import { commitOpts, principalKeys, type WriteOptions, writePrincipal } from "./keys.js";
import { envFile, KEYS_DIR, META_CONFIG, projectFile, SOPS_CONFIG, validateName } from "./layout.js";
import { DEFAULT_META_CONFIG, expectedAccess, type MetaConfig, renderMetaConfig, renderSopsYaml, type RepoState } from "./model.js";
import { signingKeysOf } from "./signers.js";
import { readState } from "./state.js";
import { type CommitResult, commitChanges, type Tx } from "./commit.js";

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

/** The first admin, written in the initial commit (`init --admin NAME --key …`). */
export interface FirstAdmin {
  name: string;
  /** Public keys: age recipients, and an `ssh-ed25519` line to sign commits with. */
  keys: string[];
  /** The group it joins (default `admins`). */
  group?: string;
}

export interface InitResult {
  dir: string;
  admin: { name: string; group: string; recipients: string[] } | null;
  /**
   * The commit to give readers as their trust root (README "Signed history"): the initial
   * commit when the first admin has a signing key (`ssh-ed25519`) in it, so every later
   * commit is checked; null otherwise (the trust root is then the first commit whose keys/
   * holds an admin's signing key).
   */
  trustRoot: string | null;
}

/**
 * `boot-meta init`: a meta repository (git init when needed), committed; with `admin`, that
 * principal's keys and group membership are in the same commit. Throws
 * `META_ALREADY_INITIALISED`, and for a bad admin name or key (checked before anything is
 * created) `META_INVALID_NAME`, `SOPS_INVALID_RECIPIENT`, `META_PRIVATE_KEY_REFUSED`.
 */
export async function initRepo(dir: string, o: WriteOptions & { config?: MetaConfig; admin?: FirstAdmin } = {}): Promise<CommitResult<InitResult>> {
  const abs = resolve(dir);
  const group = o.admin ? (o.admin.group ?? "admins") : undefined;
  const recipients = o.admin ? principalKeys(o.admin.name, o.admin.keys, group) : [];
  await mkdir(abs, { recursive: true });
  if (!existsSync(resolve(abs, ".git"))) await Git.init(abs);
  const message = o.admin
    ? `boot-meta: initialise the meta repository, with ${o.admin.name} in ${group}\n\nGroups, access rules, ${o.admin.name}'s public keys and the generated .sops.yaml.`
    : "boot-meta: initialise the meta repository\n\nGroups, access rules and the generated .sops.yaml; keys are added with `boot-meta keys add`.";
  const r = await commitChanges(abs, commitOpts(o, message), async (tx) => {
    if (await tx.read(META_CONFIG)) {
      throw new BootMetaError("META_ALREADY_INITIALISED", `${abs} is already a boot-meta meta repository`, ExitCode.General, { suggestions: ["nothing to do; see `boot-meta access show`"] });
    }
    let config = o.config ?? DEFAULT_META_CONFIG;
    tx.write(META_CONFIG, renderMetaConfig(config));
    tx.write(`${KEYS_DIR}/README.md`, "Public age keys of principals, one file per person, machine group or CI: `<name>.txt`.\n");
    tx.write("README.md", REPO_README);
    const keys = new Map<string, string[]>();
    if (o.admin) {
      config = writePrincipal(tx, config, o.admin.name, recipients, group);
      keys.set(o.admin.name, recipients);
    }
    tx.write(SOPS_CONFIG, renderSopsYaml({ config, projects: [], keys, files: [] }));
    return { dir: abs, admin: o.admin ? { name: o.admin.name, group: group as string, recipients } : null, trustRoot: null };
  });
  const signs = o.admin !== undefined && signingKeysOf(o.admin.name, recipients).length > 0;
  return { ...r, value: { ...r.value, trustRoot: signs && r.commit ? r.commit : null } };
}

/** `boot-meta project create NAME`. */
export async function createProject(repoDir: string, name: string, o: WriteOptions & { repos?: string[]; owners?: string[] } = {}): Promise<CommitResult<{ project: string }>> {
  validateName("project", name);
  return commitChanges(repoDir, commitOpts(o, `project: create ${name}`), async (tx) => {
    if (await tx.read(projectFile(name))) throw new BootMetaError("META_EXISTS", `the project ${name} already exists`, ExitCode.General);
    tx.write(projectFile(name), yamlLib().stringify({ name, repos: o.repos ?? [], owners: o.owners ?? [] }));
    // The new project's creation rules, so the sops CLI encrypts its files to the right people.
    const state = await readState(tx);
    tx.write(SOPS_CONFIG, renderSopsYaml(state));
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
  // Bound to its path under its MAC from the start: a copy of it elsewhere is never re-keyed there.
  return encryptBytes(Buffer.from(plaintext), { format: "yaml", keyGroups: [access.recipients], path, transform: (tree) => withBinding(tree, path) });
}

/** `boot-meta env create PROJECT ENV`: an empty encrypted config for the env. */
export async function createEnv(repoDir: string, project: string, env: string, o: WriteOptions = {}): Promise<CommitResult<{ project: string; env: string; path: string }>> {
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

