import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import type { IdentitySet } from "../sops/identities.js";
import type { ConfigWarning } from "./clone.js";
import { layerValuesOf, openLayers, withLayerValues } from "./layers.js";
import { badResponse, type ConfigAnswer, contentEtag, requestConfig, type ServedConfig } from "./remote.js";
import { readCachedAnswer, writeCachedAnswer } from "./server-cache.js";
import type { LoadedConfig } from "./types.js";

/** Everything a load from the config service needs, resolved (loader.ts `resolveLoad`). */
export interface ServerSource {
  base: URL;
  project: string;
  env: string;
  identities: IdentitySet;
  /** The cached answer's file (server-cache.ts). */
  cacheFile: string;
  timeoutMs: number;
  warn: (w: ConfigWarning) => void;
}

/** A load: the config, and the answer it was opened from (verified; what the cache now holds). */
export interface ServerLoad {
  loaded: LoadedConfig;
  answer: ServedConfig;
}

const shown = (s: ServerSource) => s.base.href.replace(/\/$/, "");

/**
 * Decrypts a served answer's layers with the reader's identities, exactly as a clone's are
 * read (layers.ts: MAC, binding to the path `layersFor` names, merge).
 */
export async function openAnswer(s: ServerSource, answer: ServedConfig, commit: string, stale: boolean): Promise<LoadedConfig> {
  const sources = answer.layers.map((l) => ({ name: l.name, path: l.path, bytes: l.found && l.content !== undefined ? Buffer.from(l.content, "utf8") : undefined }));
  const opened = await openLayers(s.project, s.env, commit, sources, s.identities, (path, data) => denied(s, path, data));
  if (answer.schema) {
    // The schema is plain JSON under no MAC: it is as trustworthy as the service that sends it, and only ever refuses.
    const { assertProjectSchema } = await import("./schema.js");
    assertProjectSchema({ project: s.project, env: s.env, schema: Buffer.from(answer.schema.content, "utf8"), layers: layerValuesOf(opened) ?? [], outcome: `Nothing was loaded (commit ${commit.slice(0, 12)}, from ${shown(s)})` });
  }
  return withLayerValues(opened, { ...opened, commit, repo: shown(s), server: shown(s), project: s.project, env: s.env, stale });
}

/**
 * Loads from the service: `If-None-Match` with the ETag of the cached copy's own bytes, so a
 * 304 confirms exactly what is held; a 200 is decrypted and, once verified, becomes the cache.
 * When the service cannot be reached (refused, timed out, 5xx) the cached copy is served, after
 * it verifies, with `stale: true` and a CONFIG_STALE warning naming its commit; with none,
 * CONFIG_SERVER_UNAVAILABLE. A cached copy that does not verify (its MAC, its binding: someone
 * wrote the file) is never used.
 */
export async function loadFromServer(s: ServerSource): Promise<ServerLoad> {
  const read = await readCachedAnswer(s.cacheFile, s.project, s.env);
  let held = "answer" in read ? read.answer : undefined;
  let refused = "unusable" in read ? read.unusable : undefined;
  if (refused !== undefined) cacheRefused(s, refused);
  let r: ConfigAnswer;
  try {
    r = await requestConfig(s.base, s.project, s.env, { etag: held && contentEtag(held), timeoutMs: s.timeoutMs });
    if (!r.changed && held) {
      const answer = { ...held, commit: r.commit };
      const loaded = await openAnswer(s, answer, r.commit, false).catch((e: unknown) => {
        if (!isBootMetaError(e) || e.code === "CONFIG_ACCESS_DENIED") throw e;
        refused = reason(e);
        cacheRefused(s, refused);
        return undefined;
      });
      if (loaded) {
        if (held.commit !== r.commit) await keep(s, answer);
        return { loaded, answer };
      }
      held = undefined;
      r = await requestConfig(s.base, s.project, s.env, { timeoutMs: s.timeoutMs });
    }
  } catch (e) {
    if (!isBootMetaError(e, "CONFIG_SERVER_UNAVAILABLE")) throw e;
    return { loaded: await fromCache(s, e, held, refused), answer: held as ServedConfig };
  }
  if (!r.changed) throw badResponse(s.base, "a 304 to a request that named no ETag");
  const loaded = await openAnswer(s, r.body, r.body.commit, false);
  await keep(s, r.body);
  return { loaded, answer: r.body };
}

/** The cached copy, verified, when the service is down; otherwise the outage, saying why nothing could be served. */
async function fromCache(s: ServerSource, down: BootMetaError, held: ServedConfig | undefined, refused: string | undefined): Promise<LoadedConfig> {
  let why = refused === undefined ? undefined : `the cached copy (${s.cacheFile}) was not used: ${refused}`;
  if (held) {
    try {
      const loaded = await openAnswer(s, held, held.commit, true);
      s.warn({ code: "CONFIG_STALE", message: `${down.message}; serving the last verified copy (commit ${held.commit.slice(0, 12)}), which may be out of date` });
      return loaded;
    } catch (e) {
      why = `the cached copy (${s.cacheFile}) could not be used: ${reason(e)}`;
      if (isBootMetaError(e) && e.code !== "CONFIG_ACCESS_DENIED") cacheRefused(s, reason(e));
    }
  }
  throw new BootMetaError(
    "CONFIG_SERVER_UNAVAILABLE",
    `${down.message}, and nothing verified from it is cached for ${s.project} ${s.env}, so there is no last known good copy to start from${why ? ` (${why})` : ""}`,
    ExitCode.General,
    { data: { ...down.data, project: s.project, env: s.env, cacheFile: s.cacheFile }, suggestions: down.suggestions },
  );
}

function reason(e: unknown): string {
  return isBootMetaError(e) ? `${e.code}: ${e.message}` : String(e);
}

function cacheRefused(s: ServerSource, why: string): void {
  s.warn({ code: "CONFIG_CACHE_REFUSED", message: `the cached config of ${s.project} ${s.env} from ${shown(s)} (${s.cacheFile}) is not used: ${why}; the next answer that verifies replaces it` });
}

/** A cache that cannot be written (a read-only home) costs the next outage its fallback, not this load. */
export async function keep(s: ServerSource, answer: ServedConfig): Promise<void> {
  try {
    await writeCachedAnswer(s.cacheFile, answer);
  } catch (e) {
    s.warn({ code: "CONFIG_CACHE_NOT_WRITTEN", message: `cannot keep the config of ${s.project} ${s.env} in ${s.cacheFile} (${(e as NodeJS.ErrnoException).code ?? String(e)}): if ${shown(s)} becomes unreachable, there is nothing to start from` });
  }
}

/**
 * CONFIG_ACCESS_DENIED as far as a client of the service can say it: the layer's recipients
 * (age keys) are in its ciphertext, but which principals hold them is in the meta repo's keys/,
 * which the service does not send.
 */
function denied(s: ServerSource, path: string, data: Record<string, unknown>): BootMetaError {
  const recipients = (data.recipients as string[] | undefined) ?? [];
  const mine = [...s.identities.recipients];
  const where = s.identities.searched.filter((x) => x.found > 0).map((x) => x.source.where);
  return new BootMetaError(
    "CONFIG_ACCESS_DENIED",
    `cannot decrypt ${path}: it is encrypted to the keys ${recipients.join(", ")}; your identity${where.length ? ` (${where.join(", ")})` : ""} is ${mine.length ? mine.join(", ") : "none that was found"}. The config server ${shown(s)} sends ciphertext only, so which principals hold those keys is not known here: \`boot-meta keys list\` in the meta repository says`,
    ExitCode.CouldNotRetrieveKey,
    {
      data: { path, recipients, you: mine, server: shown(s), principalsKnown: false },
      suggestions: ["ask an admin for access (`boot-meta keys add`), or load an env you may read"],
    },
  );
}
