import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { setConfigValue } from "../../src/config/edit.js";
import { isBootMetaError } from "../../src/errors.js";
import { createEnv, createProject } from "../../src/meta/repo.js";
import { createApp } from "../../src/server/app.js";
import { Mirror } from "../../src/server/mirror.js";
import { type OutboundOptions, secretKey, signature, webhookId } from "../../src/server/outbound.js";
import { startServer } from "../../src/server/serve.js";
import { parseSubscription } from "../../src/server/subscriptions.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { repoWithServicePrincipal } from "../helpers/service.js";

/**
 * Outbound webhooks: subscriptions in the meta repo, signing secrets the service opens from its
 * own encrypted config with its own key, deliveries signed as Standard Webhooks asks, retried,
 * dead-lettered — over a real bare remote, to real HTTP receivers on 127.0.0.1.
 */

/** The signing secret in the service's config (prod): never in a log line, a metric or a dead letter. */
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
/** Another one, in an env the service's principal does not read (stage). */
const STAGE_SECRET = `whsec_${randomBytes(32).toString("base64")}`;
/** Plaintext config of the shop project: never sent to a subscriber. */
const SHOP_VALUE = "shop-Plaintext-Never-Sent-91c2";

type Fixture = Awaited<ReturnType<typeof fixture>>;
let fx: Fixture;
beforeAll(async () => {
  fx = await fixture();
});

/**
 * A meta repo with projects shop (envs dev, prod) and boot-meta-service (the service's own
 * config: prod, read by prod-servers, holding SECRET; stage, read by admins only, holding
 * STAGE_SECRET), an admin, and the service's principal meta-server in prod-servers — pushed to
 * a bare remote that the service follows.
 */
async function fixture() {
  const { admin, server, ids, work } = await repoWithServicePrincipal();
  await createProject(work, "shop");
  await createEnv(work, "shop", "dev");
  await createEnv(work, "shop", "prod");
  await setConfigValue(work, { project: "shop", env: "prod" }, "db_password", SHOP_VALUE, { identities: ids });
  await createProject(work, "boot-meta-service");
  await createEnv(work, "boot-meta-service", "prod");
  await createEnv(work, "boot-meta-service", "stage");
  await setConfigValue(work, { project: "boot-meta-service", env: "prod" }, "webhooks.secrets.receiver", SECRET, { identities: ids });
  await setConfigValue(work, { project: "boot-meta-service", env: "prod" }, "webhooks.secrets.short", "whsec_c2hvcnQ=", { identities: ids });
  await setConfigValue(work, { project: "boot-meta-service", env: "stage" }, "webhooks.secrets.receiver", STAGE_SECRET, { identities: ids });
  const bare = join(tempDir(), "meta.git");
  git(tempDir(), "clone", "-q", "--bare", work, bare);
  git(work, "remote", "add", "origin", bare);
  git(work, "fetch", "-q", "origin");
  git(work, "branch", "-q", "--set-upstream-to=origin/main", "main");
  const serverIds = await identitySetFrom([server.identity]);
  let n = 0;
  return {
    work,
    bare,
    serverIds,
    /** Replaces subscriptions/ with these files (name → YAML text) in one pushed commit. */
    subscribe(files: Record<string, string>): string {
      rmSync(join(work, "subscriptions"), { recursive: true, force: true });
      mkdirSync(join(work, "subscriptions"));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(work, "subscriptions", name), text);
      git(work, "add", "-A", "subscriptions");
      git(work, "commit", "-q", "--allow-empty", "-m", "subscriptions");
      git(work, "push", "-q", "origin", "main");
      return git(work, "rev-parse", "HEAD");
    },
    /** A commit to shop's dev config, pushed; its hash. */
    async change(): Promise<string> {
      await setConfigValue(work, { project: "shop", env: "dev" }, "color", `c${++n}`, { identities: ids });
      git(work, "push", "-q", "origin", "main");
      return git(work, "rev-parse", "HEAD");
    },
  };
}

/** A pino logger whose lines are kept (to check that no secret is logged). */
function capturedLogger() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: "trace" }, sink), lines, text: () => lines.join("") };
}

interface Received {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A real HTTP receiver on 127.0.0.1: `answer(n)` is the status of the n-th request (1-based). */
const receivers: Server[] = [];
async function receiver(answer: (n: number) => number = () => 204) {
  const got: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answer(got.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  receivers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/boot-meta?token=t0k3n`, got };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const s of receivers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

/** The service over its own clone of the fixture's remote, synced, with outbound webhooks. */
async function service(o: Partial<OutboundOptions> = {}) {
  const dataDir = tempDir();
  const mirror = new Mirror({ source: fx.bare, cacheDir: dataDir, environment: {} });
  await mirror.sync();
  const log = capturedLogger();
  const app = createApp({
    mirror,
    logger: log.logger,
    outbound: { dataDir, identities: fx.serverIds, configProject: "boot-meta-service", configEnv: "prod", attempts: 3, retryBaseMs: 20, retryMaxMs: 200, timeoutMs: 10_000, ...o },
  });
  const outbound = app.bootMeta.outbound;
  if (!outbound) throw new Error("the app has no outbound webhooks");
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.close();
    await mirror.close();
  };
  closers.push(close);
  return {
    mirror,
    app,
    outbound,
    log,
    dataDir,
    close,
    /** Pushes a change and waits until every delivery it caused has ended. */
    async deliver(): Promise<string> {
      const commit = await fx.change();
      await mirror.sync();
      await outbound.settled();
      return commit;
    },
    metrics: async () => (await app.inject("/metrics")).body,
  };
}

/**
 * The receiver's check, written from the spec (standardwebhooks.com, "Verifying webhooks"),
 * independently of src/: the key is the base64 after `whsec_`; the signed content is
 * `id.timestamp.body`; one of the space-separated `v1,<base64>` entries must match, compared
 * in constant time; the timestamp must be within 5 minutes.
 */
function verify(secret: string, headers: IncomingHttpHeaders, body: Buffer): boolean {
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  const sigs = headers["webhook-signature"];
  if (typeof id !== "string" || typeof ts !== "string" || typeof sigs !== "string") return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(Buffer.concat([Buffer.from(`${id}.${ts}.`), body])).digest();
  return sigs.split(" ").some((s) => {
    const [version, b64] = s.split(",");
    const got = Buffer.from(b64 ?? "", "base64");
    return version === "v1" && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

const sub = (url: string, extra = "") => `url: ${url}\nsecret: receiver\n${extra}`;

describe("the Standard Webhooks signature", () => {
  it("matches the reference library's vector", () => {
    // standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts
    // ("sign function works") at b2fa7b8719fb75d326b591077f5d1b385cfcdfae, Apache-2.0.
    const key = secretKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "vector", "the test");
    expect(Buffer.isBuffer(key)).toBe(true);
    expect(signature(key as Buffer, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it.each([
    ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /does not start with whsec_/],
    ["whsec_not base64!", /is not base64/],
    ["whsec_c2hvcnQ=", /holds 5 bytes; the spec asks for 24 to 64/],
    [42, /it is a number, not a string/],
  ])("refuses %j as a signing secret, without repeating it", (value, why) => {
    const e = secretKey(value, "github", "boot-meta-service prod");
    expect(isBootMetaError(e, "SERVER_WEBHOOK_SECRET_UNAVAILABLE")).toBe(true);
    expect((e as Error).message).toMatch(/^webhooks\.secrets\.github in boot-meta-service prod is not a signing secret: /);
    expect((e as Error).message).toMatch(why);
    if (typeof value === "string") expect(JSON.stringify((e as { toJSON(): unknown }).toJSON())).not.toContain(value.replace(/^whsec_/, ""));
  });

  it("gives a change the same webhook id for a subscriber on every attempt and replica, and none with a dot", () => {
    const c = "a".repeat(40);
    expect(webhookId("ops", c)).toBe(webhookId("ops", c));
    expect(webhookId("ops", c)).not.toBe(webhookId("audit", c));
    expect(webhookId("ops", c)).toMatch(/^msg_[A-Za-z0-9_-]{27}$/);
  });
});

describe("subscription files", () => {
  it("reads url, secret and the filters", () => {
    const s = parseSubscription("subscriptions/ops.yaml", "b".repeat(40), "url: https://hooks.example.com/in\nsecret: github\nprojects: [shop]\npaths: [shop/envs/prod/]\nevents: [change]\ndescription: ops\n");
    expect(s).toMatchObject({ name: "ops", url: "https://hooks.example.com/in", secret: "github", projects: ["shop"], paths: ["shop/envs/prod/"], events: ["change"] });
  });

  it.each([
    ["url: ftp://example.com/\nsecret: a\n", "url", /url must be http or https, not ftp/],
    ["secret: a\n", "url", /url is missing/],
    ["url: not a url\nsecret: a\n", "url", /url "not a url" is not a URL/],
    ["url: https://user:pw@example.com/\nsecret: a\n", "url", /must not hold a user name or password/],
    ["url: https://example.com/\n", "secret", /secret must be the name .* it is missing/],
    [`url: https://example.com/\nsecret: ${SECRET}\n`, "secret", /never the secret itself/],
    ["url: https://example.com/\nsecret: a\nproject: shop\n", "project", /unknown field project \(the fields are url, secret, projects, paths, events, description\)/],
    ["url: https://example.com/\nsecret: a\nprojects: shop\n", "projects", /projects must be a list/],
    ["url: https://example.com/\nsecret: a\nprojects: [../keys]\n", "projects", /projects: .*\.\./],
    ["url: https://example.com/\nsecret: a\npaths: [/etc]\n", "paths", /"\/etc" is not a path prefix/],
    ["url: https://example.com/\nsecret: a\nevents: [push]\n", "events", /"push" is not an event type \(there is: change\)/],
    ["- url: https://example.com/\n", undefined, /the top level must be a map/],
    ["url: [unclosed\n", undefined, /at line \d+, column \d+/],
  ])("refuses %j, naming the file and the field", (text, field, why) => {
    let err: unknown;
    try {
      parseSubscription("subscriptions/ops.yaml", "b".repeat(40), text);
    } catch (e) {
      err = e;
    }
    expect(isBootMetaError(err, "SERVER_SUBSCRIPTION_INVALID")).toBe(true);
    const e = err as { message: string; data: Record<string, unknown> };
    expect(e.message).toMatch(/^subscriptions\/ops\.yaml is not a usable subscription: /);
    expect(e.message).toMatch(why);
    expect(e.data.path).toBe("subscriptions/ops.yaml");
    expect(e.data.field).toBe(field);
    expect(e.message).not.toContain(SECRET.slice(6));
  });
});

describe("deliveries", () => {
  it("POSTs a change to its subscriber, signed with the secret from the service's own config, narrowed to its filters", async () => {
    const shop = await receiver();
    const other = await receiver();
    fx.subscribe({ "shop.yaml": sub(shop.url, "projects: [shop]\n"), "other.yaml": sub(other.url, "paths: [boot-meta-service/]\n") });
    const svc = await service();
    const commit = await svc.deliver();
    expect(shop.got).toHaveLength(1);
    expect(other.got).toHaveLength(0);
    const { headers, body } = shop.got[0] as Received;
    expect(headers["content-type"]).toBe("application/json");
    expect(headers["webhook-id"]).toBe(webhookId("shop", commit));
    expect(headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(verify(SECRET, headers, body)).toBe(true);
    // Signed with the prod secret the service reads, not with the stage one it cannot.
    expect(verify(STAGE_SECRET, headers, body)).toBe(false);
    const payload = JSON.parse(body.toString("utf8"));
    expect(payload).toEqual({
      type: "change",
      timestamp: payload.data.time,
      data: { commit, parent: git(fx.work, "rev-parse", `${commit}^`), paths: ["shop/envs/dev/config.sops.yaml"], projects: ["shop"], time: payload.data.time },
    });
    expect(new Date(payload.timestamp).toISOString()).toBe(payload.timestamp);
    expect(body.toString("utf8")).not.toContain(SHOP_VALUE);
    expect(await svc.metrics()).toContain('bootmeta_webhook_deliveries_total{outcome="delivered",subscription="shop"} 1');
    for (const text of [svc.log.text(), await svc.metrics()]) {
      expect(text).not.toContain(SECRET.slice(6));
      expect(text).not.toContain(SHOP_VALUE);
    }
  });

  it("fails verification when the body was tampered with on the way", async () => {
    const r = await receiver();
    fx.subscribe({ "shop.yaml": sub(r.url) });
    const svc = await service();
    await svc.deliver();
    const { headers, body } = r.got[0] as Received;
    expect(verify(SECRET, headers, body)).toBe(true);
    const tampered = Buffer.from(body.toString("utf8").replace('"projects":["shop"]', '"projects":["bank"]'));
    expect(tampered.equals(body)).toBe(false);
    expect(verify(SECRET, headers, tampered)).toBe(false);
    // Nor does a replay with a new timestamp pass with the old signature.
    expect(verify(SECRET, { ...headers, "webhook-timestamp": String(Number(headers["webhook-timestamp"]) + 1) }, body)).toBe(false);
  });

  it("retries a receiver that fails twice, and delivers on the third attempt with the same id", async () => {
    const r = await receiver((n) => (n <= 2 ? 503 : 200));
    fx.subscribe({ "flaky.yaml": sub(r.url) });
    const svc = await service({ attempts: 5 });
    const reports: unknown[] = [];
    svc.outbound.on("delivered", (d) => reports.push(d));
    const commit = await svc.deliver();
    expect(r.got).toHaveLength(3);
    expect(new Set(r.got.map((g) => g.headers["webhook-id"]))).toEqual(new Set([webhookId("flaky", commit)]));
    for (const g of r.got) expect(verify(SECRET, g.headers, g.body)).toBe(true);
    expect(reports).toMatchObject([{ subscription: "flaky", commit, outcome: "delivered", attempts: [{ status: 503 }, { status: 503 }, { status: 200 }] }]);
    const m = await svc.metrics();
    expect(m).toContain('bootmeta_webhook_deliveries_total{outcome="failed",subscription="flaky"} 2');
    expect(m).toContain('bootmeta_webhook_deliveries_total{outcome="delivered",subscription="flaky"} 1');
    expect(existsSync(join(svc.dataDir, "dead-letters"))).toBe(false);
  });

  it("writes a dead letter after the last attempt to a receiver that always fails", async () => {
    const r = await receiver(() => 500);
    fx.subscribe({ "down.yaml": sub(r.url) });
    const svc = await service({ attempts: 3 });
    const commit = await svc.deliver();
    expect(r.got).toHaveLength(3);
    const id = webhookId("down", commit);
    const file = join(svc.dataDir, "dead-letters", "down", `${id}.json`);
    const text = readFileSync(file, "utf8");
    const letter = JSON.parse(text);
    expect(letter).toMatchObject({
      subscription: "down",
      file: "subscriptions/down.yaml",
      endpoint: new URL(r.url).origin,
      webhookId: id,
      type: "change",
      reason: "all 3 attempts failed; the last: status 500",
      payload: { commit, projects: ["shop"], paths: 1 },
      attempts: [{ status: 500 }, { status: 500 }, { status: 500 }],
    });
    expect(letter.blob).toBe(git(fx.bare, "rev-parse", `${commit}:subscriptions/down.yaml`));
    // The receiver's path and query may be a credential; the secret and the signature never appear.
    expect(text).not.toContain("t0k3n");
    expect(text).not.toContain(SECRET.slice(6));
    expect(text).not.toContain(String(r.got[0]?.headers["webhook-signature"]).slice(3));
    const m = await svc.metrics();
    expect(m).toContain('bootmeta_webhook_deliveries_total{outcome="failed",subscription="down"} 2');
    expect(m).toContain('bootmeta_webhook_deliveries_total{outcome="dead",subscription="down"} 1');
    expect(svc.log.text()).toContain("dead letter written");
    expect(svc.log.text()).not.toContain("t0k3n");
  });

  it("counts an unreachable receiver's attempts as failures, with the socket's error", async () => {
    const r = await receiver();
    const url = r.url;
    for (const s of receivers.splice(0)) await new Promise((resolve) => s.close(resolve));
    fx.subscribe({ "gone-away.yaml": sub(url) });
    const svc = await service({ attempts: 2 });
    const dead: { attempts: { error?: string }[] }[] = [];
    svc.outbound.on("dead", (d) => dead.push(d));
    await svc.deliver();
    expect(dead).toHaveLength(1);
    expect(dead[0]?.attempts.map((a) => a.error)).toEqual(["ECONNREFUSED", "ECONNREFUSED"]);
  });

  it("disables a subscription whose receiver answers 410 Gone, until its file changes", async () => {
    const r = await receiver((n) => (n === 1 ? 410 : 204));
    fx.subscribe({ "done.yaml": sub(r.url) });
    const svc = await service({ attempts: 5 });
    await svc.deliver();
    expect(r.got).toHaveLength(1);
    await svc.deliver();
    expect(r.got).toHaveLength(1);
    const m = await svc.metrics();
    expect(m).toContain('bootmeta_webhook_deliveries_total{outcome="gone",subscription="done"} 1');
    expect(m).toContain('bootmeta_webhook_subscriptions{subscription="done",state="disabled"} 1');
    // The operator edits the file: deliveries resume, from that commit (a change like any other) on.
    fx.subscribe({ "done.yaml": sub(r.url, "description: back\n") });
    await svc.mirror.sync();
    await svc.outbound.settled();
    expect(r.got).toHaveLength(2);
    expect(JSON.parse(r.got[1]?.body.toString("utf8") ?? "").data.paths).toEqual(["subscriptions/done.yaml"]);
    await svc.deliver();
    expect(r.got).toHaveLength(3);
  });

  it("delivers to the good subscriptions when another file is invalid, and reports the bad one in the log and a metric", async () => {
    const r = await receiver();
    fx.subscribe({ "good.yaml": sub(r.url), "bad.yaml": "url: ftp://example.com/\nsecret: receiver\n", "notes.txt": "hello\n" });
    const svc = await service();
    await svc.deliver();
    expect(r.got).toHaveLength(1);
    const m = await svc.metrics();
    expect(m).toContain('bootmeta_webhook_subscriptions{subscription="bad",state="invalid"} 1');
    expect(m).toContain('bootmeta_webhook_subscriptions{subscription="notes.txt",state="invalid"} 1');
    expect(m).toContain('bootmeta_webhook_subscriptions{subscription="good",state="active"} 1');
    const warn = svc.log.lines.map((l) => JSON.parse(l)).find((l) => l.subscription === "bad");
    expect(warn).toMatchObject({ level: 40, err: { code: "SERVER_SUBSCRIPTION_INVALID", data: { path: "subscriptions/bad.yaml", field: "url" } } });
    expect(warn.msg).toContain("subscriptions/bad.yaml is skipped");
  });
});

describe("secrets the service cannot open", () => {
  it("does not deliver to a subscription naming a secret its config does not have, and says which", async () => {
    const r = await receiver();
    fx.subscribe({ "typo.yaml": `url: ${r.url}\nsecret: recieverr\n`, "weak.yaml": `url: ${r.url}\nsecret: short\n` });
    const svc = await service();
    const skipped: { subscription: string; error: { code: string; message: string } }[] = [];
    svc.outbound.on("skipped", (s) => skipped.push(s));
    await svc.deliver();
    expect(r.got).toHaveLength(0);
    expect(skipped.map((s) => [s.subscription, s.error.code]).sort()).toEqual([
      ["typo", "SERVER_WEBHOOK_SECRET_UNAVAILABLE"],
      ["weak", "SERVER_WEBHOOK_SECRET_UNAVAILABLE"],
    ]);
    expect(skipped.find((s) => s.subscription === "typo")?.error.message).toBe(
      "the service's config boot-meta-service prod has no webhooks.secrets.recieverr, the signing secret subscriptions/typo.yaml names",
    );
    expect(skipped.find((s) => s.subscription === "weak")?.error.message).toMatch(/webhooks\.secrets\.short in boot-meta-service prod is not a signing secret: it holds 5 bytes/);
    const m = await svc.metrics();
    expect(m).toContain('bootmeta_webhook_deliveries_total{outcome="skipped",subscription="typo"} 1');
    expect(m).toContain('bootmeta_webhook_subscriptions{subscription="typo",state="no_secret"} 1');
    const log = svc.log.text();
    expect(log).toContain("not delivered to typo");
    for (const text of [log, m]) {
      expect(text).not.toContain(SECRET.slice(6));
      expect(text).not.toContain("c2hvcnQ");
    }
  });

  it("does not deliver when the service's principal is not a reader of the config named", async () => {
    const r = await receiver();
    fx.subscribe({ "shop.yaml": sub(r.url) });
    const svc = await service({ configEnv: "stage" });
    const skipped: { error: { code: string; message: string; data: Record<string, unknown> } }[] = [];
    svc.outbound.on("skipped", (s) => skipped.push(s));
    await svc.deliver();
    expect(r.got).toHaveLength(0);
    expect(skipped).toHaveLength(1);
    expect(skipped[0]?.error.code).toBe("SERVER_WEBHOOK_SECRET_UNAVAILABLE");
    expect(skipped[0]?.error.data.cause).toBe("CONFIG_ACCESS_DENIED");
    expect(skipped[0]?.error.message).toMatch(/^the service cannot load its config boot-meta-service stage: cannot decrypt boot-meta-service\/envs\/stage\/config\.sops\.yaml: it is encrypted to admin; your identity \(the given identities\) is meta-server$/);
    for (const text of [svc.log.text(), await svc.metrics()]) {
      expect(text).not.toContain(STAGE_SECRET.slice(6));
      expect(text).not.toContain(SECRET.slice(6));
    }
    expect(await svc.metrics()).toContain('bootmeta_webhook_subscriptions{subscription="shop",state="no_secret"} 1');
  });

  it("does not deliver when the service holds no identity", async () => {
    const r = await receiver();
    fx.subscribe({ "shop.yaml": sub(r.url) });
    const svc = await service({ identities: undefined });
    const skipped: { error: { message: string } }[] = [];
    svc.outbound.on("skipped", (s) => skipped.push(s));
    await svc.deliver();
    expect(r.got).toHaveLength(0);
    expect(skipped[0]?.error.message).toBe("the service holds no identity, so it can open no signing secret");
  });
});

describe("stopping", () => {
  it("cancels a waiting retry at close and writes the delivery as an abandoned dead letter", async () => {
    const r = await receiver(() => 503);
    fx.subscribe({ "slow.yaml": sub(r.url) });
    // The retry waits ~forever: only close can end this delivery.
    const svc = await service({ attempts: 5, retryBaseMs: 3_600_000, retryMaxMs: 3_600_000, random: () => 1 });
    const commit = await fx.change();
    const retrying = new Promise<{ attempt: number }>((resolve) => svc.outbound.once("retrying", resolve));
    const abandoned = new Promise<{ deadLetter?: string; attempts: unknown[] }>((resolve) => svc.outbound.once("abandoned", resolve));
    await svc.mirror.sync();
    expect((await retrying).attempt).toBe(1);
    await svc.close();
    const report = await abandoned;
    expect(report.attempts).toEqual([expect.objectContaining({ status: 503 })]);
    const letter = JSON.parse(readFileSync(report.deadLetter as string, "utf8"));
    expect(letter).toMatchObject({ subscription: "slow", webhookId: webhookId("slow", commit), reason: "abandoned after 1 attempt(s): the service stopped" });
    expect(readdirSync(join(svc.dataDir, "dead-letters", "slow"))).toEqual([`${webhookId("slow", commit)}.json`]);
  });
});

describe("boot-meta serve's own config", () => {
  it.each([
    [{ configProject: "boot-meta-service" }, /needs both --config-project and --config-env; only --config-project was given/],
    [{ configProject: "boot-meta-service", configEnv: "prod" }, /--config-project boot-meta-service needs --identity FILE/],
  ])("refuses %j before it starts", async (o, why) => {
    const err = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), environment: {}, ...o }).catch((e: unknown) => e);
    expect(isBootMetaError(err, "INVALID_ARGUMENT")).toBe(true);
    expect((err as Error).message).toMatch(why);
  });

  it("starts with --identity and delivers with the secrets its config holds", async () => {
    const r = await receiver();
    fx.subscribe({ "shop.yaml": sub(r.url) });
    const keyFile = join(tempDir(), "meta-server.key");
    writeFileSync(keyFile, `${fx.serverIds.identities[0]}\n`, { mode: 0o600 });
    const s = await startServer({
      meta: fx.bare,
      port: 0,
      cacheDir: tempDir(),
      environment: {},
      identityFile: keyFile,
      configProject: "boot-meta-service",
      configEnv: "prod",
      outbound: { retryBaseMs: 20 },
    });
    closers.push(() => s.close());
    await fx.change();
    await s.mirror.sync();
    await s.app.bootMeta.outbound?.settled();
    expect(r.got).toHaveLength(1);
    expect(verify(SECRET, r.got[0]?.headers ?? {}, r.got[0]?.body ?? Buffer.alloc(0))).toBe(true);
  });
});
