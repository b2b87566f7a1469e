import { withReader } from "../meta/reader.js";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, realpath, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
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
import { mergeLayers, type Plain } from "./merge.js";

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
}

function missing(what: string, flag: string, variable: string): BootMetaError {
  return new BootMetaError("CONFIG_NOT_CONFIGURED", `no ${what} was given`, ExitCode.InvalidArgument, {
    suggestions: [`pass the ${flag} option (--${flag === "repo" ? "meta" : flag} on the CLI), set ${variable}, or run \`boot-meta bootstrap\` in your app's checkout`],
  });
}

/** A warning the loader wants a person to see (a stale copy served, say). */
export interface ConfigWarning {
  code: string;
  message: string;
}

/** A remote ref as BOOT_META_REF or the `ref` option give it: a branch or tag name, never an option or a refspec. */
function checkRef(ref: string): string {
  if (ref === "" || ref.startsWith("-") || ref.startsWith("/") || ref.endsWith("/") || ref.endsWith(".lock") || ref.includes("..") || ref.includes("//") || !/^[A-Za-z0-9._/-]+$/.test(ref)) {
    throw new BootMetaError("CONFIG_INVALID_REF", `${JSON.stringify(ref)} is not a branch or tag name the loader can follow`, ExitCode.InvalidArgument, {
      data: { ref },
      suggestions: ["give a branch or tag of the meta repository's remote (BOOT_META_REF=main, or the ref option), or leave it out to follow the remote's default branch"],
    });
  }
  return ref;
}

const sameDir = async (a: string, b: string) => (await realpath(a).catch(() => a)) === (await realpath(b).catch(() => b));

/** The cache's clone of `url`, when `dir` holds one (a directory that is not a repository of its own is not). */
async function openCache(dir: string): Promise<Git | undefined> {
  if (!existsSync(dir)) return undefined;
  const git = await Git.open(dir, { isolated: true }).catch(() => undefined);
  return git && (await sameDir(git.dir, dir)) ? git : undefined;
}

/**
 * The cached clone of a git URL, fetched: the remote's default branch (its HEAD) or `ref`
 * lands on a ref of its own, and that is what the config is read at. A cache whose remote
 * URL was changed is pointed back at `url`; one that is not a repository (a clone killed half
 * way) is made again. When the remote cannot be reached, the last fetched copy is served and
 * said to be stale; with none, META_REMOTE_UNAVAILABLE.
 */
async function cachedClone(url: string, o: { cacheDir?: string; env: NodeJS.ProcessEnv; ref?: string; warn: (w: ConfigWarning) => void }): Promise<{ dir: string; at: string; stale: boolean }> {
  const e = o.env;
  const root = o.cacheDir ?? join(e.XDG_CACHE_HOME || join(e.HOME ?? homedir(), ".cache"), "boot-meta", "repos");
  const dir = join(root, createHash("sha256").update(url).digest("hex").slice(0, 16));
  const ref = o.ref === undefined ? undefined : checkRef(o.ref);
  const wanted = ref === undefined ? "refs/boot-meta/default" : `refs/boot-meta/ref/${Buffer.from(ref).toString("hex")}`;
  let git = await openCache(dir);
  if (!git) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(root, { recursive: true });
    // Cloned beside and renamed into place: a clone killed half way never looks like a cache.
    const tmp = `${dir}.clone-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await Git.clone(url, tmp);
      await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
        // Another loader got there first: its clone serves as well as ours.
        if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
      });
    } catch (err) {
      if (isBootMetaError(err, "META_REMOTE_UNAVAILABLE")) err.suggestions.push("nothing was cached from it yet, so there is no last known good copy to start from");
      throw err;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    git = (await openCache(dir)) as Git;
  } else {
    const origin = (await git.run(["config", "--get", "remote.origin.url"], { reject: false })).stdout.trim();
    if (origin !== url) await git.run(origin === "" ? ["remote", "add", "origin", url] : ["remote", "set-url", "origin", url]);
  }
  try {
    await git.fetch(["--quiet", "--prune", "--no-tags", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", `+${ref ?? "HEAD"}:${wanted}`], url);
  } catch (err) {
    if (!isBootMetaError(err, "META_REMOTE_UNAVAILABLE")) throw err;
    const last = await git.run(["rev-parse", "--verify", "-q", `${wanted}^{commit}`], { reject: false });
    if (last.exitCode !== 0) {
      err.suggestions.push(`nothing of ${ref ? `its ref ${ref}` : "its default branch"} was cached yet, so there is no last known good copy to start from`);
      throw err;
    }
    const commit = last.stdout.trim();
    o.warn({ code: "CONFIG_STALE", message: `${err.message}; serving the last fetched copy (commit ${commit.slice(0, 12)}), which may be out of date` });
    return { dir: git.dir, at: commit, stale: true };
  }
  return { dir: git.dir, at: wanted, stale: false };
}

/**
 * Loads the merged config of a project and env from the meta repo, as a service does at
 * startup: defaults ← env ← developer, each decrypted with the reader's own identity, all
 * read at one commit (returned as `commit`). Throws `CONFIG_ACCESS_DENIED` naming who can
 * read a layer the reader cannot.
 */
export async function loadConfig(o: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const environment = o.environment ?? process.env;
  const s = await resolveSettings({ repo: o.repo, project: o.project, envName: o.env, identity: o.identityFile, cwd: o.cwd, env: environment });
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
  const layers: ConfigLayer[] = [];
  const values: { name: string; value: Plain }[] = [];
  for (const l of specs) {
    const bytes = files.get(l.path);
    layers.push({ ...l, found: bytes !== undefined });
    if (!bytes) continue;
    try {
      const f = await openBytes(bytes, { format: "yaml", identities, path: l.path, pgp: false });
      // A layer that says (under its MAC) it was written for another path was copied here.
      const bound = openedBinding(f);
      if (bound !== undefined && bound !== l.path) throw bindingMismatch(l.path, bound);
      values.push({ name: l.name, value: toPlain(withoutBinding(f.tree)[0] ?? new Branch()) as Plain });
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
  return { config: value, flags, commit, repo: git.dir, project, env, layers, origins, stale };
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
