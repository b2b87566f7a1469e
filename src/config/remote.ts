import { createHash } from "node:crypto";
import { BootMetaError, ERROR_CODES, type ErrorCode, ExitCode } from "../errors.js";
import { limits } from "../limits.js";
import { layersFor, schemaFile } from "../meta/layout.js";

/**
 * The HTTP client of the config service (`boot-meta serve`, README "Config service"): it asks
 * for an env's layers as stored — ciphertext — and for the stream of changes. Nothing here
 * decrypts; everything the service says is checked against what the API promises, and the
 * paths the caller trusts are the ones it computes itself (`layersFor`), never the service's.
 */

/** A layer as the service sends it (src/server/routes/config.ts, which uses this type). */
export interface ServedLayer {
  name: "defaults" | "env" | "developer";
  path: string;
  found: boolean;
  /** The git blob id of the file (absent when not found). */
  blob?: string;
  /** The SOPS file's text, as committed (absent when not found). */
  content?: string;
  /**
   * With a trust root: the layer's newest change was made by someone not allowed to make it,
   * so this is its last trusted version (or it is absent), and why.
   */
  untrusted?: { commit: string; reason: string; message: string };
}

/** The body of `GET /v1/projects/:project/config?env=`. */
export interface ServedConfig {
  project: string;
  env: string;
  commit: string;
  etag: string;
  layers: ServedLayer[];
  /** The project's `schema.json` as committed (absent when it has none): plain JSON, no secret. */
  schema?: ServedSchema;
}

/** `<project>/schema.json` as served: its path, git blob id and text. */
export interface ServedSchema {
  path: string;
  blob: string;
  content: string;
}

/** A 200 with the layers, or a 304: the layers the caller holds are still the served ones, at `commit`. */
export type ConfigAnswer = { changed: true; body: ServedConfig; commit: string } | { changed: false; commit: string };

export const DEFAULT_TIMEOUT_MS = 10_000;

const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** The service's base URL, checked: http(s), no credentials (fetch refuses them), ending in `/` so paths resolve under it. */
export function serverBase(server: string): URL {
  let u: URL;
  try {
    u = new URL(server);
  } catch {
    throw badServer(server, "it is not a URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw badServer(server, `its scheme is ${u.protocol.slice(0, -1)}, not http or https`);
  if (u.username || u.password) throw badServer(`${u.protocol}//${u.host}${u.pathname}`, "it carries a user name or password, which would be sent to every proxy and logged");
  u.search = "";
  u.hash = "";
  if (!u.pathname.endsWith("/")) u.pathname += "/";
  return u;
}

function badServer(server: string, why: string): BootMetaError {
  return new BootMetaError("INVALID_ARGUMENT", `the config server ${JSON.stringify(server)} cannot be used: ${why}`, ExitCode.InvalidArgument, {
    data: { server },
    suggestions: ["give the service's base URL, like http://config.internal:8080 (the server option or BOOT_META_SERVER)"],
  });
}

/** The service's address for messages: no query, no fragment. */
const shown = (base: URL) => base.href.replace(/\/$/, "");

/** `…/v1/projects/<project, one percent-encoded segment>/config?env=…[&wait=…]` (DESIGN.md "Conventions"). */
export function configUrl(base: URL, project: string, env: string, wait?: number): URL {
  const u = new URL(`v1/projects/${encodeURIComponent(project)}/config`, base);
  u.searchParams.set("env", env);
  if (wait !== undefined) u.searchParams.set("wait", String(wait));
  return u;
}

/** `…/v1/events?path=…` for each path (a path is a prefix of itself, so exactly these files). */
export function eventsUrl(base: URL, paths: string[]): URL {
  const u = new URL("v1/events", base);
  for (const p of paths) u.searchParams.append("path", p);
  return u;
}

/**
 * The ETag the service gives these layers: a hash of each path and its git blob id (DESIGN.md
 * "ETag"; src/server/routes/config.ts). The blob ids are computed here from the content, not
 * taken from what was stored beside it, so an ETag sent from a cached copy always names that
 * copy's bytes: a 304 can only confirm what is really held.
 */
export function contentEtag(answer: Pick<ServedConfig, "layers" | "schema">): string {
  const { layers, schema } = answer;
  const sha256Repo = layers.some((l) => l.blob?.length === 64) || schema?.blob.length === 64;
  const ids = layers.map((l) => `${l.path}\0${l.found && l.content !== undefined ? blobId(l.content, sha256Repo) : "-"}`);
  // A project without a schema keeps the ETag it had before schemas were served.
  if (schema) ids.push(`${schema.path}\0${blobId(schema.content, sha256Repo)}`);
  return `"${createHash("sha256").update(ids.join("\n")).digest("hex").slice(0, 32)}"`;
}

function blobId(content: string, sha256Repo: boolean): string {
  const bytes = Buffer.from(content, "utf8");
  return createHash(sha256Repo ? "sha256" : "sha1")
    .update(`blob ${bytes.length}\0`)
    .update(bytes)
    .digest("hex");
}

export interface RequestOptions {
  /** How long the request may take before the service counts as unreachable. */
  timeoutMs: number;
  /** Ends the request (unwatch): it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * `GET …/config?env=` with `If-None-Match: etag` (and `wait` seconds of long-poll). Throws
 * CONFIG_SERVER_UNAVAILABLE when the service cannot be reached, times out or answers 5xx (the
 * caller may start from its cache), the service's own error for a 4xx (CONFIG_NOT_FOUND, …),
 * CONFIG_SERVER_BAD_RESPONSE for an answer the API does not allow.
 */
export async function requestConfig(base: URL, project: string, env: string, o: RequestOptions & { etag?: string; wait?: number }): Promise<ConfigAnswer> {
  const url = configUrl(base, project, env, o.wait);
  const headers: Record<string, string> = { accept: "application/json" };
  if (o.etag !== undefined) headers["if-none-match"] = o.etag;
  // A long-poll is allowed its wait on top of the time a request may take.
  return send(base, url, { headers }, o.timeoutMs + (o.wait ?? 0) * 1000, o.signal, async (r): Promise<ConfigAnswer> => {
    if (r.status === 304) return { changed: false, commit: commitHeader(base, r) };
    if (r.status !== 200) throw await failure(base, r, o.signal);
    const text = await readCapped(r, maxBody(), base);
    const body = parseServed(base, text, project, env);
    return { changed: true, body, commit: body.commit };
  });
}

/**
 * Opens `GET /v1/events` (SSE) from `lastEventId`. Resolves with the open response once the
 * headers are in (the caller reads the stream and owns its end), or `unsupported` when the
 * service has no stream there (404, or an answer that is not an event stream: an older service
 * or a proxy in the way), so the caller long-polls instead.
 */
export async function openEvents(base: URL, paths: string[], o: RequestOptions & { lastEventId?: string }): Promise<Response | "unsupported"> {
  const headers: Record<string, string> = { accept: "text/event-stream", "cache-control": "no-cache" };
  if (o.lastEventId !== undefined) headers["last-event-id"] = o.lastEventId;
  const connect = new AbortController();
  const timer = setTimeout(() => connect.abort(timeoutReason()), o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, connect.signal]) : connect.signal;
  let res: Response;
  try {
    res = await fetch(eventsUrl(base, paths), { headers, signal });
  } catch (e) {
    throw networkFailure(base, e, o.signal);
  } finally {
    clearTimeout(timer);
  }
  const type = res.headers.get("content-type") ?? "";
  if (res.status === 200 && type.startsWith("text/event-stream")) return res;
  if (res.status === 404 || (res.status === 200 && !type.startsWith("text/event-stream"))) {
    await res.body?.cancel().catch(() => undefined);
    return "unsupported";
  }
  throw await failure(base, res, o.signal);
}

/** One fetch whose whole answer (headers and body) is read within `timeoutMs`. */
async function send<T>(base: URL, url: URL, init: RequestInit, timeoutMs: number, user: AbortSignal | undefined, read: (r: Response) => Promise<T>): Promise<T> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(timeoutReason()), timeoutMs);
  const signal = user ? AbortSignal.any([user, timeout.signal]) : timeout.signal;
  try {
    const r = await fetch(url, { ...init, signal });
    try {
      return await read(r);
    } finally {
      // A body not read (a 304, an error already thrown) must not keep the socket busy.
      await r.body?.cancel().catch(() => undefined);
    }
  } catch (e) {
    if (e instanceof BootMetaError) throw e;
    throw networkFailure(base, e, user);
  } finally {
    clearTimeout(timer);
  }
}

const timeoutReason = () => Object.assign(new Error("timed out"), { name: "TimeoutError" });

/** A fetch that failed below HTTP: refused, reset, no such host, timed out. The caller's own abort passes through. */
function networkFailure(base: URL, e: unknown, user: AbortSignal | undefined): unknown {
  if (user?.aborted) return user.reason ?? e;
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const why = err.name === "TimeoutError" || err.cause?.code === "UND_ERR_CONNECT_TIMEOUT" ? "it did not answer in time" : (err.cause?.code ?? err.cause?.message ?? err.message ?? String(e));
  return unavailable(base, why);
}

/** The service cannot serve now: the caller starts from its cache, or retries. */
export function unavailable(base: URL, why: string): BootMetaError {
  return new BootMetaError("CONFIG_SERVER_UNAVAILABLE", `cannot reach the config server ${shown(base)}: ${why}`, ExitCode.General, {
    data: { server: shown(base) },
    suggestions: ["check that `boot-meta serve` runs there and that the address (the server option, BOOT_META_SERVER) is right"],
  });
}

/** A non-2xx answer: 5xx is "unavailable" (use the cache, retry); a 4xx is the service's own error, which a cache would not cure. */
async function failure(base: URL, r: Response, user: AbortSignal | undefined): Promise<BootMetaError> {
  let text = "";
  try {
    text = await readCapped(r, 64 * 1024, base);
  } catch (e) {
    if (user?.aborted) throw user.reason ?? e;
  }
  const said = serviceError(text);
  if (r.status >= 500) return unavailable(base, `it answered ${r.status}${said ? ` ${said.code}: ${said.message}` : ""}`);
  if (said && Object.hasOwn(ERROR_CODES, said.code)) {
    return new BootMetaError(said.code as ErrorCode, `the config server ${shown(base)} answered ${r.status}: ${said.message}`, undefined, {
      data: { ...said.data, server: shown(base), status: r.status },
      suggestions: said.suggestions,
    });
  }
  return badResponse(base, `it answered ${r.status}${said ? ` ${said.code}` : ""}`);
}

/** `{ error: { code, message, data, suggestions } }`, the service's error shape, or undefined. */
function serviceError(text: string): { code: string; message: string; data: Record<string, unknown>; suggestions: string[] } | undefined {
  try {
    const e = (JSON.parse(text) as { error?: unknown }).error as Record<string, unknown> | undefined;
    if (typeof e?.code !== "string" || typeof e.message !== "string") return undefined;
    const data = typeof e.data === "object" && e.data !== null && !Array.isArray(e.data) ? (e.data as Record<string, unknown>) : {};
    const suggestions = Array.isArray(e.suggestions) ? e.suggestions.filter((s): s is string => typeof s === "string") : [];
    return { code: e.code, message: e.message, data, suggestions };
  } catch {
    return undefined;
  }
}

export function badResponse(base: URL, why: string): BootMetaError {
  return new BootMetaError("CONFIG_SERVER_BAD_RESPONSE", `the config server ${shown(base)} gave an answer its API does not allow: ${why}`, ExitCode.General, {
    data: { server: shown(base) },
    suggestions: ["check that the address is a `boot-meta serve` (a proxy in front of it may be answering), and that client and service are of compatible versions"],
  });
}

function commitHeader(base: URL, r: Response): string {
  const c = r.headers.get("boot-meta-commit") ?? "";
  if (!COMMIT.test(c)) throw badResponse(base, "a 304 without a Boot-Meta-Commit header naming a commit");
  return c;
}

/** Three layers of at most the file-size limit each, as JSON strings (escaping can double them). */
const maxBody = () => 8 * limits().maxFileBytes + 64 * 1024;

async function readCapped(r: Response, max: number, base: URL): Promise<string> {
  const declared = Number(r.headers.get("content-length") ?? "0");
  if (declared > max) throw badResponse(base, `an answer of ${declared} bytes, more than the ${max} allowed`);
  if (!r.body) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const c of r.body) {
    total += c.length;
    if (total > max) throw badResponse(base, `an answer of more than the ${max} bytes allowed`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The body of a 200, checked (see {@link servedFrom}). */
function parseServed(base: URL, text: string, project: string, env: string): ServedConfig {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw badResponse(base, "a config answer that is not JSON");
  }
  const s = servedFrom(v, project, env);
  if ("invalid" in s) throw badResponse(base, s.invalid);
  return s;
}

/**
 * A config answer (from the service, or from the cache on disk), checked for shape: the env
 * asked for, a commit, and exactly the layers `layersFor` names, in order. Says what is wrong
 * otherwise. The content itself is checked by decrypting it (MAC, binding).
 */
export function servedFrom(v: unknown, project: string, env: string): ServedConfig | { invalid: string } {
  const o = v as Record<string, unknown>;
  if (typeof v !== "object" || v === null || o.project !== project || o.env !== env) return { invalid: `an answer for another project or env than ${project} ${env}` };
  if (typeof o.commit !== "string" || !COMMIT.test(o.commit)) return { invalid: "a config answer without the commit it was read at" };
  if (typeof o.etag !== "string") return { invalid: "a config answer without its ETag" };
  const want = layersFor(project, env);
  const got = Array.isArray(o.layers) ? (o.layers as Record<string, unknown>[]) : [];
  if (got.length !== want.length) return { invalid: `${got.length} layers for ${project} ${env}, where ${want.length} are expected` };
  const layers: ServedLayer[] = [];
  for (const [i, w] of want.entries()) {
    const l = got[i] as Record<string, unknown>;
    if (typeof l !== "object" || l === null || l.name !== w.name || l.path !== w.path || typeof l.found !== "boolean") return { invalid: `layer ${i + 1} is not ${w.path}` };
    if (!l.found) {
      layers.push({ name: w.name, path: w.path, found: false });
      continue;
    }
    if (typeof l.content !== "string" || typeof l.blob !== "string" || !COMMIT.test(l.blob)) return { invalid: `${w.path} is found but has no content or blob id` };
    layers.push({ name: w.name, path: w.path, found: true, blob: l.blob, content: l.content });
  }
  let schema: ServedSchema | undefined;
  if (o.schema !== undefined) {
    const x = o.schema as Record<string, unknown>;
    if (typeof x !== "object" || x === null || x.path !== schemaFile(project) || typeof x.content !== "string" || typeof x.blob !== "string" || !COMMIT.test(x.blob)) return { invalid: `a schema that is not ${schemaFile(project)} with its content and blob id` };
    schema = { path: x.path, blob: x.blob, content: x.content };
  }
  return { project, env, commit: o.commit, etag: o.etag, layers, ...(schema ? { schema } : {}) };
}
