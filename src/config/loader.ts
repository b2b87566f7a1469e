import { existsSync } from "node:fs";
import { BootMetaError, ExitCode } from "../errors.js";
import { Git } from "../meta/git.js";
import { layersFor, schemaFile, validateName } from "../meta/layout.js";
import { combineIdentitySets, type IdentitySet, identitySetFrom, loadIdentities } from "../sops/identities.js";
import { isUrl, resolveSettings } from "./bootstrap.js";
import type { ConfigWarning } from "./clone.js";
import type { ServerSource } from "./from-server.js";
import { layerValuesOf, openLayers, withLayerValues } from "./layers.js";

export { type LayerValue, layerValuesOf } from "./layers.js";
import type { LoadConfigOptions, LoadedConfig } from "./types.js";

export type { ConfigLayer, ConfigWarning, LoadConfigOptions, LoadedConfig } from "./types.js";

function missing(what: string, flag: string, variable: string): BootMetaError {
  return new BootMetaError("CONFIG_NOT_CONFIGURED", `no ${what} was given`, ExitCode.InvalidArgument, {
    suggestions: [`pass the ${flag} option (--${flag === "repo" ? "meta" : flag} on the CLI), set ${variable}, or run \`boot-meta bootstrap\` in your app's checkout`],
  });
}

/**
 * Loads the merged config of a project and env, as a service does at startup: defaults ← env
 * ← developer, each decrypted with the reader's own identity, all read at one commit (returned
 * as `commit`). From a meta repo (a path, or a git URL through a cached clone) or from the config
 * service (`server`, BOOT_META_SERVER), which sends ciphertext that is decrypted here. Throws
 * `CONFIG_ACCESS_DENIED` naming who can read a layer the reader cannot, `META_BINDING_MISMATCH`
 * for a layer copied from another path, `CONFIG_NOT_FOUND` for an env with no config,
 * `CONFIG_SCHEMA_INVALID` for a merged config that breaks `<project>/schema.json` (naming the key
 * and the layer it came from; `CONFIG_SCHEMA_BAD` when that file is not a usable schema),
 * `META_REMOTE_UNAVAILABLE` / `CONFIG_SERVER_UNAVAILABLE` when the source cannot be reached and
 * nothing was kept from it (with a kept copy, that copy is served with `stale: true`).
 */
export async function loadConfig(o: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const plan = await resolveLoad(o);
  if (plan.kind === "server") return (await (await import("./from-server.js")).loadFromServer(plan.source)).loaded;
  return loadFromRepo(plan);
}

/** Where a load reads from, with every setting resolved: what `loadConfig` and `watchConfig` share. */
export type LoadPlan =
  | { kind: "server"; source: ServerSource }
  | { kind: "repo"; repo: string; url: boolean; project: string; env: string; identities: IdentitySet; o: LoadConfigOptions; environment: NodeJS.ProcessEnv; warn: (w: ConfigWarning) => void; trustRoot: string | undefined };

/**
 * Resolves options, then BOOT_META_* / SOPS_AGE_* variables, then the bootstrap file. A server
 * and a repo given at the same level (both options, or both variables) is ambiguous and
 * refused; an option of either wins over a variable of the other.
 */
export async function resolveLoad(o: LoadConfigOptions): Promise<LoadPlan> {
  const environment = o.environment ?? process.env;
  const warn = o.onWarning ?? ((w: ConfigWarning) => process.emitWarning(w.message, { code: w.code }));
  if (o.server !== undefined && o.repo !== undefined) throw ambiguous("the server and repo options are both given");
  const fromVariable = o.server === undefined && o.repo === undefined && Boolean(environment.BOOT_META_SERVER);
  if (fromVariable && environment.BOOT_META_REPO) throw ambiguous("BOOT_META_SERVER and BOOT_META_REPO are both set");
  const server = o.server ?? (fromVariable ? environment.BOOT_META_SERVER : undefined);
  const s = await resolveSettings({ repo: o.repo, project: o.project, envName: o.env, identity: o.identityFile, trustRoot: o.trustRoot, cwd: o.cwd, env: environment });
  if (server === undefined && !s.repo) throw missing("meta repository", "repo", "BOOT_META_REPO");
  if (!s.project) throw missing("project", "project", "BOOT_META_PROJECT");
  if (!s.env) throw missing("environment", "env", "BOOT_META_ENV");
  const project = validateName("project", s.project);
  const env = validateName("env", s.env);
  if (server !== undefined) {
    for (const [name, v] of [["at", o.at], ["ref", o.ref]] as const) {
      if (v !== undefined) throw new BootMetaError("INVALID_ARGUMENT", `the ${name} option cannot be used with a config server: it serves its newest commit of the branch it follows`, ExitCode.InvalidArgument, { data: { option: name }, suggestions: [`to read at ${JSON.stringify(v)}, load from the meta repository (the repo option) instead`] });
    }
    // The service's client, a git URL's clone and the error path's reading of the rules load only
    // when used: a service loading from a clone on disk starts without them (README "Start-up").
    const [{ DEFAULT_TIMEOUT_MS, serverBase }, { cacheFileFor }] = await Promise.all([import("./remote.js"), import("./server-cache.js")]);
    const base = serverBase(server);
    const identities = await readerIdentities(o, environment, s.identity);
    const cacheFile = cacheFileFor({ cacheDir: o.cacheDir, environment }, base.href, project, env);
    return { kind: "server", source: { base, project, env, identities, cacheFile, timeoutMs: o.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS, warn } };
  }
  const repo = s.repo as string;
  const url = isUrl(repo);
  if (!url && !existsSync(repo)) {
    throw new BootMetaError("META_NOT_A_REPO", `the meta repository ${repo} does not exist`, ExitCode.General, { suggestions: ["check BOOT_META_REPO / --meta / the bootstrap file"] });
  }
  const identities = await readerIdentities(o, environment, s.identity);
  return { kind: "repo", repo, url, project, env, identities, o, environment, warn, trustRoot: s.trustRoot };
}

function ambiguous(what: string): BootMetaError {
  return new BootMetaError("CONFIG_AMBIGUOUS_SOURCE", `${what}: load from the config server or from the meta repository, not both`, ExitCode.InvalidArgument, {
    suggestions: ["give one of them; an option wins over the other's variable (server over BOOT_META_REPO, repo over BOOT_META_SERVER)"],
  });
}

/** A load from a clone, or a git URL's cached clone (fetched first). */
export async function loadFromRepo(p: Extract<LoadPlan, { kind: "repo" }>): Promise<LoadedConfig> {
  const { o, project, env, identities } = p;
  let at = o.at ?? "HEAD";
  let stale = false;
  let git: Git;
  if (p.url) {
    const c = await (await import("./clone.js")).cachedClone(p.repo, { cacheDir: o.cacheDir, env: p.environment, ref: o.ref ?? (p.environment.BOOT_META_REF || undefined), warn: p.warn });
    at = o.at ?? c.at;
    stale = c.stale;
    git = await Git.open(c.dir, { isolated: true });
  } else git = await Git.at(p.repo);
  const commit = await git.resolve(at);
  const specs = layersFor(project, env);
  const schemaPath = schemaFile(project);
  const files = await git.readFiles([...specs.map((l) => l.path), schemaPath], commit);
  let untrusted: LoadedConfig["untrusted"];
  if (p.trustRoot) {
    const { trustedView } = await import("../meta/verify.js");
    const view = await trustedView(git.dir, { root: p.trustRoot, head: commit });
    untrusted = [];
    // The schema decides what loads, so it too is read at its last trusted version.
    for (const l of [...specs, { path: schemaPath }]) {
      const t = view.tainted.get(l.path);
      if (!t) continue;
      untrusted.push({ path: l.path, commit: t.commit, reason: t.reason, message: t.message });
      files.set(l.path, t.trusted === undefined ? undefined : (await git.readBlobs([t.trusted]))[0]);
      p.warn({ code: "CONFIG_UNVERIFIED", message: `${l.path} is read at its last trusted version, not as committed: ${t.message}` });
    }
  }
  const opened = await openLayers(project, env, commit, specs.map((l) => ({ ...l, bytes: files.get(l.path) })), identities, (path, data) => accessDenied(git, commit, path, data, identities));
  const schema = files.get(schemaPath);
  if (schema !== undefined) {
    const { assertProjectSchema } = await import("./schema.js");
    assertProjectSchema({ project, env, schema, layers: layerValuesOf(opened) ?? [], outcome: `Nothing was loaded (commit ${commit.slice(0, 12)})` });
  }
  return withLayerValues(opened, { ...opened, commit, repo: git.dir, project, env, stale, ...(untrusted ? { untrusted } : {}) });
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
    const [{ withReader }, { readState }, { principalsOf }] = await Promise.all([import("../meta/reader.js"), import("../meta/repo.js"), import("../meta/model.js")]);
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
