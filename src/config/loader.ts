import { withReader } from "../meta/reader.js";
import { existsSync } from "node:fs";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { Git } from "../meta/git.js";
import { layersFor, validateName } from "../meta/layout.js";
import { principalsOf } from "../meta/model.js";
import { readState } from "../meta/repo.js";
import { bindingMismatch, openedBinding, withoutBinding } from "../meta/binding.js";
import { openBytes } from "../sops/engine.js";
import { combineIdentitySets, type IdentitySet, identitySetFrom, loadIdentities } from "../sops/identities.js";
import { Branch, toPlain } from "../sops/tree.js";
import { isUrl, resolveSettings } from "./bootstrap.js";
import { cachedClone, type ConfigWarning } from "./clone.js";
import { mergeLayers, type Plain } from "./merge.js";

export type { ConfigWarning } from "./clone.js";

export interface LoadConfigOptions {
  /** Local path or git URL of the meta repo (default: BOOT_META_REPO, then the bootstrap file). */
  repo?: string;
  project?: string;
  /** `dev`, `stage`, `prod`, `dev/alice`, … (default: BOOT_META_ENV, then the bootstrap file). */
  env?: string;
  /** A commit or ref to read at (default: HEAD; for a URL, the remote's default branch). */
  at?: string;
  /**
   * The identities to decrypt with, replacing every other source: SOPS_AGE_KEY,
   * SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, SSH keys, the bootstrap file's identity and the default
   * keys.txt are not read. `AGE-SECRET-KEY-1…` strings (or whole identity files' text), or a
   * loaded set. Load as one principal sees it: `{ identities: [aliceKey] }`.
   */
  identities?: string[] | IdentitySet;
  /** Identities used as well as those found (the sops lookup, or `identities` when given): `AGE-SECRET-KEY-1…` strings. */
  addIdentities?: string[];
  /** An identity file added to the sops lookup, as the bootstrap file's `identity` (which it overrides). */
  identityFile?: string;
  /** Where git URLs are cloned (default: $XDG_CACHE_HOME/boot-meta/repos). */
  cacheDir?: string;
  /**
   * For a git URL: the remote's branch or tag to follow (default: BOOT_META_REF, then the
   * remote's default branch, followed when it changes).
   */
  ref?: string;
  /**
   * Told what a person should know, e.g. that the remote was unreachable and the last fetched
   * copy was served (`CONFIG_STALE`). Default: `process.emitWarning`.
   */
  onWarning?: (w: ConfigWarning) => void;
  /**
   * Verify who wrote what from this commit (README "Signed history"; default:
   * BOOT_META_TRUST_ROOT, then the bootstrap file's `trust-root`). A layer whose newest change
   * was not made by someone allowed to make it is read at its last trusted version, and
   * `onWarning` is told (`CONFIG_UNVERIFIED`).
   */
  trustRoot?: string;
  cwd?: string;
  environment?: NodeJS.ProcessEnv;
}

export interface ConfigLayer {
  name: "defaults" | "env" | "developer";
  path: string;
  found: boolean;
}

export interface LoadedConfig {
  /** The merged config, flags included. */
  config: Plain;
  /** `config.flags`, for convenience. */
  flags: Plain;
  /** The commit every layer was read at: the version of this config. */
  commit: string;
  repo: string;
  project: string;
  env: string;
  layers: ConfigLayer[];
  /** dotted key → the layer it came from */
  origins: Record<string, string>;
  /**
   * True when the repo is a git URL that could not be reached and the last fetched copy was
   * read instead (last known good; `onWarning` was told).
   */
  stale: boolean;
  /** With a trust root: the layers read at their last trusted version instead of `commit`'s, and why. */
  untrusted?: { path: string; commit: string; reason: string; message: string }[];
}

/** One layer's decrypted config, as read, before the merge. */
export interface LayerValue {
  name: ConfigLayer["name"];
  path: string;
  value: Plain;
}

/**
 * Where a loaded config keeps its layers' own values: a symbol, not enumerable, so that
 * `LoadedConfig` prints, serialises and compares exactly as before. Flags merge per flag
 * (DESIGN.md "Flags"), not deep as config does, so src/flags reads the layers themselves.
 */
const LAYER_VALUES = Symbol("boot-meta.layerValues");

/** The layers a config was merged from (least specific first), or undefined for a value not made by loadConfig (a copy, say). */
export function layerValuesOf(c: LoadedConfig): readonly LayerValue[] | undefined {
  return (c as unknown as { [LAYER_VALUES]?: readonly LayerValue[] })[LAYER_VALUES];
}

function missing(what: string, flag: string, variable: string): BootMetaError {
  return new BootMetaError("CONFIG_NOT_CONFIGURED", `no ${what} was given`, ExitCode.InvalidArgument, {
    suggestions: [`pass the ${flag} option (--${flag === "repo" ? "meta" : flag} on the CLI), set ${variable}, or run \`boot-meta bootstrap\` in your app's checkout`],
  });
}


/**
 * Loads the merged config of a project and env from the meta repo, as a service does at
 * startup: defaults ← env ← developer, each decrypted with the reader's own identity, all
 * read at one commit (returned as `commit`). Throws `CONFIG_ACCESS_DENIED` naming who can
 * read a layer the reader cannot.
 */
export async function loadConfig(o: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const environment = o.environment ?? process.env;
  const s = await resolveSettings({ repo: o.repo, project: o.project, envName: o.env, identity: o.identityFile, trustRoot: o.trustRoot, cwd: o.cwd, env: environment });
  if (!s.repo) throw missing("meta repository", "repo", "BOOT_META_REPO");
  if (!s.project) throw missing("project", "project", "BOOT_META_PROJECT");
  if (!s.env) throw missing("environment", "env", "BOOT_META_ENV");
  const project = validateName("project", s.project);
  const env = validateName("env", s.env);
  let at = o.at ?? "HEAD";
  let stale = false;
  let git: Git;
  if (isUrl(s.repo)) {
    const warn = o.onWarning ?? ((w: ConfigWarning) => process.emitWarning(w.message, { code: w.code }));
    const c = await cachedClone(s.repo, { cacheDir: o.cacheDir, env: environment, ref: o.ref ?? (environment.BOOT_META_REF || undefined), warn });
    at = o.at ?? c.at;
    stale = c.stale;
    git = await Git.open(c.dir, { isolated: true });
  } else if (!existsSync(s.repo)) {
    throw new BootMetaError("META_NOT_A_REPO", `the meta repository ${s.repo} does not exist`, ExitCode.General, { suggestions: ["check BOOT_META_REPO / --meta / the bootstrap file"] });
  } else git = await Git.at(s.repo);
  const commit = await git.resolve(at);
  const identities = await readerIdentities(o, environment, s.identity);
  const specs = layersFor(project, env);
  const files = await git.readFiles(specs.map((l) => l.path), commit);
  let untrusted: LoadedConfig["untrusted"];
  if (s.trustRoot) {
    const { trustedView } = await import("../meta/verify.js");
    const view = await trustedView(git.dir, { root: s.trustRoot, head: commit });
    untrusted = [];
    const warn = o.onWarning ?? ((w: ConfigWarning) => process.emitWarning(w.message, { code: w.code }));
    for (const l of specs) {
      const t = view.tainted.get(l.path);
      if (!t) continue;
      untrusted.push({ path: l.path, commit: t.commit, reason: t.reason, message: t.message });
      files.set(l.path, t.trusted === undefined ? undefined : (await git.readBlobs([t.trusted]))[0]);
      warn({ code: "CONFIG_UNVERIFIED", message: `${l.path} is read at its last trusted version, not as committed: ${t.message}` });
    }
  }
  const layers: ConfigLayer[] = [];
  const values: LayerValue[] = [];
  for (const l of specs) {
    const bytes = files.get(l.path);
    layers.push({ ...l, found: bytes !== undefined });
    if (!bytes) continue;
    try {
      const f = await openBytes(bytes, { format: "yaml", identities, path: l.path, pgp: false });
      // A layer that says (under its MAC) it was written for another path was copied here.
      const bound = openedBinding(f);
      if (bound !== undefined && bound !== l.path) throw bindingMismatch(l.path, bound);
      values.push({ name: l.name, path: l.path, value: toPlain(withoutBinding(f.tree)[0] ?? new Branch()) as Plain });
    } catch (e) {
      if (isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE")) throw await accessDenied(git, commit, l.path, e.data, identities);
      throw e;
    }
  }
  // Defaults alone mean the env does not exist (a typo, most likely): say so.
  if (!layers.some((l) => l.found && l.name !== "defaults")) {
    throw new BootMetaError("CONFIG_NOT_FOUND", `there is no config for ${project} ${env} at ${commit.slice(0, 12)}: ${specs.filter((l) => l.name !== "defaults").map((l) => l.path).join(" and ")} do not exist`, ExitCode.General, {
      suggestions: [`create it: \`boot-meta env create ${project} ${env}\``],
    });
  }
  const { value, origins } = mergeLayers(values);
  const flags = typeof value.flags === "object" && value.flags !== null ? (value.flags as Plain) : {};
  const loaded: LoadedConfig = { config: value, flags, commit, repo: git.dir, project, env, layers, origins, stale, ...(untrusted ? { untrusted } : {}) };
  Object.defineProperty(loaded, LAYER_VALUES, { value: Object.freeze(values), enumerable: false });
  return loaded;
}

/** `identities` replaces the lookup; `addIdentities` joins whichever set is used. */
async function readerIdentities(o: LoadConfigOptions, env: NodeJS.ProcessEnv, identityFile: string | undefined): Promise<IdentitySet> {
  const added = o.addIdentities ?? [];
  if (o.identities === undefined) return loadIdentities({ env, extraIdentities: added, extraIdentityFiles: identityFile ? [identityFile] : [] });
  const base = Array.isArray(o.identities) ? await identitySetFrom(o.identities) : o.identities;
  return added.length ? combineIdentitySets(base, await identitySetFrom(added, "the added identities")) : base;
}

/** "cannot decrypt prod/config.sops.yaml: it is encrypted to admin, prod-server; your identity (…) is alice". */
async function accessDenied(git: Git, commit: string, path: string, data: Record<string, unknown>, ids: IdentitySet): Promise<BootMetaError> {
  const recipients = (data.recipients as string[] | undefined) ?? [];
  let readers = recipients;
  let mine: string[] = [...ids.recipients];
  try {
    const state = await withReader(git.dir, commit, readState);
    readers = principalsOf(state, recipients);
    mine = ids.recipients.length ? principalsOf(state, [...ids.recipients]) : [];
  } catch {
    /* fall back to raw recipients */
  }
  const where = ids.searched.filter((s) => s.found > 0).map((s) => s.source.where);
  return new BootMetaError(
    "CONFIG_ACCESS_DENIED",
    `cannot decrypt ${path}: it is encrypted to ${readers.join(", ")}; your identity${where.length ? ` (${where.join(", ")})` : ""} is ${mine.length ? mine.join(", ") : "none that was found"}`,
    ExitCode.CouldNotRetrieveKey,
    { data: { path, readers, you: mine, recipients }, suggestions: ["ask an admin for access (`boot-meta keys add`), or load an env you may read"] },
  );
}
