import { createHash } from "node:crypto";
import type { EvaluationContext } from "@openfeature/core";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { loadConfig } from "../../config/loader.js";
import { BootMetaError, ExitCode, internalError, isBootMetaError } from "../../errors.js";
import type { FlagEvaluation } from "../../flags/flag-set.js";
import { type FlagSet, flagsFromConfig } from "../../flags/load.js";
import { validateName } from "../../meta/layout.js";
import type { RouteContext } from "../app.js";
import { requireToken } from "../auth.js";
import { statusOf } from "../http-errors.js";
import { etagMatches } from "../negotiate.js";
import { notReady } from "./params.js";

/**
 * OFREP, the OpenFeature Remote Evaluation Protocol (github.com/open-feature/protocol,
 * service/openapi.yaml), so apps in any language evaluate flags over HTTP:
 *
 * - `POST /ofrep/v1/evaluate/flags/:key?project=P&env=E` — body `{ context }` — one flag:
 *   `{ key, value, reason, variant, metadata }`; `{ key, errorCode, errorDetails }` with 404
 *   for FLAG_NOT_FOUND and 400 for PARSE_ERROR, INVALID_CONTEXT and the rest.
 * - `POST /ofrep/v1/evaluate/flags?project=P&env=E` — every flag of the env, `{ flags: [...] }`,
 *   with an ETag (the served commit, project, env and context): `If-None-Match` with it is a 304.
 * - The same under `/v1/projects/:project/envs/:env/` (an env with a slash percent-encoded:
 *   `dev%2Falice`): OFREP providers append `/ofrep/v1/…` to the base URL they are given, so a
 *   query string cannot ride on it, and that prefix is the base URL any OFREP provider can use.
 *
 * The request needs a bearer token with the scope `flags:evaluate` on the project. The service
 * opens the env's config with its own identity (DESIGN.md "The server's keys") at the served
 * commit — an env its principal does not read is a 403 SERVER_NOT_A_READER, and without an
 * identity every request is a 501 SERVER_NO_IDENTITY. Flag values go to the caller (that is
 * what OFREP is for) and never to the log. Every error body carries OFREP's `errorCode` and
 * `errorDetails` beside boot-meta's `error: { code, message, … }`.
 */

interface Query {
  project?: string;
  env?: string;
}
/** The route's path parameters: the flag's key on single evaluations, the project and env under the /v1/projects/… prefix. */
interface Params {
  key?: string;
  project?: string;
  env?: string;
}
interface Body {
  context?: unknown;
}

/** A flag set loaded at a commit, or why it could not be (kept too: the same commit fails the same way). */
type Loaded = Promise<FlagSet>;
/** Envs kept per commit: beyond this many (names asked for that do not exist, say), the cache starts over. */
const MAX_CACHED = 1_000;

/** JSON with object keys sorted: the same context gives the same ETag whatever order its keys came in. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (typeof v === "object" && v !== null) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v) ?? "null";
}

function ofrepInput(errorCode: "PARSE_ERROR" | "INVALID_CONTEXT", message: string): BootMetaError {
  return new BootMetaError("SERVER_BAD_REQUEST", message, ExitCode.InvalidArgument, {
    data: { errorCode },
    suggestions: ['send a JSON body `{ "context": { "targetingKey": "user-1", … } }` (OFREP\'s evaluation request)'],
  });
}

/** The request's evaluation context: `{ context: {...} }`, or nothing (an empty context). */
function contextOf(body: unknown): EvaluationContext {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) throw ofrepInput("INVALID_CONTEXT", "the body is not an OFREP evaluation request: it must be a JSON object with a context");
  const context = (body as Body).context;
  if (context === undefined || context === null) return {};
  if (typeof context !== "object" || Array.isArray(context)) throw ofrepInput("INVALID_CONTEXT", `context must be a JSON object of attributes, not ${Array.isArray(context) ? "a list" : `a ${typeof context}`}`);
  const targetingKey = (context as Record<string, unknown>).targetingKey;
  if (targetingKey !== undefined && typeof targetingKey !== "string") throw ofrepInput("INVALID_CONTEXT", `context.targetingKey must be a string, not ${targetingKey === null ? "null" : `a ${typeof targetingKey}`}`);
  return context as EvaluationContext;
}

/** The project and env of the path prefix, else of `?project=&env=`: both required and valid names. */
function targetOf(p: Params, query: Query): { project: string; env: string } {
  const q = p.project !== undefined ? p : query;
  if (typeof q.project !== "string" || typeof q.env !== "string") {
    const missing = typeof q.project !== "string" ? "project" : "env";
    throw new BootMetaError("SERVER_BAD_REQUEST", `OFREP requests name the project and env whose flags they evaluate: the ${missing} query parameter is missing`, ExitCode.InvalidArgument, {
      data: { parameter: missing },
      suggestions: ["give an OFREP provider the base URL http://SERVICE/v1/projects/shop/envs/prod; by hand, POST …/ofrep/v1/evaluate/flags?project=shop&env=prod"],
    });
  }
  return { project: validateName("project", q.project), env: validateName("env", q.env) };
}

function noIdentity(): BootMetaError {
  return new BootMetaError("SERVER_NO_IDENTITY", "this service holds no identity, so it can open no env's flags: OFREP is off", ExitCode.General, {
    suggestions: [
      "give the service a principal of its own (`boot-meta keys add meta-server --key age1… --group …`), make it a reader of the envs whose flags it evaluates, and start it with `boot-meta serve --identity FILE`",
      "or evaluate in-process with loadFlags / the OpenFeature provider (boot-meta/openfeature)",
    ],
  });
}

function notAReader(project: string, env: string, commit: string, cause: BootMetaError): BootMetaError {
  return new BootMetaError("SERVER_NOT_A_READER", `this service's principal is not a reader of ${project} ${env} at ${commit.slice(0, 12)}, so it cannot evaluate that env's flags: it evaluates only the envs the access rules let it read`, ExitCode.CouldNotRetrieveKey, {
    data: { project, env, commit, cause: cause.code },
    suggestions: [`make the service's principal a reader of ${project} ${env} (.boot-meta.yaml access rules, then \`boot-meta access sync\`) if its flags are to be served over OFREP`, "or evaluate in-process with loadFlags, with a key that reads the env"],
  });
}

/** OFREP's error code for a request that failed as a whole. */
function ofrepCodeOf(e: BootMetaError): string {
  const c = (e.data as { errorCode?: unknown }).errorCode;
  return typeof c === "string" ? c : "GENERAL";
}

/** An evaluation as OFREP gives it: success, or `{ key, errorCode, errorDetails }` (and the status a single evaluation answers with). */
function answerOf(ev: FlagEvaluation, project: string, env: string): { status: number; body: Record<string, unknown> } {
  if (ev.reason === "ERROR") {
    const errorCode = ev.errorCode ?? "GENERAL";
    // Only the key is named: the reasons a flag is invalid quote its rules, which stay with the env's readers.
    const errorDetails =
      errorCode === "FLAG_NOT_FOUND"
        ? `there is no flag ${ev.key} in ${project} ${env} at ${ev.commit.slice(0, 12)}`
        : errorCode === "PARSE_ERROR"
          ? `flag ${ev.key} in ${project} ${env} is not a valid flagd flag; a reader of the env sees why with \`boot-meta flags get ${ev.key} -p ${project} -e ${env}\``
          : `flag ${ev.key} in ${project} ${env} could not be evaluated (${errorCode}); a reader of the env sees why with \`boot-meta flags eval ${ev.key} -p ${project} -e ${env}\``;
    return { status: errorCode === "FLAG_NOT_FOUND" ? 404 : 400, body: { key: ev.key, errorCode, errorDetails } };
  }
  const body: Record<string, unknown> = { key: ev.key, reason: ev.reason };
  // No value (disabled, or no variant applies and none is the default): the caller's code default is the answer.
  if (ev.value !== null) body.value = ev.value;
  if (ev.variant !== null) body.variant = ev.variant;
  body.metadata = { ...ev.flagMetadata, commit: ev.commit };
  return { status: 200, body };
}

export function ofrepRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { mirror } = ctx;
  let cacheAt: string | undefined;
  const cache = new Map<string, Loaded>();

  /** The env's flags at the served commit, opened with the service's own identity; one load per commit, project and env. */
  const flagsAt = (commit: string, project: string, env: string): Loaded => {
    if (cacheAt !== commit || cache.size >= MAX_CACHED) {
      cache.clear();
      cacheAt = commit;
    }
    const key = `${project}\0${env}`;
    let hit = cache.get(key);
    if (!hit) {
      hit = load(commit, project, env);
      cache.set(key, hit);
      // What fails the same way at this commit (not a reader, no such env) is kept; anything else is tried again.
      hit.catch((e: unknown) => {
        if (!(isBootMetaError(e) && (e.code === "SERVER_NOT_A_READER" || e.code === "CONFIG_NOT_FOUND")) && cache.get(key) === hit) cache.delete(key);
      });
    }
    return hit;
  };

  const load = async (commit: string, project: string, env: string): Promise<FlagSet> => {
    const dir = mirror.gitDir;
    if (dir === undefined) throw notReady();
    try {
      const c = await loadConfig({ repo: dir, project, env, at: commit, identities: ctx.identities, trustRoot: mirror.trustRoot, environment: {}, cwd: dir, onWarning: () => undefined });
      return await flagsFromConfig(c);
    } catch (e) {
      if (isBootMetaError(e, "CONFIG_ACCESS_DENIED")) throw notAReader(project, env, commit, e);
      throw e;
    }
  };

  /** Who may ask, for what, and the flags to answer from. */
  const prepare = async (req: FastifyRequest<{ Params: Params; Querystring: Query; Body: Body }>) => {
    if (ctx.identities === undefined) throw noIdentity();
    const { project, env } = targetOf(req.params, req.query);
    await requireToken(req, ctx, { scope: "flags:evaluate", project });
    const context = contextOf(req.body);
    const head = mirror.head;
    if (head === undefined) throw notReady();
    return { project, env, context, flags: await flagsAt(head, project, env) };
  };

  /** An error in OFREP's shape (`key` on single evaluations), boot-meta's `error` beside it. */
  const fail = (reply: FastifyReply, err: unknown, key?: string): FastifyReply => {
    const e = isBootMetaError(err) ? err : internalError(err);
    const status = statusOf(e);
    const challenge = (e as { challenge?: unknown }).challenge;
    if (typeof challenge === "string") reply.header("www-authenticate", challenge);
    if (status >= 500 && status !== 501) reply.log.error({ err: e.toJSON(), cause: isBootMetaError(err) ? undefined : String(err) }, "OFREP request failed");
    const error = status === 500 && e.code === "INTERNAL" ? { code: "INTERNAL", message: "internal error", data: {}, suggestions: [] } : e.toJSON();
    const body = { ...(key === undefined ? {} : { key }), errorCode: ofrepCodeOf(e), errorDetails: error.message, error };
    return reply.code(status).type("application/json; charset=utf-8").send(body);
  };

  // A body fastify cannot parse (not JSON, not an object type it knows) is OFREP's PARSE_ERROR.
  const parseErrors = (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const key = (req.params as { key?: string }).key;
    if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
      const e = ofrepInput("PARSE_ERROR", `the body is not an OFREP evaluation request: ${err.message}`);
      return reply.code(err.statusCode).type("application/json; charset=utf-8").send({ ...(key === undefined ? {} : { key }), errorCode: "PARSE_ERROR", errorDetails: e.message, error: e.toJSON() });
    }
    return fail(reply, err, key);
  };

  for (const prefix of ["", "/v1/projects/:project/envs/:env"]) {
    app.post<{ Params: Params & { key: string }; Querystring: Query; Body: Body }>(`${prefix}/ofrep/v1/evaluate/flags/:key`, { errorHandler: parseErrors }, async (req, reply) => {
      const key = req.params.key;
      try {
        const { project, env, context, flags } = await prepare(req);
        const a = answerOf(flags.evaluate(key, { context }), project, env);
        reply.header("boot-meta-commit", flags.commit).header("cache-control", "no-store");
        return reply.code(a.status).type("application/json; charset=utf-8").send(a.body);
      } catch (e) {
        return fail(reply, e, key);
      }
    });

    app.post<{ Params: Params; Querystring: Query; Body: Body }>(`${prefix}/ofrep/v1/evaluate/flags`, { errorHandler: parseErrors }, async (req, reply) => {
      try {
        const { project, env, context, flags } = await prepare(req);
        // The answer is a function of the flags at the commit and the context: both go in the tag.
        const etag = `"${createHash("sha256").update(`${flags.commit}\0${project}\0${env}\0${canonical(context)}`).digest("hex").slice(0, 32)}"`;
        reply.header("etag", etag).header("boot-meta-commit", flags.commit).header("cache-control", "no-cache");
        if (etagMatches(req.headers["if-none-match"], etag)) return reply.code(304).send();
        const answers = flags.evaluateAll({ context }).map((ev) => answerOf(ev, project, env).body);
        return reply.type("application/json; charset=utf-8").send({ flags: answers, metadata: { project, env, commit: flags.commit } });
      } catch (e) {
        return fail(reply, e);
      }
    });
  }
}
