import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { withReader } from "../../src/meta/reader.js";
import { createToken, expiryOf, listTokens, revokeToken, tokenPath, verifyToken } from "../../src/records/tokens.js";
import { redactSecrets } from "../../src/redact.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git } from "../helpers/gitdir.js";
import { recordsRepo } from "../helpers/records.js";

const cli = cliWith();
const AUTHOR = "Test Author <author@test.invalid>";

/** A meta repo with project shop and principals web and ops in keys/. */
async function repo(): Promise<string> {
  const dir = await recordsRepo();
  mkdirSync(join(dir, "keys"), { recursive: true });
  for (const name of ["web", "ops"]) writeFileSync(join(dir, "keys", `${name}.txt`), `# ${name}\n${(await ageKeyFile()).recipient}\n`);
  git(dir, "add", "keys");
  git(dir, "commit", "-q", "-m", "principals web and ops");
  return dir;
}

const verify = (dir: string, token: string, now?: Date) => withReader(dir, undefined, (r) => verifyToken(r, token, { now }));
const codeOf = (p: Promise<unknown>) => p.then(() => "resolved", (e: { code?: string }) => e.code);
const head = (dir: string) => git(dir, "rev-parse", "HEAD");

describe("tokens: the library", () => {
  it("creates a token whose file holds only a SHA-256 of its secret, and verifies it", async () => {
    const dir = await repo();
    const r = await createToken(dir, "web", { scopes: ["instances:report", "instances:read"], projects: ["shop"], expires: "90d", author: AUTHOR });
    const { token, info } = r.value;
    expect(token).toMatch(/^bmt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(info).toMatchObject({ principal: "web", scopes: ["instances:read", "instances:report"], projects: ["shop"], state: "active", createdBy: "Test Author <author@test.invalid>" });
    expect(Date.parse(info.expiresAt as string) - Date.parse(info.createdAt)).toBe(90 * 86_400_000);
    // The commit holds the file at tokens/<principal>/<id>.json, and the secret nowhere.
    const path = tokenPath("web", info.id);
    expect(git(dir, "show", "--name-only", "--format=", "HEAD")).toBe(path);
    const stored = JSON.parse(git(dir, "show", `HEAD:${path}`));
    const secret = token.slice(`bmt_${info.id}_`.length);
    expect(stored.secretSha256).toBe(createHash("sha256").update(secret).digest("hex"));
    expect(git(dir, "log", "-p", "--all")).not.toContain(secret);
    expect(await verify(dir, token)).toEqual({ id: info.id, principal: "web", scopes: ["instances:read", "instances:report"], projects: ["shop"], expiresAt: info.expiresAt });
  });

  it("refuses a wrong secret, an unknown id and a malformed string with one answer, TOKEN_INVALID", async () => {
    const dir = await repo();
    const { token, info } = (await createToken(dir, "web", { scopes: ["events:write"], projects: ["*"] })).value;
    const other = `bmt_${info.id}_${"A".repeat(43)}`;
    const e = await verify(dir, other).catch((x: Error & { code: string }) => x);
    expect(e).toMatchObject({ code: "TOKEN_INVALID", message: "the token is not valid here: no such token" });
    const unknown = await verify(dir, `bmt_0123456789abcdef_${token.slice(-43)}`).catch((x: Error & { code: string }) => x);
    expect(unknown).toMatchObject({ code: "TOKEN_INVALID", message: "the token is not valid here: no such token" });
    expect(await codeOf(verify(dir, "Bearer nonsense"))).toBe("TOKEN_INVALID");
    expect(await codeOf(verify(dir, `${token}x`))).toBe("TOKEN_INVALID");
  });

  it("refuses an expired token (TOKEN_EXPIRED) and a revoked one (TOKEN_REVOKED)", async () => {
    const dir = await repo();
    const { token, info } = (await createToken(dir, "web", { scopes: ["events:read"], projects: ["shop"], expires: "1h" })).value;
    expect((await verify(dir, token, new Date(Date.parse(info.createdAt) + 59 * 60_000))).id).toBe(info.id);
    const late = await verify(dir, token, new Date(Date.parse(info.createdAt) + 3_600_000)).catch((x: Error & { code: string }) => x);
    expect(late).toMatchObject({ code: "TOKEN_EXPIRED", message: `token ${info.id} of web expired at ${info.expiresAt}` });
    const revoked = await revokeToken(dir, info.id, { author: AUTHOR });
    expect(revoked.value).toMatchObject({ changed: true, info: { state: "revoked", revokedBy: "Test Author <author@test.invalid>" } });
    expect(await codeOf(verify(dir, token))).toBe("TOKEN_REVOKED");
    // Again: nothing to change, no commit.
    const before = head(dir);
    expect((await revokeToken(dir, info.id)).commit).toBeUndefined();
    expect(head(dir)).toBe(before);
  });

  it("refuses a token file moved to another principal's folder: the path is the truth", async () => {
    const dir = await repo();
    const { token, info } = (await createToken(dir, "web", { scopes: ["events:read"], projects: ["shop"] })).value;
    // A hostile writer moves web's token under ops, as it is, and with its content edited to match.
    mkdirSync(join(dir, "tokens/ops"), { recursive: true });
    git(dir, "mv", `tokens/web/${info.id}.json`, `tokens/ops/${info.id}.json`);
    git(dir, "commit", "-q", "-m", "move");
    const moved = await verify(dir, token).catch((x: Error & { code: string }) => x);
    expect(moved).toMatchObject({ code: "TOKEN_INVALID" });
    expect((moved as Error).message).toMatch(new RegExp(`tokens/ops/${info.id}\\.json is not a valid token record.*principal is "web", but its path says "ops"`));
    // Content edited to match the path: a file at two paths is refused either way.
    const file = join(dir, `tokens/ops/${info.id}.json`);
    writeFileSync(file, readFileSync(file, "utf8").replace('"principal": "web"', '"principal": "ops"'));
    mkdirSync(join(dir, "tokens/web"), { recursive: true });
    writeFileSync(join(dir, `tokens/web/${info.id}.json`), readFileSync(file, "utf8").replace('"principal": "ops"', '"principal": "web"'));
    git(dir, "add", "tokens");
    git(dir, "commit", "-q", "-m", "copy");
    expect(((await verify(dir, token).catch((x: Error) => x)) as Error).message).toMatch(/filed under more than one principal \(tokens\/ops\/, tokens\/web\/\)/);
  });

  it("refuses a token whose principal left keys/", async () => {
    const dir = await repo();
    const { token } = (await createToken(dir, "web", { scopes: ["events:read"], projects: ["shop"] })).value;
    git(dir, "rm", "-q", "keys/web.txt");
    git(dir, "commit", "-q", "-m", "web leaves");
    expect(((await verify(dir, token).catch((x: Error) => x)) as Error).message).toBe("the token is not valid here: its principal web is no longer in keys/");
  });

  it("refuses what a token cannot be bound to, and writes nothing", async () => {
    const dir = await repo();
    const before = head(dir);
    expect(await codeOf(createToken(dir, "nobody", { scopes: ["events:read"], projects: ["shop"] }))).toBe("META_NO_PRINCIPAL");
    expect(await codeOf(createToken(dir, "web", { scopes: ["events:read"], projects: ["nope"] }))).toBe("META_NO_PROJECT");
    expect(await codeOf(createToken(dir, "web", { scopes: ["config:write"], projects: ["shop"] }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(createToken(dir, "web", { scopes: [], projects: ["shop"] }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(createToken(dir, "web", { scopes: ["events:read"], projects: ["shop"], expires: "soon" }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(createToken(dir, "../web", { scopes: ["events:read"], projects: ["shop"] }))).toBe("META_INVALID_NAME");
    expect(head(dir)).toBe(before);
    expect(git(dir, "status", "--porcelain")).toBe("");
  });

  it("lists tokens without secrets or hashes, with their state", async () => {
    const dir = await repo();
    const a = (await createToken(dir, "web", { scopes: ["events:read"], projects: ["shop"] })).value;
    const b = (await createToken(dir, "ops", { scopes: ["events:write"], projects: ["*"], expires: "never", description: "ops dashboard" })).value;
    await revokeToken(dir, a.info.id);
    const all = await listTokens(dir);
    const byId = (x: string[], y: string[]) => ((x[0] as string) < (y[0] as string) ? -1 : 1);
    expect(all.tokens.map((t) => [t.id, t.principal, t.state]).sort(byId)).toEqual(
      [
        [a.info.id, "web", "revoked"],
        [b.info.id, "ops", "active"],
      ].sort(byId),
    );
    expect(JSON.stringify(all)).not.toMatch(/secret|[0-9a-f]{64}/i);
    const ops = (await listTokens(dir, "ops")).tokens;
    expect(ops).toEqual([expect.objectContaining({ id: b.info.id, description: "ops dashboard" })]);
    expect(ops[0]?.expiresAt).toBeUndefined();
    expect((await listTokens(dir, "web", { now: new Date(Date.now() + 91 * 86_400_000) })).tokens[0]?.state).toBe("revoked");
  });

  it("reads lifetimes, and redacts a token's secret wherever it is printed", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(expiryOf("2w", now)).toBe("2026-01-15T00:00:00Z");
    expect(expiryOf("30m", now)).toBe("2026-01-01T00:30:00Z");
    expect(expiryOf("never", now)).toBeUndefined();
    const token = `bmt_0123456789abcdef_${"x_-Y".repeat(10)}abc`;
    expect(redactSecrets(`Authorization: Bearer ${token}.`)).toBe("Authorization: Bearer bmt_0123456789abcdef_[redacted token secret].");
  });
});

describe("tokens: the CLI", () => {
  it("token create prints the token once (stdout, or `token` under --json); list and revoke by id", async () => {
    const dir = await repo();
    const m = ["--meta", dir];
    const made = await cli(["token", "create", "web", "--scope", "instances:report", "--project", "shop", "--expires", "7d", ...m]);
    expect(made.exitCode, err(made)).toBe(0);
    const token = out(made).trim();
    expect(token).toMatch(/^bmt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(err(made)).toMatch(/^token [0-9a-f]{16} for web: instances:report on shop, until .*It is shown only now/);
    expect(err(made)).not.toContain(token.slice(21));
    const id = token.slice(4, 20);
    expect((await verify(dir, token)).principal).toBe("web");

    const j = JSON.parse(out(await cli(["token", "create", "ops", "--scope", "events:write", "--scope", "events:read", "--project", "*", "--json", ...m])));
    expect(j).toMatchObject({ principal: "ops", scopes: ["events:read", "events:write"], projects: ["*"], state: "active", pushed: false });
    expect(j.token).toMatch(new RegExp(`^bmt_${j.id}_`));
    expect(j.commit).toBe(head(dir));

    const listed = await cli(["token", "list", ...m]);
    expect(out(listed)).toMatch(new RegExp(`^${id}  web +active`, "m"));
    expect(out(listed) + err(listed)).not.toContain(token.slice(21));
    expect(JSON.parse(out(await cli(["token", "list", "ops", "--json", ...m]))).tokens.map((t: { id: string }) => t.id)).toEqual([j.id]);

    const revoked = JSON.parse(out(await cli(["token", "revoke", id, "--json", ...m])));
    expect(revoked).toMatchObject({ id, state: "revoked", changed: true });
    expect(await codeOf(verify(dir, token))).toBe("TOKEN_REVOKED");
  });

  it("refuses bad input with a typed error and leaves the repo as it was", async () => {
    const dir = await repo();
    const before = head(dir);
    const noPrincipal = await cli(["token", "create", "nobody", "--scope", "events:read", "--project", "shop", "--meta", dir]);
    expect(noPrincipal.exitCode).toBe(1);
    expect(err(noPrincipal)).toMatch(/META_NO_PRINCIPAL.*there is no principal nobody \(keys\/nobody\.txt\)/);
    const badScope = await cli(["token", "create", "web", "--scope", "config:write", "--project", "shop", "--meta", dir]);
    expect(badScope.exitCode).toBe(2);
    const unknown = await cli(["token", "revoke", "0123456789abcdef", "--json", "--meta", dir]);
    expect(unknown.exitCode).toBe(1);
    expect(JSON.parse(out(unknown)).error).toMatchObject({ code: "TOKEN_NOT_FOUND", message: "there is no token 0123456789abcdef in tokens/" });
    // A token string given where the id belongs is not echoed back.
    const pasted = await cli(["token", "revoke", `bmt_0123456789abcdef_${"s".repeat(43)}`, "--meta", dir]);
    expect(pasted.exitCode).toBe(2);
    expect(err(pasted)).toMatch(/is not a token id/);
    expect(err(pasted) + out(pasted)).not.toContain("s".repeat(43));
    expect(head(dir)).toBe(before);
    expect(git(dir, "status", "--porcelain")).toBe("");
  });

  it("reserves tokens/ at the top of the layout: no project may be called that", async () => {
    const dir = await repo();
    const r = await cli(["project", "create", "tokens", "--meta", dir]);
    expect(r.exitCode).toBe(2);
    expect(err(r)).toMatch(/META_INVALID_NAME.*keys\/, tokens\/, subscriptions\/, approvals\/ at the top/);
  });
});
