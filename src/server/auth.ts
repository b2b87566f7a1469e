import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { TOKENS_DIR, KEYS_DIR } from "../meta/layout.js";
import { checkExpiry, resolveToken, type TokenScope, tokenAllows, type VerifiedToken } from "../records/tokens.js";
import type { RouteContext } from "./app.js";
import { notReady } from "./routes/params.js";

/** An error the HTTP layer sends with a `WWW-Authenticate` challenge (http-errors.ts sendError). */
class AuthError extends BootMetaError {
  readonly challenge: string;
  constructor(code: "SERVER_UNAUTHORIZED" | "SERVER_FORBIDDEN", message: string, challenge: string, data: Record<string, unknown>, suggestions: string[]) {
    super(code, message, ExitCode.General, { data, suggestions });
    this.challenge = challenge;
  }
}

const REALM = 'Bearer realm="boot-meta"';
/** Answers kept per state of tokens/ and keys/: beyond this many tokens seen, the cache starts over. */
const MAX_CACHED = 10_000;

interface Cache {
  /** The object ids of tokens/ and keys/ the answers were made at. */
  at: string;
  answers: Map<string, Promise<VerifiedToken>>;
}
const caches = new WeakMap<RouteContext, Cache>();

/**
 * What a token presented to the service allows, at the commit it serves, cached per state of
 * tokens/ and keys/: the same trees give the same answer, so a commit that touches neither
 * (the service's own batch of instance reports, say) keeps the cache, and a revocation or a
 * principal's removal empties it. Answers are keyed by a hash of the token, failures too (a
 * client retrying a bad token costs a map lookup). Expiry is checked on every request.
 */
async function resolveCached(ctx: RouteContext, token: string): Promise<VerifiedToken> {
  const head = ctx.mirror.head;
  if (head === undefined) throw notReady();
  const r = ctx.mirror.reader(head);
  const [tokens, keys] = await Promise.all([r.entry(TOKENS_DIR), r.entry(KEYS_DIR)]);
  const at = `${tokens?.id ?? "-"}:${keys?.id ?? "-"}`;
  let c = caches.get(ctx);
  if (!c || c.at !== at || c.answers.size >= MAX_CACHED) caches.set(ctx, (c = { at, answers: new Map() }));
  const key = createHash("sha256").update(token).digest("hex");
  let answer = c.answers.get(key);
  if (!answer) {
    answer = resolveToken(r, token);
    answer.catch(() => undefined);
    c.answers.set(key, answer);
  }
  return answer;
}

/** The token of an `Authorization: Bearer TOKEN` header; undefined when there is none. */
function bearerOf(req: FastifyRequest): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === "string" ? /^Bearer +(\S+) *$/i.exec(h) : null;
  return m?.[1];
}

/**
 * The principal, scopes and projects of the request's bearer token, when it may do `scope` on
 * `project`. 401 SERVER_UNAUTHORIZED (with a `WWW-Authenticate: Bearer` challenge) for a
 * request without a token or with one this meta repository does not honour (unknown, wrong
 * secret, expired, revoked: `data.reason` says which of the last two); 403 SERVER_FORBIDDEN for
 * a valid token without that scope or project. The token itself never reaches a message or a log.
 */
export async function requireToken(req: FastifyRequest, ctx: RouteContext, o: { scope: TokenScope; project: string }): Promise<VerifiedToken> {
  const token = bearerOf(req);
  if (token === undefined) {
    throw new AuthError("SERVER_UNAUTHORIZED", `${req.method} ${req.routeOptions.url ?? req.url.split("?")[0]} needs a bearer token with the scope ${o.scope}`, REALM, { scope: o.scope }, [
      "send `Authorization: Bearer TOKEN`; an admin makes one with `boot-meta token create PRINCIPAL --scope … --project …`",
    ]);
  }
  let v: VerifiedToken;
  try {
    v = checkExpiry(await resolveCached(ctx, token));
  } catch (e) {
    if (isBootMetaError(e) && (e.code === "TOKEN_INVALID" || e.code === "TOKEN_EXPIRED" || e.code === "TOKEN_REVOKED")) {
      throw new AuthError("SERVER_UNAUTHORIZED", e.message, `${REALM}, error="invalid_token"`, { reason: e.code }, e.suggestions);
    }
    throw e;
  }
  const allowed = tokenAllows(v, o.scope, o.project);
  if (!allowed.ok) {
    throw new AuthError("SERVER_FORBIDDEN", `token ${v.id} of ${v.principal} may not do ${o.scope} on ${o.project}: ${allowed.why}`, `${REALM}, error="insufficient_scope", scope="${o.scope}"`, { id: v.id, principal: v.principal, scope: o.scope, project: o.project }, [
      `ask an admin for a token with --scope ${o.scope} --project ${o.project}`,
    ]);
  }
  return v;
}
