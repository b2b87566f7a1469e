import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import type { CommitResult } from "../meta/commit.js";
import { KEYS_DIR, projectFile, TOKENS_DIR, validateName } from "../meta/layout.js";
import { commitRecords, decodeAt, dirsIn, namesIn, nowIso, type Reader, readRecord, withReader, type WriteOpts, writeRecord } from "./files.js";
import type { Token } from "./generated.js";

/** What a token may be used for: one scope per endpoint family of the service. */
export const TOKEN_SCOPES = ["instances:report", "instances:read", "events:write", "events:read", "flags:evaluate"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** `bmt_<16 hex id>_<43 base64url characters: 256 bits of secret>`. */
const TOKEN = /^bmt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const TOKEN_ID = /^[0-9a-f]{16}$/;

export const tokenPath = (principal: string, id: string): string => `${TOKENS_DIR}/${principal}/${id}.json`;

/**
 * The stored form of a secret. A token's secret is 256 random bits, so a single SHA-256 is
 * enough: a slow hash (scrypt, argon2) protects guessable passwords from a dictionary, and
 * there is no dictionary for 2^256 values. It also keeps a check cheap enough to run on every
 * request of 100,000 reporting instances.
 */
const digestOf = (secret: string): Buffer => createHash("sha256").update(secret, "utf8").digest();

/** A token as `token list` shows it: never its secret, nor the secret's hash. */
export type TokenInfo = Omit<Token, "secretSha256"> & { state: "active" | "expired" | "revoked" };

/** What a verified token allows. */
export interface VerifiedToken {
  id: string;
  principal: string;
  scopes: string[];
  projects: string[];
  expiresAt?: string;
}

function info(t: Token, now: Date): TokenInfo {
  const { secretSha256: _hidden, ...shown } = t;
  return { ...shown, state: t.revokedAt ? "revoked" : t.expiresAt && Date.parse(t.expiresAt) <= now.getTime() ? "expired" : "active" };
}

/** `90d`, `12h`, `30m`, `2w`, or `never`: how long from `now` a token lasts (undefined: for ever). */
export function expiryOf(spec: string, now: Date): string | undefined {
  if (spec === "never") return undefined;
  const m = /^(\d{1,6})(m|h|d|w)$/.exec(spec.trim());
  const ms = m ? Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[m[2] as "m" | "h" | "d" | "w"] : 0;
  if (!m || ms <= 0) {
    throw new BootMetaError("INVALID_ARGUMENT", `--expires ${JSON.stringify(spec)} is not a lifetime like 90d, 12h, 2w or never`, ExitCode.InvalidArgument, {
      suggestions: ["give a whole number of minutes (m), hours (h), days (d) or weeks (w), e.g. --expires 90d, or --expires never"],
    });
  }
  return new Date(now.getTime() + ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function checkScopes(scopes: string[]): string[] {
  if (scopes.length === 0) throw new BootMetaError("INVALID_ARGUMENT", `a token needs at least one --scope: ${TOKEN_SCOPES.join(", ")}`, ExitCode.InvalidArgument);
  for (const s of scopes) {
    if (!(TOKEN_SCOPES as readonly string[]).includes(s)) {
      throw new BootMetaError("INVALID_ARGUMENT", `--scope ${JSON.stringify(s)} is not a scope a token can have: ${TOKEN_SCOPES.join(", ")}`, ExitCode.InvalidArgument, { data: { scope: s, scopes: TOKEN_SCOPES } });
    }
  }
  return [...new Set(scopes)].sort();
}

/**
 * `boot-meta token create PRINCIPAL`: a new bearer token for the service, bound to a
 * principal of keys/, its scopes and the projects it may act on (`*`: all). The token string
 * is in the result only: the commit holds the SHA-256 of its secret, so print it once and
 * never log it. META_NO_PRINCIPAL, META_NO_PROJECT or INVALID_ARGUMENT when what it is bound
 * to does not exist or is not a scope.
 */
export async function createToken(
  repoDir: string,
  principal: string,
  o: WriteOpts & { scopes: string[]; projects: string[]; expires?: string; description?: string; now?: Date },
): Promise<CommitResult<{ token: string; info: TokenInfo }>> {
  validateName("principal", principal);
  const scopes = checkScopes(o.scopes);
  if (o.projects.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "a token needs at least one --project (or --project '*' for every project)", ExitCode.InvalidArgument);
  const projects = o.projects.includes("*") ? ["*"] : [...new Set(o.projects.map((p) => validateName("project", p)))].sort();
  const now = o.now ?? new Date();
  const expiresAt = expiryOf(o.expires ?? "90d", now);
  // Made once, outside the write: a write that loses a push race runs again with the same token.
  const id = randomBytes(8).toString("hex");
  const secret = randomBytes(32).toString("base64url");
  const token = `bmt_${id}_${secret}`;
  return commitRecords(repoDir, o, `token: create ${id} for ${principal} (${scopes.join(", ")} on ${projects.join(", ")})`, async (tx) => {
    if (!(await tx.read(`${KEYS_DIR}/${principal}.txt`))) {
      throw new BootMetaError("META_NO_PRINCIPAL", `there is no principal ${principal} (${KEYS_DIR}/${principal}.txt): a token is bound to a principal of keys/`, ExitCode.General, {
        data: { principal },
        suggestions: [`add it first: \`boot-meta keys add ${principal} --key age1…\``, "list principals with `boot-meta keys list`"],
      });
    }
    for (const p of projects) {
      if (p !== "*" && !(await tx.read(projectFile(p)))) {
        throw new BootMetaError("META_NO_PROJECT", `there is no project ${p} in this meta repository to bind the token to`, ExitCode.General, { data: { project: p }, suggestions: ["check --project; `--project '*'` binds it to every project"] });
      }
    }
    const record: Token = {
      id,
      principal,
      secretSha256: digestOf(secret).toString("hex"),
      scopes,
      projects,
      createdAt: now.toISOString().replace(/\.\d{3}Z$/, "Z"),
      createdBy: tx.author,
      expiresAt,
      description: o.description || undefined,
    };
    writeRecord(tx, "Token", tokenPath(principal, id), record);
    return { token, info: info(record, now) };
  });
}

/** Every token's file: `tokens/<principal>/<id>.json` (other names under tokens/ are ignored). */
async function tokenFiles(r: Reader, principal?: string): Promise<{ principal: string; id: string; path: string }[]> {
  const principals = principal === undefined ? await dirsIn(r, TOKENS_DIR) : [principal];
  const out: { principal: string; id: string; path: string }[] = [];
  for (const p of principals) {
    for (const name of await namesIn(r, `${TOKENS_DIR}/${p}`)) {
      const id = name.endsWith(".json") ? name.slice(0, -".json".length) : "";
      if (TOKEN_ID.test(id)) out.push({ principal: p, id, path: tokenPath(p, id) });
    }
  }
  return out;
}

/** Reads a token file, holding it to its path: the path says whose token it is and which. */
async function readToken(r: Reader, principal: string, id: string): Promise<Token | undefined> {
  return (await readRecord<Token>(r, "Token", tokenPath(principal, id), { principal, id }))?.value;
}

/** `boot-meta token list [PRINCIPAL]`: every token (or a principal's), without secrets or hashes, oldest first. */
export async function listTokens(repoDir: string, principal?: string, o: { now?: Date } = {}): Promise<{ commit: string; tokens: TokenInfo[] }> {
  if (principal !== undefined) validateName("principal", principal);
  return withReader(repoDir, undefined, async (r) => {
    const files = await tokenFiles(r, principal);
    const bodies = await r.readMany(files.map((f) => f.path));
    const now = o.now ?? new Date();
    const tokens = files.map((f) => info(decodeAt<Token>("Token", bodies.get(f.path) as Uint8Array, f.path, { principal: f.principal, id: f.id }).value, now));
    tokens.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
    return { commit: r.commit, tokens };
  });
}

/**
 * `boot-meta token revoke ID`: the token is refused from the next commit the service serves.
 * The file stays, marked revoked (who and when), so `token list` and `git log` tell its story.
 * Revoking a revoked token changes nothing. TOKEN_NOT_FOUND when no token has that id.
 */
export async function revokeToken(repoDir: string, id: string, o: WriteOpts = {}): Promise<CommitResult<{ info: TokenInfo; changed: boolean }>> {
  if (!TOKEN_ID.test(id)) {
    throw new BootMetaError("INVALID_ARGUMENT", `${JSON.stringify(id.startsWith("bmt_") ? `${id.slice(0, 21)}…` : id)} is not a token id (16 hex digits, as \`boot-meta token list\` shows them)`, ExitCode.InvalidArgument, {
      suggestions: ["give the id, not the token string: `boot-meta token list` shows ids"],
    });
  }
  return commitRecords(repoDir, o, `token: revoke ${id}`, async (tx) => {
    const found = (await tokenFiles(tx)).filter((f) => f.id === id);
    if (found.length === 0) throw new BootMetaError("TOKEN_NOT_FOUND", `there is no token ${id} in ${TOKENS_DIR}/`, ExitCode.General, { data: { id }, suggestions: ["list tokens with `boot-meta token list`"] });
    let last: { info: TokenInfo; changed: boolean } | undefined;
    // The same id under two principals is a copy someone made: both are revoked.
    for (const f of found) {
      const t = (await readToken(tx, f.principal, id)) as Token;
      if (t.revokedAt) {
        last ??= { info: info(t, new Date()), changed: false };
        continue;
      }
      const next: Token = { ...t, revokedAt: nowIso(), revokedBy: tx.author };
      writeRecord(tx, "Token", f.path, next);
      last = { info: info(next, new Date()), changed: true };
    }
    return last as { info: TokenInfo; changed: boolean };
  });
}

function invalid(why: string, data: Record<string, unknown> = {}): BootMetaError {
  return new BootMetaError("TOKEN_INVALID", `the token is not valid here: ${why}`, ExitCode.General, { data, suggestions: ["ask an admin for a token: `boot-meta token create PRINCIPAL --scope … --project …`"] });
}

/**
 * What a token string stands for at the commit `r` reads, whatever the time: its principal,
 * scopes and projects, after checking that a file `tokens/<principal>/<id>.json` holds the
 * SHA-256 of its secret (compared in constant time), that it is not revoked, and that its
 * principal is still in keys/. TOKEN_INVALID for a malformed or unknown token or a secret
 * that does not match (one answer for all three, so a caller learns nothing about which ids
 * exist), for a token file at two paths (a copy) or one whose content names another
 * principal or id than its path (a file moved by a writer: the path is the truth, as it is
 * for bound config files); TOKEN_REVOKED. Expiry is checked by {@link checkExpiry}, so the
 * service can keep this answer per commit.
 *
 * Anyone who can write tokens/ can mint a token; who may write it is the repository's write
 * policy (signed history), not something a token file can prove about itself.
 */
export async function resolveToken(r: Reader, tokenString: string): Promise<VerifiedToken> {
  const m = TOKEN.exec(tokenString);
  if (!m) throw invalid("it is not of the form bmt_<id>_<secret>");
  const [, id, secret] = m as unknown as [string, string, string];
  const principals = (await dirsIn(r, TOKENS_DIR)).filter((p) => {
    try {
      validateName("principal", p);
      return true;
    } catch {
      return false;
    }
  });
  const holders = (await Promise.all(principals.map(async (p) => ((await r.read(tokenPath(p, id))) ? p : undefined)))).filter((p): p is string => p !== undefined);
  if (holders.length === 0) throw invalid("no such token", { id });
  if (holders.length > 1) throw invalid(`token ${id} is filed under more than one principal (${holders.map((p) => `${TOKENS_DIR}/${p}/`).join(", ")}): a copy; it is refused until an admin removes the copies`, { id });
  const principal = holders[0] as string;
  let t: Token;
  try {
    t = (await readToken(r, principal, id)) as Token;
  } catch (e) {
    if (isBootMetaError(e, "RECORD_INVALID")) throw invalid(`its file ${tokenPath(principal, id)} is not a valid token record: ${e.message}`, { id });
    throw e;
  }
  const stored = /^[0-9a-f]{64}$/.test(t.secretSha256) ? Buffer.from(t.secretSha256, "hex") : Buffer.alloc(32);
  if (!timingSafeEqual(digestOf(secret), stored)) throw invalid("no such token", { id });
  if (t.revokedAt) {
    throw new BootMetaError("TOKEN_REVOKED", `token ${id} of ${principal} was revoked at ${t.revokedAt}`, ExitCode.General, { data: { id, principal }, suggestions: ["ask an admin for a new token"] });
  }
  if (!(await r.read(`${KEYS_DIR}/${principal}.txt`))) throw invalid(`its principal ${principal} is no longer in ${KEYS_DIR}/`, { id, principal });
  return { id, principal, scopes: t.scopes, projects: t.projects, expiresAt: t.expiresAt };
}

/** TOKEN_EXPIRED when the token's expiry is at or before `now`. */
export function checkExpiry(v: VerifiedToken, now: Date = new Date()): VerifiedToken {
  if (v.expiresAt !== undefined && !(Date.parse(v.expiresAt) > now.getTime())) {
    throw new BootMetaError("TOKEN_EXPIRED", `token ${v.id} of ${v.principal} expired at ${v.expiresAt}`, ExitCode.General, { data: { id: v.id, principal: v.principal }, suggestions: ["ask an admin for a new token"] });
  }
  return v;
}

/** {@link resolveToken} and {@link checkExpiry}: what a token allows now, or why it allows nothing. */
export async function verifyToken(r: Reader, tokenString: string, o: { now?: Date } = {}): Promise<VerifiedToken> {
  return checkExpiry(await resolveToken(r, tokenString), o.now);
}

/** Whether a verified token may do `scope` on `project`. */
export function tokenAllows(v: VerifiedToken, scope: TokenScope, project: string): { ok: true } | { ok: false; why: string } {
  if (!v.scopes.includes(scope)) return { ok: false, why: `it has the scopes ${v.scopes.join(", ")}, not ${scope}` };
  if (!v.projects.includes("*") && !v.projects.includes(project)) return { ok: false, why: `it is bound to ${v.projects.join(", ")}, not ${project}` };
  return { ok: true };
}
