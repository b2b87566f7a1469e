import { existsSync, promises as fsp } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { yamlLib } from "../lazy-yaml.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { readFileCapped, writeFileAtomic } from "../io.js";
import { decodeUtf8 } from "../limits.js";
import { parseYamlValue } from "../yaml.js";
import { requireIdentityPath } from "../sops/identities.js";

/** The gitignored file in an app checkout that points it at the meta repo. */
export const BOOTSTRAP_FILE = ".boot-meta.local.yaml";

export interface Bootstrap {
  /** Local path (relative to the bootstrap file) or git URL of the meta repo. */
  repo?: string;
  project?: string;
  env?: string;
  /** An age identity file for this developer or machine. */
  identity?: string;
  /** The commit history is verified from (`trust-root:`; README "Signed history"). */
  trustRoot?: string;
  /** Where this checkout runs, for flag targeting (DESIGN.md "Flags"): its channel, release version and instance id, when the file names them. */
  channel?: string;
  release?: string;
  instance?: string;
  /** Where the bootstrap file was found, when one was. */
  file?: string;
}

/** Looks for the bootstrap file from `cwd` upward; undefined when there is none. */
export async function findBootstrap(cwd: string): Promise<Bootstrap | undefined> {
  let dir = resolve(cwd);
  for (;;) {
    const p = join(dir, BOOTSTRAP_FILE);
    // Asked synchronously: every command and config load asks it of each folder up to /, and a
    // stat is cheaper than its trip through the thread pool (README "Start-up").
    if (existsSync(p)) return readBootstrap(p);
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export async function readBootstrap(path: string): Promise<Bootstrap> {
  const doc = parseYamlValue(decodeUtf8(await readFileCapped(path), path), path, (why) => new BootMetaError("CONFIG_BAD_BOOTSTRAP", `${path} is not valid YAML: ${why}`, ExitCode.InvalidFormat));
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new BootMetaError("CONFIG_BAD_BOOTSTRAP", `${path} must be a map with repo, project, env and optionally identity`, ExitCode.InvalidFormat);
  const o = doc as Record<string, unknown>;
  const str = (k: string) => {
    const v = o[k];
    if (v !== undefined && typeof v !== "string") throw new BootMetaError("CONFIG_BAD_BOOTSTRAP", `${path}: ${k} must be a string`, ExitCode.InvalidFormat);
    return v as string | undefined;
  };
  const base = dirname(path);
  const rel = (v: string | undefined) => (v && !isUrl(v) && !isAbsolute(v) ? resolve(base, v) : v);
  return { repo: rel(str("repo")), project: str("project"), env: str("env"), identity: rel(str("identity")), trustRoot: str("trust-root"), channel: str("channel"), release: str("release"), instance: str("instance"), file: path };
}

export function isUrl(repo: string): boolean {
  return /^(https?|ssh|git|file):\/\//.test(repo) || /^[\w.-]+@[\w.-]+:/.test(repo);
}

/** Settings from options, then BOOT_META_* / SOPS_AGE_* variables, then the bootstrap file. */
export async function resolveSettings(o: Omit<Bootstrap, "env"> & { envName?: string; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<Bootstrap> {
  const env = o.env ?? process.env;
  const boot = (await findBootstrap(o.cwd ?? process.cwd())) ?? {};
  return {
    repo: o.repo ?? env.BOOT_META_REPO ?? boot.repo,
    project: o.project ?? env.BOOT_META_PROJECT ?? boot.project,
    env: o.envName ?? env.BOOT_META_ENV ?? boot.env,
    // sops' own variables win over the bootstrap file's identity (the issue's rule).
    identity: o.identity ?? (env.SOPS_AGE_KEY_FILE || env.SOPS_AGE_KEY ? undefined : boot.identity),
    trustRoot: o.trustRoot ?? (env.BOOT_META_TRUST_ROOT || undefined) ?? boot.trustRoot,
    file: boot.file,
  };
}

/** `boot-meta bootstrap`: writes the file and makes sure git ignores it. */
export async function writeBootstrap(dir: string, b: Omit<Bootstrap, "file">): Promise<{ file: string; gitignore: string; added: boolean }> {
  if (b.identity !== undefined) requireIdentityPath(b.identity, "--identity");
  const file = join(resolve(dir), BOOTSTRAP_FILE);
  const body = `# Points this checkout at its boot-meta meta repository. Local to this machine: never commit it.\n${yamlLib().stringify(Object.fromEntries(Object.entries(b).filter(([, v]) => v !== undefined).map(([k, v]) => [k === "trustRoot" ? "trust-root" : k, v])))}`;
  await writeFileAtomic(file, body, { mode: 0o600 });
  const gitignore = join(resolve(dir), ".gitignore");
  const current = await fsp.readFile(gitignore, "utf8").catch(() => "");
  const added = !current.split("\n").some((l) => l.trim() === BOOTSTRAP_FILE || l.trim() === `/${BOOTSTRAP_FILE}`);
  if (added) await writeFileAtomic(gitignore, `${current}${current === "" || current.endsWith("\n") ? "" : "\n"}${BOOTSTRAP_FILE}\n`);
  return { file, gitignore, added };
}
