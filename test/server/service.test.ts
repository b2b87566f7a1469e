import { createHmac } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/server/app.js";
import { Mirror } from "../../src/server/mirror.js";
import { startServer, type RunningServer } from "../../src/server/serve.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { capturedLogger, readEvents, SECRET_VALUE, serviceFixture } from "../helpers/service.js";

/**
 * The config service, in-process (`app.inject`) and over a real port: config served as
 * stored with ETags and long-polls, the change stream, inbound push webhooks, operations —
 * over a real bare remote, never a plaintext value in a response or a log line.
 */
type Fixture = Awaited<ReturnType<typeof serviceFixture>>;
let fx: Fixture;
beforeAll(async () => {
  fx = await serviceFixture();
});

const running: RunningServer[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.close();
});

async function mirrorApp(o: { webhookSecret?: string } = {}) {
  const mirror = new Mirror({ source: fx.bare, cacheDir: tempDir(), environment: {} });
  await mirror.sync();
  const log = capturedLogger();
  const app = createApp({ mirror, logger: log.logger, webhookSecret: o.webhookSecret });
  return { mirror, app, log };
}

async function serve(o: { webhookSecret?: string } = {}) {
  const log = capturedLogger();
  const s = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), webhookSecret: o.webhookSecret, logger: log.logger, environment: {} });
  running.push(s);
  return { ...s, log };
}

const githubSig = (secret: string, body: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

describe("GET /v1/projects/:project/config", () => {
  it("serves each layer as stored (ciphertext), with an ETag of the layers' blob ids and the commit beside it", async () => {
    const { app, mirror, log } = await mirrorApp();
    const r = await app.inject("/v1/projects/shop/config?env=prod");
    expect(r.statusCode).toBe(200);
    const body = r.json();
    expect(body.commit).toBe(mirror.head);
    expect(r.headers["boot-meta-commit"]).toBe(mirror.head);
    expect(r.headers.etag).toBe(body.etag);
    expect(body.layers.map((l: { name: string; path: string; found: boolean }) => [l.name, l.path, l.found])).toEqual([
      ["defaults", "shop/config.sops.yaml", true],
      ["env", "shop/envs/prod/config.sops.yaml", true],
    ]);
    const prod = body.layers[1];
    expect(prod.blob).toBe(git(fx.bare, "rev-parse", `${mirror.head}:shop/envs/prod/config.sops.yaml`));
    expect(prod.content).toBe(git(fx.bare, "show", `${mirror.head}:shop/envs/prod/config.sops.yaml`) + "\n");
    expect(prod.content).toContain("ENC[AES256_GCM,");
    expect(r.body).not.toContain(SECRET_VALUE);
    expect(log.lines.join("")).not.toContain(SECRET_VALUE);
    await app.close();
    await mirror.close();
  });

  it("answers 304 to the ETag it gave, and keeps it across a commit that changes another env", async () => {
    const { app, mirror } = await mirrorApp();
    const first = await app.inject("/v1/projects/shop/config?env=prod");
    const etag = first.headers.etag as string;
    expect((await app.inject({ url: "/v1/projects/shop/config?env=prod", headers: { "if-none-match": etag } })).statusCode).toBe(304);
    const commit = await fx.set("dev", "color", "green");
    await mirror.sync();
    const again = await app.inject({ url: "/v1/projects/shop/config?env=prod", headers: { "if-none-match": etag } });
    expect(again.statusCode).toBe(304);
    expect(again.headers["boot-meta-commit"]).toBe(commit);
    const dev = await app.inject({ url: "/v1/projects/shop/config?env=dev", headers: { "if-none-match": etag } });
    expect(dev.statusCode).toBe(200);
    await app.close();
    await mirror.close();
  });

  it("long-polls with ?wait until a commit changes one of the layers", async () => {
    const { app, mirror } = await mirrorApp();
    const first = await app.inject("/v1/projects/shop/config?env=prod");
    const etag = first.headers.etag as string;
    const waiting = app.inject({ url: "/v1/projects/shop/config?env=prod&wait=120", headers: { "if-none-match": etag } });
    // A commit to another env does not end the wait; one to prod does.
    await fx.set("dev", "color", "red");
    await mirror.sync();
    const commit = await fx.set("prod", "timeout", "30");
    await mirror.sync();
    const r = await waiting;
    expect(r.statusCode).toBe(200);
    expect(r.headers.etag).not.toBe(etag);
    expect(r.json().commit).toBe(commit);
    await app.close();
    await mirror.close();
  });

  it("ends a long-poll with 304 when the time is up", async () => {
    const { app, mirror } = await mirrorApp();
    const etag = (await app.inject("/v1/projects/shop/config?env=prod")).headers.etag as string;
    const r = await app.inject({ url: "/v1/projects/shop/config?env=prod&wait=1", headers: { "if-none-match": etag } });
    expect(r.statusCode).toBe(304);
    await app.close();
    await mirror.close();
  });

  it.each([
    ["/v1/projects/shop/config", 400, "SERVER_BAD_REQUEST"],
    ["/v1/projects/shop/config?env=..%2F..%2Fetc", 400, "META_INVALID_NAME"],
    ["/v1/projects/..%2Fkeys/config?env=prod", 400, "META_INVALID_NAME"],
    ["/v1/projects/shop/config?env=prod&wait=forever", 400, "SERVER_BAD_REQUEST"],
    ["/v1/projects/shop/config?env=prod&wait=100000", 400, "SERVER_BAD_REQUEST"],
    ["/v1/projects/shop/config?env=qa", 404, "CONFIG_NOT_FOUND"],
    ["/v1/projects/nope/config?env=prod", 404, "CONFIG_NOT_FOUND"],
    ["/v2/anything", 404, "SERVER_BAD_REQUEST"],
  ])("%s → %i %s", async (url, status, code) => {
    const { app, mirror } = await mirrorApp();
    const r = await app.inject(url);
    expect(r.statusCode).toBe(status);
    expect(r.json().error.code).toBe(code);
    expect(r.json().error.message).toMatch(/\w/);
    await app.close();
    await mirror.close();
  });

  it("is not ready, and says so, before its clone has synced", async () => {
    const mirror = new Mirror({ source: fx.bare, cacheDir: tempDir(), environment: {} });
    const app = createApp({ mirror });
    expect((await app.inject("/readyz")).statusCode).toBe(503);
    const r = await app.inject("/v1/projects/shop/config?env=prod");
    expect(r.statusCode).toBe(503);
    expect(r.json().error.code).toBe("SERVER_NOT_READY");
    await mirror.sync();
    expect((await app.inject("/readyz")).json()).toMatchObject({ ready: true, commit: mirror.head });
    await app.close();
    await mirror.close();
  });
});

describe("GET /v1/events", () => {
  it("streams one change per commit with its paths and projects, and resumes after Last-Event-ID", async () => {
    const s = await serve();
    const before = s.mirror.head as string;
    const res = await fetch(`${s.url}/v1/events`);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const c1 = await fx.set("dev", "color", "teal");
    const c2 = await fx.set("prod", "timeout", "31");
    await s.mirror.sync();
    const events = await readEvents(res, (e) => e.length >= 2);
    expect(events.map((e) => [e.event, e.id])).toEqual([
      ["change", c1],
      ["change", c2],
    ]);
    expect(JSON.parse(events[1]?.data as string)).toMatchObject({ commit: c2, parent: c1, paths: ["shop/envs/prod/config.sops.yaml"], projects: ["shop"] });
    // A client that saw only `before` gets both again, in order.
    const resumed = await fetch(`${s.url}/v1/events`, { headers: { "last-event-id": before } });
    expect((await readEvents(resumed, (e) => e.length >= 2)).map((e) => e.id)).toEqual([c1, c2]);
    // One that saw c1 gets c2 only; filters narrow what is sent.
    const filtered = await fetch(`${s.url}/v1/events?path=shop/envs/prod/&lastEventId=${before}`);
    expect((await readEvents(filtered, (e) => e.length >= 1)).map((e) => e.id)).toEqual([c2]);
    expect(s.log.lines.join("")).not.toContain(SECRET_VALUE);
  });

  it("follows the mirror with one listener however many streams are open", async () => {
    const s = await serve();
    const before = s.mirror.listenerCount("change");
    const streams = await Promise.all(Array.from({ length: 20 }, () => fetch(`${s.url}/v1/events`)));
    const commit = await fx.set("dev", "color", "many");
    await s.mirror.sync();
    const got = await Promise.all(streams.map((r) => readEvents(r, (e) => e.some((x) => x.id === commit))));
    expect(got.every((events) => events.at(-1)?.id === commit)).toBe(true);
    expect(s.mirror.listenerCount("change")).toBe(before);
  });

  it("tells a client whose last event is not in the branch's history to reload", async () => {
    const s = await serve();
    const res = await fetch(`${s.url}/v1/events`, { headers: { "last-event-id": "0123456789abcdef0123456789abcdef01234567" } });
    const [e] = await readEvents(res, (e) => e.length >= 1);
    expect(e?.event).toBe("reset");
    expect(JSON.parse(e?.data as string).commit).toBe(s.mirror.head);
  });

  it("ends streams with a shutdown event when the service closes", async () => {
    const s = await serve();
    const res = await fetch(`${s.url}/v1/events`);
    const reading = readEvents(res, () => false);
    await s.close();
    running.splice(running.indexOf(s), 1);
    expect((await reading).map((e) => e.event)).toEqual(["shutdown"]);
  });
});

describe("POST /v1/hooks/:provider", () => {
  const secret = "hook-secret-for-tests";

  it("refuses a wrong signature with 401 and fetches nothing", async () => {
    const { app, mirror } = await mirrorApp({ webhookSecret: secret });
    const synced = mirror.lastSync;
    await fx.set("dev", "color", "wrong-hmac");
    const body = JSON.stringify({ ref: "refs/heads/main" });
    for (const headers of [
      { "x-github-event": "push", "x-hub-signature-256": githubSig("not-the-secret", body) },
      { "x-github-event": "push" },
      { "x-gitea-event": "push", "x-gitea-signature": "00" },
      { "x-gitlab-event": "Push Hook", "x-gitlab-token": "guess" },
    ]) {
      const provider = "x-gitea-event" in headers ? "gitea" : "x-gitlab-event" in headers ? "gitlab" : "github";
      const r = await app.inject({ method: "POST", url: `/v1/hooks/${provider}`, headers: { "content-type": "application/json", ...headers }, payload: body });
      expect(r.statusCode).toBe(401);
      expect(r.json().error.code).toBe("SERVER_UNAUTHORIZED");
      expect(r.headers["www-authenticate"]).toBeUndefined();
    }
    // Give a sync that should not have started the time to show itself.
    await new Promise((res) => setTimeout(res, 300));
    expect(mirror.lastSync).toBe(synced);
    expect(mirror.head).not.toBe(git(fx.bare, "rev-parse", "main"));
    await app.close();
    await mirror.close();
  });

  it("is off (404) when the service has no webhook secret", async () => {
    const { app, mirror } = await mirrorApp();
    const r = await app.inject({ method: "POST", url: "/v1/hooks/github", headers: { "x-github-event": "push" }, payload: "{}" });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.code).toBe("SERVER_WEBHOOKS_DISABLED");
    await app.close();
    await mirror.close();
  });

  it.each(["github", "gitea", "gitlab"] as const)("fetches on a verified %s push, and the change reaches the stream", async (provider) => {
    const s = await serve({ webhookSecret: secret });
    const res = await fetch(`${s.url}/v1/events?project=shop`);
    const commit = await fx.set("dev", "color", `via-${provider}`);
    const body = JSON.stringify({ ref: "refs/heads/main", after: commit });
    const headers: Record<string, string> =
      provider === "github"
        ? { "x-github-event": "push", "x-hub-signature-256": githubSig(secret, body) }
        : provider === "gitea"
          ? { "x-gitea-event": "push", "x-gitea-signature": createHmac("sha256", secret).update(body).digest("hex") }
          : { "x-gitlab-event": "Push Hook", "x-gitlab-token": secret };
    const r = await fetch(`${s.url}/v1/hooks/${provider}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    expect(r.status).toBe(202);
    const events = await readEvents(res, (e) => e.some((x) => x.id === commit));
    expect(events.at(-1)?.id).toBe(commit);
  });

  it("accepts a ping without fetching", async () => {
    const { app, mirror } = await mirrorApp({ webhookSecret: secret });
    const body = "{}";
    const r = await app.inject({ method: "POST", url: "/v1/hooks/github", headers: { "x-github-event": "ping", "x-hub-signature-256": githubSig(secret, body) }, payload: body });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ accepted: false, event: "ping" });
    await app.close();
    await mirror.close();
  });
});

describe("operations", () => {
  it("reports metrics without a path or value from the repo", async () => {
    const { app, mirror } = await mirrorApp();
    await app.inject("/v1/projects/shop/config?env=prod");
    const m = await app.inject("/metrics");
    expect(m.statusCode).toBe(200);
    expect(m.body).toMatch(/bootmeta_http_requests_total\{method="GET",route="\/v1\/projects\/:project\/config",status="200"\} 1/);
    expect(m.body).toMatch(/bootmeta_sync_lag_seconds \d/);
    expect(m.body).not.toContain(SECRET_VALUE);
    expect(m.body).not.toContain("envs/prod");
    expect((await app.inject("/healthz")).json()).toEqual({ ok: true });
    await app.close();
    await mirror.close();
  });
});
