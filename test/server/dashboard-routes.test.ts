import { appendFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/server/app.js";
import { Mirror } from "../../src/server/mirror.js";
import { dashboardFixture, URL_SECRET } from "../helpers/dashboard.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { SECRET_VALUE } from "../helpers/service.js";
import { sshKey } from "../helpers/ssh.js";

/**
 * The dashboard's page and the read-only listings it draws from, in-process (`app.inject`) over
 * a real bare remote: what each route answers at the served commit, how it refuses bad input,
 * and that no answer holds a config value or a storage credential.
 */
type Fixture = Awaited<ReturnType<typeof dashboardFixture>>;
let fx: Fixture;
let mirror: Mirror;
let app: FastifyInstance;
/** Every body and header set sent, to check that nothing secret went out. */
const sent: string[] = [];

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: "GET", url, headers });
  sent.push(res.body, JSON.stringify(res.headers));
  return res;
}

beforeAll(async () => {
  fx = await dashboardFixture();
  mirror = new Mirror({ source: fx.bare, cacheDir: tempDir(), environment: {} });
  await mirror.sync();
  app = createApp({ mirror });
});

afterAll(async () => {
  await app?.close();
  await mirror?.close();
  const all = sent.join("\n");
  expect(all).not.toContain(SECRET_VALUE);
  expect(all).not.toContain(URL_SECRET);
});

describe("the dashboard's files", () => {
  it("serves the page at / with a strict CSP, and its files under /ui/ with their types and ETags", async () => {
    const page = await get("/");
    expect(page.statusCode).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.headers["content-security-policy"]).toContain("connect-src 'self'");
    expect(page.body).toContain('<script type="module" src="/ui/app.js">');
    const js = await get("/ui/app.js");
    expect(js.statusCode).toBe(200);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.body).toContain("new EventSource(\"/v1/events\")");
    expect(js.body).not.toContain("/config");
    const css = await get("/ui/style.css");
    expect(css.headers["content-type"]).toBe("text/css; charset=utf-8");
    expect(css.body).toContain("prefers-color-scheme: dark");
    const again = await get("/ui/app.js", { "if-none-match": js.headers.etag as string });
    expect(again.statusCode).toBe(304);
  });

  it("answers 404 for a file it does not have, and never reads a path a request names", async () => {
    for (const url of ["/ui/nope.js", "/ui/..%2F..%2Froutes.ts", "/ui/%2e%2e%2fapp.ts", "/ui/..%2F..%2F..%2F..%2Fpackage.json"]) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(404);
      expect(res.json().error.message, url).toMatch(/^no dashboard file /);
    }
  });
});

describe("GET /v1/projects", () => {
  it("lists the projects with how many channels, releases and instances each has, at the served commit", async () => {
    const res = await get("/v1/projects");
    expect(res.statusCode).toBe(200);
    expect(res.headers["boot-meta-commit"]).toBe(mirror.head);
    expect(res.json()).toEqual({ commit: mirror.head, projects: [{ name: "shop", channels: 2, releases: 3, instances: 5 }] });
  });
});

describe("GET /v1/projects/:project/channels", () => {
  it("gives each channel's release and version, its rollout over its fleet, and the gates .boot-meta.yaml declares", async () => {
    const res = await get("/v1/projects/shop/channels");
    expect(res.statusCode).toBe(200);
    const { channels } = res.json();
    expect(channels.map((c: { name: string }) => c.name)).toEqual(["beta", "stable"]);
    const [beta, stable] = channels;
    expect(stable).toMatchObject({ name: "stable", releaseId: fx.rel["1.1"], version: "1.1", rollout: { percent: 50, previousReleaseId: fx.rel["1.0"] }, previousVersion: "1.0", fleet: { instances: 4, onRelease: 2 }, gates: { after: "beta", soak: "1h", approvals: 1 } });
    expect(beta).toMatchObject({ name: "beta", releaseId: fx.rel["1.2"], version: "1.2", previousVersion: null, fleet: { instances: 0, onRelease: 0 } });
    expect(beta.gates).toBeUndefined();
  });

  it("refuses an unknown project (404 META_NO_PROJECT) and a name with a .. segment (400 META_INVALID_NAME)", async () => {
    const missing = await get("/v1/projects/nope/channels");
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toMatchObject({ code: "META_NO_PROJECT", message: expect.stringContaining("no project nope") });
    const bad = await get("/v1/projects/shop%2F..%2Fkeys/channels");
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe("META_INVALID_NAME");
  });
});

describe("GET /v1/projects/:project/channels/:channel/history", () => {
  it("is the channel's states from git history, newest first, with the release each moved from and to", async () => {
    const res = await get("/v1/projects/shop/channels/stable/history");
    expect(res.statusCode).toBe(200);
    const { history } = res.json();
    expect(history.map((e: { to: string; from: string | null; percent: number; version: string }) => [e.version, e.percent, e.from])).toEqual([
      ["1.1", 50, fx.rel["1.0"]],
      ["1.0", 100, null],
    ]);
    expect(history[0]).toMatchObject({ previousReleaseId: fx.rel["1.0"], generation: 2, signedBy: null, unsignedReason: expect.any(String) });
    expect(history[0].commit).toBe(git(fx.bare, "log", "-n1", "--format=%H", "--", "shop/channels/stable.json"));
    const one = (await get("/v1/projects/shop/channels/stable/history?limit=1")).json().history;
    expect(one).toHaveLength(1);
    // The oldest shown still knows where it came from.
    expect(one[0].from).toBe(fx.rel["1.0"]);
  });

  it("refuses a limit that is not a whole number from 1 to 200, naming the parameter", async () => {
    for (const limit of ["0", "201", "x", "1.5", "-1"]) {
      const res = await get(`/v1/projects/shop/channels/stable/history?limit=${limit}`);
      expect(res.statusCode, limit).toBe(400);
      expect(res.json().error).toMatchObject({ code: "SERVER_BAD_REQUEST", message: expect.stringContaining("limit="), data: { parameter: "limit" } });
    }
  });

  it("is an empty history for a channel that never existed", async () => {
    const res = await get("/v1/projects/shop/channels/nightly/history");
    expect(res.statusCode).toBe(200);
    expect(res.json().history).toEqual([]);
  });
});

describe("GET /v1/projects/:project/releases", () => {
  it("lists releases newest first, paged, with how many there are", async () => {
    const all = (await get("/v1/projects/shop/releases")).json();
    expect(all.releases.map((r: { version: string }) => r.version)).toEqual(["1.2", "1.1", "1.0"]);
    expect(all).toMatchObject({ total: 3, more: false });
    expect(all.releases[0].repos.map((r: { name: string }) => r.name)).toEqual(["app", "lib"]);
    const page = (await get("/v1/projects/shop/releases?limit=1&offset=1")).json();
    expect(page.releases.map((r: { version: string }) => r.version)).toEqual(["1.1"]);
    expect(page).toMatchObject({ total: 3, more: true });
    expect((await get("/v1/projects/shop/releases?offset=x")).statusCode).toBe(400);
  });
});

describe("GET /v1/projects/:project/releases/:idOrVersion/binaries", () => {
  it("gives a release's binaries with their signers checked against keys/signers/, URLs without credentials, a sealed one's not at all", async () => {
    const res = await get("/v1/projects/shop/releases/1.1/binaries");
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.release).toBe(fx.rel["1.1"]);
    const by = new Map(body.binaries.map((b: { arch: string }) => [b.arch, b]));
    expect(by.get("amd64")).toMatchObject({ sha256: fx.bin.signed, sealed: false, urls: ["https://artifacts.invalid/shop/1.1/shop-linux-amd64"], signatures: [{ format: "sshsig", signer: "ci", trustedKey: true, fingerprint: expect.stringMatching(/^SHA256:/) }] });
    expect(by.get("arm64")).toMatchObject({ sha256: fx.bin.untrusted, signatures: [{ signer: null, trustedKey: false }] });
    expect(by.get("riscv64")).toMatchObject({ sha256: fx.bin.sealed, sealed: true, sealedEnv: "prod", urls: [] });
    const old = (await get(`/v1/projects/shop/releases/${fx.rel["1.0"]}/binaries`)).json();
    expect(old.binaries.map((b: { urls: string[] }) => b.urls)).toEqual([["https://artifacts.invalid/shop/1.0/shop"]]);
  });

  it("is a 404 RECORD_NOT_FOUND for a release that does not exist", async () => {
    const res = await get("/v1/projects/shop/releases/9.9/binaries");
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toMatchObject({ code: "RECORD_NOT_FOUND", message: expect.stringContaining("release 9.9 of shop") });
  });
});

describe("GET /v1/projects/:project/fleet", () => {
  it("groups the instance records by release and names who lags its channel's rollout, without a token", async () => {
    const res = await get("/v1/projects/shop/fleet");
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.total).toBe(5);
    expect(body.byRelease.map((g: { version: string; instances: { id: string }[] }) => [g.version, g.instances.map((i) => i.id)])).toEqual([["1.0", ["db-1", "web-1", "web-2", "web-3", "web-4"]]]);
    // Half of stable's four get 1.1: those two still run 1.0.
    expect(body.lagging).toHaveLength(2);
    for (const l of body.lagging) expect(l).toMatchObject({ channel: "stable", runs: fx.rel["1.0"], wants: fx.rel["1.1"], runsVersion: "1.0", wantsVersion: "1.1" });
    // The liveness view stays behind its token.
    expect((await get("/v1/projects/shop/instances")).statusCode).toBe(401);
  });

  it("follows the served commit: a promotion pushed and synced changes the answers", async () => {
    // beta: a channel without gates, so the promotion is not refused once promote checks them.
    const commit = await fx.promote("beta", "1.1");
    await mirror.sync();
    expect(mirror.head).toBe(commit);
    const channels = (await get("/v1/projects/shop/channels")).json().channels;
    expect(channels.find((c: { name: string }) => c.name === "beta")).toMatchObject({ releaseId: fx.rel["1.1"], version: "1.1" });
    expect((await get("/v1/projects/shop/channels/beta/history")).json().history.map((e: { version: string; commit: string }) => [e.version, e.commit === commit])).toEqual([
      ["1.1", true],
      ["1.2", false],
    ]);
    expect((await get("/v1/projects/shop/releases/1.1/binaries")).headers["boot-meta-commit"]).toBe(commit);
  });
});

describe("GET /v1/projects/:project/channels/:channel/history under a trust root", () => {
  it("marks the entries whose commit changed the channel without the right as untrusted, saying why; the rest are not", async () => {
    const f = await dashboardFixture();
    // The admin's SSH key signs commits from the root on; a commit nobody signs may not move a channel.
    const admin = sshKey("admin-signer");
    appendFileSync(join(f.work, "keys/admin.txt"), `${admin.line}\n`);
    git(f.work, "commit", "-qam", "admin signs commits");
    const root = git(f.work, "rev-parse", "HEAD");
    const forged = await f.promote("beta", f.rel["1.0"] as string);
    for (const [k, v] of [["gpg.format", "ssh"], ["user.signingkey", admin.keyFile], ["commit.gpgsign", "true"]]) git(f.work, "config", k as string, v as string);
    const signed = await f.promote("beta", f.rel["1.1"] as string);
    const m = new Mirror({ source: f.bare, cacheDir: tempDir(), environment: {}, trustRoot: root });
    await m.sync();
    const a = createApp({ mirror: m });
    try {
      const res = await a.inject({ method: "GET", url: "/v1/projects/shop/channels/beta/history" });
      expect(res.statusCode).toBe(200);
      const history = res.json().history as { commit: string; version: string; untrusted: boolean; untrustedReason: string | null; signedBy: string | null }[];
      expect(history.map((e) => [e.commit, e.version, e.untrusted, e.signedBy])).toEqual([
        [signed, "1.1", false, "admin"],
        [forged, "1.0", true, null],
        [expect.any(String), "1.2", false, null],
      ]);
      expect(history[1]?.untrustedReason).toMatch(/^commit [0-9a-f]{12}: /);
      expect(history[0]?.untrustedReason).toBeNull();
      // Without a trust root nothing is judged: no entry is marked.
      const plain = new Mirror({ source: f.bare, cacheDir: tempDir(), environment: {} });
      await plain.sync();
      const b = createApp({ mirror: plain });
      const all = (await b.inject({ method: "GET", url: "/v1/projects/shop/channels/beta/history" })).json().history as { untrusted: boolean }[];
      expect(all.map((e) => e.untrusted)).toEqual([false, false, false]);
      await b.close();
      await plain.close();
    } finally {
      await a.close();
      await m.close();
    }
  });
});
