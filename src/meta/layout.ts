import { BootMetaError, ExitCode } from "../errors.js";

/**
 * The meta repository layout (DESIGN.md, a contract other tools read):
 *   .boot-meta.yaml, .sops.yaml, keys/<principal>.txt,
 *   <project>/project.yaml, <project>/config.sops.yaml,
 *   <project>/envs/<env>/config.sops.yaml, <project>/envs/dev/<developer>/config.sops.yaml,
 *   <project>/schema.json (optional)
 */
export const META_CONFIG = ".boot-meta.yaml";
export const SOPS_CONFIG = ".sops.yaml";
export const KEYS_DIR = "keys";
/** Bearer tokens of the service, hashed: `tokens/<principal>/<id>.json` (records/tokens.ts). */
export const TOKENS_DIR = "tokens";
/** Top-level folders the layout owns: never the first segment of a project name. */
/** The service's outbound webhook subscribers: `subscriptions/<name>.yaml` (server/subscriptions.ts). */
export const SUBSCRIPTIONS_DIR = "subscriptions";
/** Signed approvals of admin-area changes when the rules ask for a quorum: `approvals/admin/<change>/<principal>.json` (meta/policy.ts). */
export const APPROVALS_DIR = "approvals";
export const TOP_DIRS = [KEYS_DIR, TOKENS_DIR, SUBSCRIPTIONS_DIR, APPROVALS_DIR];
export const PROJECT_FILE = "project.yaml";
export const CONFIG_FILE = "config.sops.yaml";
/** A project's optional JSON Schema (plain JSON): the merged config of each of its envs must satisfy it (config/schema.ts). */
export const SCHEMA_FILE = "schema.json";

/**
 * The first line of a private key file that is a test fixture and protects nothing real
 * (test/fixtures/keys/): the only private keys a commit may carry.
 */
export const TEST_ONLY_KEY_MARKER = "# boot-meta: test-only key";

const SEGMENT = /^[A-Za-z0-9._-]+$/;

function invalidName(kind: string, value: string, why: string): BootMetaError {
  return new BootMetaError("META_INVALID_NAME", `${JSON.stringify(value)} is not a valid ${kind} name: ${why}`, ExitCode.InvalidArgument, {
    data: { kind, value },
    suggestions: [`use path segments of letters, digits, '.', '_' and '-', separated by '/', e.g. main/maintemplatev2`],
  });
}

/** Directories a project holds (and the top-level digest index): never part of a project name. */
export const PROJECT_DIRS = ["envs", "releases", "binaries", "channels", "instances", "events", "imports", "approvals"];

/**
 * Sealed records: a record with secret fields is a SOPS JSON file named `*.sops.json` in a
 * project's record directories (today: binaries/). Its plain `sealedEnv` field names the env
 * whose readers open it; without one, the project's readers do. The access rules govern it
 * like a config file: `keys add`, `keys remove` and `access sync` re-key it.
 */
export const SEALED_SUFFIX = ".sops.json";
export const SEALABLE_DIRS = ["binaries"];

/** A project or env name: one or more segments of [A-Za-z0-9._-], no `.`/`..`, no leading or doubled `/`. */
export function validateName(kind: "project" | "env" | "principal" | "group", value: string): string {
  if (value === "") throw invalidName(kind, value, "it is empty");
  if (value.startsWith("/")) throw invalidName(kind, value, "it starts with /");
  const segments = value.split("/");
  if ((kind === "principal" || kind === "group") && segments.length > 1) throw invalidName(kind, value, "it cannot contain /");
  for (const s of segments) {
    if (s === "") throw invalidName(kind, value, "it has an empty segment (// or a trailing /)");
    if (s === "." || s === "..") throw invalidName(kind, value, `it has a ${s} segment`);
    if (!SEGMENT.test(s)) throw invalidName(kind, value, `the segment ${JSON.stringify(s)} has characters outside [A-Za-z0-9._-]`);
  }
  if (kind === "project" && (TOP_DIRS.includes(segments[0] as string) || segments.some((x) => PROJECT_DIRS.includes(x)))) {
    throw invalidName(kind, value, `${TOP_DIRS.join("/, ")}/ at the top, and ${PROJECT_DIRS.join("/, ")}/ anywhere, are reserved by the layout`);
  }
  return value;
}

/** A path inside the repository that is safe to write: relative, no `..`, no `.git`. */
export function validateRepoPath(path: string): string {
  const bad = (why: string) =>
    new BootMetaError("META_INVALID_PATH", `${JSON.stringify(path)} cannot be written in the meta repository: ${why}`, ExitCode.InvalidArgument, { data: { path } });
  if (path === "" || path.startsWith("/")) throw bad("it must be a relative path");
  if (path.includes("\\") || path.includes("\0")) throw bad("it contains a backslash or NUL");
  const segs = path.split("/");
  if (segs.some((s) => s === "" || s === "." || s === "..")) throw bad("it has an empty, . or .. segment");
  if (segs.some((s) => s.toLowerCase() === ".git")) throw bad("it points into .git");
  return path;
}

/** The developer folder's owner for an env like `dev/alice`; undefined for other envs. */
export function developerOf(env: string): string | undefined {
  const m = /^dev\/([^/]+)$/.exec(env);
  return m ? m[1] : undefined;
}

export function projectFile(project: string): string {
  return `${project}/${PROJECT_FILE}`;
}

export function schemaFile(project: string): string {
  return `${project}/${SCHEMA_FILE}`;
}

export function defaultsFile(project: string): string {
  return `${project}/${CONFIG_FILE}`;
}

export function envFile(project: string, env: string): string {
  return `${project}/envs/${env}/${CONFIG_FILE}`;
}

/** The config layers for an env, least specific first: defaults ← env ← developer. */
export function layersFor(project: string, env: string): { name: "defaults" | "env" | "developer"; path: string }[] {
  const layers: { name: "defaults" | "env" | "developer"; path: string }[] = [{ name: "defaults", path: defaultsFile(project) }];
  const dev = developerOf(env);
  if (dev) {
    layers.push({ name: "env", path: envFile(project, "dev") }, { name: "developer", path: envFile(project, env) });
  } else layers.push({ name: "env", path: envFile(project, env) });
  return layers;
}

/**
 * Splits a path the access rules govern: a project's defaults (`<project>/config.sops.yaml`)
 * or any file in an env folder (`<project>/envs/<env>/<name>`: config.sops.yaml, or any other
 * SOPS file kept beside it). Project names never hold an `envs` segment, so the first one
 * ends the project.
 */
export function parseGovernedPath(path: string): { project: string; env?: string; name: string } | undefined {
  const m = /^(.+?)\/envs\/(.+)\/([^/]+)$/s.exec(path);
  if (m) return { project: m[1] as string, env: m[2] as string, name: m[3] as string };
  const d = /^(.+)\/config\.sops\.yaml$/s.exec(path);
  if (d && !`/${d[1]}/`.includes("/envs/")) return { project: d[1] as string, name: CONFIG_FILE };
  return undefined;
}
