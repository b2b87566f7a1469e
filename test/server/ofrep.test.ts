import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setConfigValue } from "../../src/config/edit.js";
import { setFlag } from "../../src/flags/write.js";
import { createEnv, createProject } from "../../src/meta/repo.js";
import { createToken } from "../../src/records/tokens.js";
import { createApp } from "../../src/server/app.js";
import { Mirror } from "../../src/server/mirror.js";
import { startServer } from "../../src/server/serve.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { capturedLogger, repoWithServicePrincipal } from "../helpers/service.js";

/**
 * OFREP on the service: flags evaluated over HTTP with the service's own key, for the envs
 * the access rules let it read — over a real meta repo on a bare remote, in-process with inject.
 */

/** Values and rules of prod's flags: answers carry the values (that is OFREP), no log line may. */
const CUSTOMER = "acme-Customer-Id-4711";
const BANNER = "Banner-Plaintext-Value-c0ffee";
/** A value of stage's flags, which the service's principal does not read. */
const STAGE_BANNER = "Stage-Banner-Never-Served-9a1f";
const AUTHOR = "Test <test@example.com>";

type Fixture = Awaited<ReturnType<typeof fixture>>;
let fx: Fixture;

/**
 * Project shop with envs prod (read by prod-servers, where the service's principal meta-server
 * is) and stage (admins only), each with flags; project web; tokens for the OFREP callers.
 */
async function fixture() {
  const { admin, server, ids, work } = await repoWithServicePrincipal();
  await createProject(work, "shop");
  await createProject(work, "web");
  await createEnv(work, "shop", "prod");
  await createEnv(work, "shop", "stage");
  const prod = { project: "shop", env: "prod" };
  const o = { identities: ids };
  await setFlag(work, prod, "checkout", { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { if: [{ in: [{ var: "customer" }, [CUSTOMER]] }, "on", null] } }, o);
  await setFlag(work, prod, "banner", BANNER, o);
  await setFlag(work, prod, "old_ui", { state: "DISABLED", variants: { on: true, off: false }, defaultVariant: "on" }, o);
  // Where it runs is in the context: the env and project, without the app passing them.
  await setFlag(work, prod, "where", { state: "ENABLED", variants: { prod: "in-prod", other: "elsewhere" }, defaultVariant: "other", targeting: { if: [{ "===": [{ var: "env" }, "prod"] }, "prod", "other"] } }, o);
  // Written around the flag writer's check: an invalid flag evaluates to PARSE_ERROR alone.
  await setConfigValue(work, prod, "flags.broken.defaultVariant", "nowhere", o);
  await setFlag(work, { project: "shop", env: "stage" }, "banner", STAGE_BANNER, o);
  const bare = join(tempDir(), "meta.git");
  git(tempDir(), "clone", "-q", "--bare", work, bare);
  git(work, "remote", "add", "origin", bare);
  git(work, "fetch", "-q", "origin");
  git(work, "branch", "-q", "--set-upstream-to=origin/main", "main");
  const w = { author: AUTHOR, push: true };
  const token = async (scopes: string[], projects: string[]) => (await createToken(work, "admin", { ...w, scopes, projects })).value.token;
  const tokens = {
    shop: await token(["flags:evaluate"], ["shop"]),
    web: await token(["flags:evaluate"], ["web"]),
    events: await token(["events:read"], ["shop"]),
  };
  const serverKeyFile = join(tempDir(), "meta-server.key");
  writeFileSync(serverKeyFile, `${server.identity}\n`, { mode: 0o600 });
  return { work, bare, ids, prod, tokens, serverKeyFile, serverIds: await identitySetFrom([server.identity]) };
}

let mirror: Mirror;
let app: FastifyInstance;
let log: ReturnType<typeof capturedLogger>;
beforeAll(async () => {
  fx = await fixture();
  mirror = new Mirror({ source: fx.bare, cacheDir: tempDir(), environment: {} });
  await mirror.sync();
  log = capturedLogger();
  app = createApp({ mirror, logger: log.logger, identities: fx.serverIds });
});
afterAll(async () => {
  await app?.close();
  await mirror?.close();
});

const head = () => git(fx.work, "rev-parse", "HEAD");

function post(url: string, body: unknown = { context: {} }, o: { token?: string | null; headers?: Record<string, string>; on?: FastifyInstance } = {}) {
  const token = o.token === undefined ? fx.tokens.shop : o.token;
  return (o.on ?? app).inject({
    method: "POST",
    url,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { "content-type": "application/json" }), ...o.headers },
    ...(body === undefined ? {} : { payload: typeof body === "string" ? body : JSON.stringify(body) }),
  });
}
const one = (key: string, context: Record<string, unknown> = {}, q = "project=shop&env=prod") => post(`/ofrep/v1/evaluate/flags/${key}?${q}`, { context });

describe("OFREP single evaluation", () => {
  it("evaluates a flag with the request's context: targeting by an attribute, the commit in the metadata", async () => {
    const hit = await one("checkout", { targetingKey: "user-1", customer: CUSTOMER });
    expect(hit.statusCode).toBe(200);
    expect(hit.json()).toEqual({ key: "checkout", value: true, variant: "on", reason: "TARGETING_MATCH", metadata: { commit: head() } });
    expect(hit.headers["boot-meta-commit"]).toBe(head());
    const miss = await one("checkout", { targetingKey: "user-2", customer: "someone-else" });
    expect(miss.statusCode).toBe(200);
    expect(miss.json()).toMatchObject({ key: "checkout", value: false, variant: "off", reason: "DEFAULT" });
  });

  it("gives static flags, and the project and env in the context without the app passing them", async () => {
    expect((await one("banner")).json()).toMatchObject({ key: "banner", value: BANNER, variant: "default", reason: "STATIC" });
    expect((await one("where")).json()).toMatchObject({ value: "in-prod", variant: "prod", reason: "TARGETING_MATCH" });
  });

  it("answers a disabled flag with DISABLED and no value (the caller's code default applies)", async () => {
    const r = await one("old_ui");
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ key: "old_ui", reason: "DISABLED", metadata: { commit: head() } });
  });

  it("is 404 FLAG_NOT_FOUND for a flag the env does not have", async () => {
    const r = await one("no_such_flag");
    expect(r.statusCode).toBe(404);
    expect(r.json()).toMatchObject({ key: "no_such_flag", errorCode: "FLAG_NOT_FOUND" });
    expect(r.json().errorDetails).toContain("no_such_flag");
  });

  it("is 400 PARSE_ERROR for an invalid flag, without quoting its definition", async () => {
    const r = await one("broken");
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ key: "broken", errorCode: "PARSE_ERROR" });
    expect(r.body).not.toContain("nowhere");
  });

  it("is 400 for a body that is not JSON (PARSE_ERROR) or a context that is not a map (INVALID_CONTEXT)", async () => {
    const bad = await post("/ofrep/v1/evaluate/flags/banner?project=shop&env=prod", "{not json");
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ key: "banner", errorCode: "PARSE_ERROR", error: { code: "SERVER_BAD_REQUEST" } });
    const list = await post("/ofrep/v1/evaluate/flags/banner?project=shop&env=prod", { context: ["a"] });
    expect(list.statusCode).toBe(400);
    expect(list.json()).toMatchObject({ key: "banner", errorCode: "INVALID_CONTEXT" });
    const key = await post("/ofrep/v1/evaluate/flags/banner?project=shop&env=prod", { context: { targetingKey: 42 } });
    expect(key.statusCode).toBe(400);
    expect(key.json()).toMatchObject({ errorCode: "INVALID_CONTEXT" });
    expect(key.json().errorDetails).toContain("targetingKey");
  });

  it("is 400 naming the parameter when the project or env is missing", async () => {
    for (const [q, missing] of [["env=prod", "project"], ["project=shop", "env"]] as const) {
      const r = await post(`/ofrep/v1/evaluate/flags/banner?${q}`);
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ key: "banner", errorCode: "GENERAL", error: { code: "SERVER_BAD_REQUEST", data: { parameter: missing } } });
    }
    expect((await post("/ofrep/v1/evaluate/flags?project=shop&env=..%2Fx")).statusCode).toBe(400);
  });

  it("needs a bearer token with flags:evaluate on the project: 401 without, 403 for another scope or project", async () => {
    const none = await post("/ofrep/v1/evaluate/flags/banner?project=shop&env=prod", undefined, { token: null });
    expect(none.statusCode).toBe(401);
    expect(none.headers["www-authenticate"]).toContain("Bearer");
    expect(none.json()).toMatchObject({ key: "banner", error: { code: "SERVER_UNAUTHORIZED" } });
    expect((await post("/ofrep/v1/evaluate/flags/banner?project=shop&env=prod", {}, { token: "bmt_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" })).statusCode).toBe(401);
    const scope = await post("/ofrep/v1/evaluate/flags/banner?project=shop&env=prod", {}, { token: fx.tokens.events });
    expect(scope.statusCode).toBe(403);
    expect(scope.json().error.code).toBe("SERVER_FORBIDDEN");
    const project = await post("/ofrep/v1/evaluate/flags/banner?project=shop&env=prod", {}, { token: fx.tokens.web });
    expect(project.statusCode).toBe(403);
    for (const r of [none, scope, project]) expect(r.body).not.toContain(BANNER);
  });

  it("is 403 SERVER_NOT_A_READER for an env the service's principal does not read, with nothing of its flags", async () => {
    for (const url of ["/ofrep/v1/evaluate/flags/banner?project=shop&env=stage", "/ofrep/v1/evaluate/flags?project=shop&env=stage"]) {
      const r = await post(url);
      expect(r.statusCode).toBe(403);
      expect(r.json()).toMatchObject({ errorCode: "GENERAL", error: { code: "SERVER_NOT_A_READER", data: { project: "shop", env: "stage" } } });
      expect(r.json().errorDetails).toContain("not a reader of shop stage");
      expect(r.body).not.toContain(STAGE_BANNER);
    }
  });

  it("takes the project and env from a /v1/projects/P/envs/E prefix, the base URL an OFREP provider is given", async () => {
    const r = await post("/v1/projects/shop/envs/prod/ofrep/v1/evaluate/flags/checkout", { context: { customer: CUSTOMER } });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ key: "checkout", value: true, reason: "TARGETING_MATCH" });
    const all = await post("/v1/projects/shop/envs/prod/ofrep/v1/evaluate/flags");
    expect(all.statusCode).toBe(200);
    expect(all.json().metadata).toMatchObject({ project: "shop", env: "prod" });
    // The prefix wins over a query, and an env with a slash is one encoded segment.
    const stage = await post("/v1/projects/shop/envs/stage/ofrep/v1/evaluate/flags/banner?env=prod");
    expect(stage.statusCode).toBe(403);
    expect(stage.json().error.code).toBe("SERVER_NOT_A_READER");
    const dev = await post("/v1/projects/shop/envs/dev%2Falice/ofrep/v1/evaluate/flags/banner");
    expect(dev.statusCode).toBe(404);
    expect(dev.json().error.code).toBe("CONFIG_NOT_FOUND");
    expect(dev.json().errorDetails).toContain("dev/alice");
  });

  it("is 404 for an env that has no config", async () => {
    const r = await post("/ofrep/v1/evaluate/flags/banner?project=shop&env=qa");
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe("CONFIG_NOT_FOUND");
  });
});

describe("OFREP bulk evaluation", () => {
  const bulk = (context: Record<string, unknown>, headers: Record<string, string> = {}) => post("/ofrep/v1/evaluate/flags?project=shop&env=prod", { context }, { headers });

  it("evaluates every flag, failures in place, with an ETag the same request sends back for a 304", async () => {
    const r = await bulk({ targetingKey: "user-1", customer: CUSTOMER });
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.metadata).toEqual({ project: "shop", env: "prod", commit: head() });
    const byKey = Object.fromEntries(body.flags.map((f: { key: string }) => [f.key, f]));
    expect(Object.keys(byKey).sort()).toEqual(["banner", "broken", "checkout", "old_ui", "where"]);
    expect(byKey.checkout).toMatchObject({ value: true, variant: "on", reason: "TARGETING_MATCH", metadata: { commit: head() } });
    expect(byKey.banner).toMatchObject({ value: BANNER, reason: "STATIC" });
    expect(byKey.old_ui).toEqual({ key: "old_ui", reason: "DISABLED", metadata: { commit: head() } });
    expect(byKey.broken).toMatchObject({ key: "broken", errorCode: "PARSE_ERROR" });
    const etag = r.headers.etag as string;
    expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
    // The same context, its keys in another order: 304.
    const same = await bulk({ customer: CUSTOMER, targetingKey: "user-1" }, { "if-none-match": etag });
    expect(same.statusCode).toBe(304);
    expect(same.body).toBe("");
    expect(same.headers.etag).toBe(etag);
    // Another context is another answer.
    const other = await bulk({ targetingKey: "user-2" }, { "if-none-match": etag });
    expect(other.statusCode).toBe(200);
    expect(other.headers.etag).not.toBe(etag);
  });

  it("a new commit is a new ETag and the new flags", async () => {
    const before = await bulk({ targetingKey: "user-1" });
    await setFlag(fx.work, fx.prod, "banner", "Banner-Second-Value", { identities: fx.ids });
    git(fx.work, "push", "-q", "origin", "main");
    await mirror.sync();
    const after = await bulk({ targetingKey: "user-1" }, { "if-none-match": before.headers.etag as string });
    expect(after.statusCode).toBe(200);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    expect(after.json().flags.find((f: { key: string }) => f.key === "banner")).toMatchObject({ value: "Banner-Second-Value", metadata: { commit: head() } });
  });
});

describe("OFREP without an identity", () => {
  it("is 501 SERVER_NO_IDENTITY saying to start serve with --identity, single and bulk", async () => {
    const keyless = createApp({ mirror });
    try {
      for (const url of ["/ofrep/v1/evaluate/flags/banner?project=shop&env=prod", "/ofrep/v1/evaluate/flags?project=shop&env=prod"]) {
        const r = await post(url, { context: {} }, { on: keyless });
        expect(r.statusCode).toBe(501);
        expect(r.json()).toMatchObject({ errorCode: "GENERAL", error: { code: "SERVER_NO_IDENTITY" } });
        expect(r.json().error.suggestions.join(" ")).toContain("--identity");
        expect(r.body).not.toContain(BANNER);
      }
    } finally {
      await keyless.close();
    }
  });
});

describe("OFREP on a listening service", () => {
  it("serve --identity evaluates with the key in that file; without it, 501", async () => {
    const started = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), environment: {}, identityFile: fx.serverKeyFile });
    try {
      const r = await fetch(`${started.url}/v1/projects/shop/envs/prod/ofrep/v1/evaluate/flags/checkout`, {
        method: "POST",
        headers: { authorization: `Bearer ${fx.tokens.shop}`, "content-type": "application/json" },
        body: JSON.stringify({ context: { targetingKey: "u1", customer: CUSTOMER } }),
      });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ key: "checkout", value: true, reason: "TARGETING_MATCH", metadata: { commit: head() } });
    } finally {
      await started.close();
    }
    const keyless = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), environment: {} });
    try {
      const r = await fetch(`${keyless.url}/ofrep/v1/evaluate/flags?project=shop&env=prod`, { method: "POST", headers: { authorization: `Bearer ${fx.tokens.shop}` } });
      expect(r.status).toBe(501);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe("SERVER_NO_IDENTITY");
    } finally {
      await keyless.close();
    }
  });
});

describe("OFREP through an OpenFeature OFREP client", () => {
  it("@openfeature/ofrep-provider evaluates against the service as against any OFREP server", async () => {
    const { OpenFeature } = await import("@openfeature/server-sdk");
    const { OFREPProvider } = await import("@openfeature/ofrep-provider");
    const started = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), environment: {}, identityFile: fx.serverKeyFile });
    const domain = `ofrep-${Math.random().toString(36).slice(2)}`;
    try {
      await OpenFeature.setProviderAndWait(domain, new OFREPProvider({ baseUrl: `${started.url}/v1/projects/shop/envs/prod`, headers: [["authorization", `Bearer ${fx.tokens.shop}`]] }));
      const client = OpenFeature.getClient(domain);
      const on = await client.getBooleanDetails("checkout", false, { targetingKey: "u1", customer: CUSTOMER });
      expect(on).toMatchObject({ value: true, reason: "TARGETING_MATCH" });
      expect(on.flagMetadata.commit).toBe(head());
      expect((await client.getBooleanDetails("checkout", false, { targetingKey: "u2", customer: "someone-else" })).value).toBe(false);
      expect(await client.getBooleanDetails("no-such-flag", true, { targetingKey: "u1" })).toMatchObject({ value: true, reason: "ERROR", errorCode: "FLAG_NOT_FOUND" });
    } finally {
      await OpenFeature.clearProviders();
      await started.close();
    }
  });
});

describe("OFREP and the log", () => {
  it("logs no flag value, rule or token", () => {
    const text = log.lines.join("");
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [CUSTOMER, BANNER, "Banner-Second-Value", STAGE_BANNER, "in-prod", "nowhere", fx.tokens.shop, fx.tokens.web]) expect(text).not.toContain(secret);
  });
});
