import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createProject } from "../../src/meta/repo.js";
import { createRelease } from "../../src/records/releases.js";
import { createToken, revokeToken } from "../../src/records/tokens.js";
import { createApp } from "../../src/server/app.js";
import { Mirror } from "../../src/server/mirror.js";
import { startServer, type RunningServer } from "../../src/server/serve.js";
import { ageKeyFile } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { recordsRemote, sourceRepo } from "../helpers/records.js";

const AUTHOR = "Test Author <author@test.invalid>";

interface Fixture {
  remote: string;
  /** A writer's clone of the remote (an admin's checkout). */
  admin: string;
  release: string;
  tokens: Record<"report" | "read" | "events" | "web" | "expired" | "revoked", string>;
}

/**
 * A bare remote holding a meta repo with projects shop and web, a release 1.0 and 2.0 of shop,
 * principals fleet and ops, and tokens made through the library and pushed.
 */
async function fixture(): Promise<Fixture> {
  const { remote, clones } = await recordsRemote(1);
  const admin = clones[0] as string;
  const o = { author: AUTHOR, push: true };
  mkdirSync(join(admin, "keys"), { recursive: true });
  for (const name of ["fleet", "ops"]) writeFileSync(join(admin, "keys", `${name}.txt`), `# ${name}\n${(await ageKeyFile()).recipient}\n`);
  git(admin, "add", "keys");
  git(admin, "commit", "-q", "-m", "principals");
  git(admin, "push", "-q", "origin", "main");
  await createProject(admin, "web", o);
  const app = sourceRepo("shop");
  const commit = git(app, "rev-parse", "HEAD");
  const release = (await createRelease(admin, "shop", { ...o, version: "1.0", repos: [{ name: "shop", commit }] })).value.id;
  await createRelease(admin, "shop", { ...o, version: "2.0", repos: [{ name: "shop", commit }] });
  const make = async (principal: string, scopes: string[], projects: string[], extra: { expires?: string; now?: Date } = {}) => (await createToken(admin, principal, { ...o, scopes, projects, ...extra })).value.token;
  const tokens = {
    report: await make("fleet", ["instances:report"], ["shop"]),
    read: await make("ops", ["instances:read", "events:read"], ["*"]),
    events: await make("fleet", ["events:write"], ["shop"]),
    web: await make("fleet", ["instances:report"], ["web"]),
    // Made two hours ago for one hour.
    expired: await make("fleet", ["instances:report"], ["shop"], { expires: "1h", now: new Date(Date.now() - 2 * 3_600_000) }),
    revoked: await make("fleet", ["instances:report"], ["shop"]),
  };
  await revokeToken(admin, tokens.revoked.slice(4, 20), o);
  return { remote, admin, release, tokens };
}

const remoteHead = (remote: string) => git(remote, "rev-parse", "main");
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("instance reports and events, in process", () => {
  let f: Fixture;
  let mirror: Mirror;
  let app: FastifyInstance;

  beforeAll(async () => {
    f = await fixture();
    mirror = new Mirror({ source: f.remote, cacheDir: tempDir() });
    await mirror.sync();
    // An interval no test waits for: each flushes by hand.
    app = createApp({ mirror, reportIntervalMs: 3_600_000, author: AUTHOR });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await mirror?.close();
  });

  const report = (id: string, body: unknown, token = f.tokens.report, project = "shop") =>
    app.inject({ method: "POST", url: `/v1/projects/${project}/instances/${id}/report`, headers: bearer(token), payload: body as object });

  it("a state change is queued and committed once; reports that change nothing make no commit", async () => {
    const before = remoteHead(f.remote);
    const first = await report("web-1", { status: "running", release: "1.0", health: "healthy" });
    expect(first.statusCode, first.body).toBe(202);
    expect(first.json()).toMatchObject({ project: "shop", id: "web-1", changed: true });
    // Heartbeats saying the same, before and after the commit: nothing more to write.
    for (let i = 0; i < 5; i++) expect((await report("web-1", { status: "running", release: f.release, health: "healthy" })).json().changed).toBe(false);
    const flushed = await app.bootMeta.writer.flush();
    expect(flushed).toMatchObject({ instances: 1, events: 0 });
    expect(remoteHead(f.remote)).toBe(flushed.commit);
    expect(git(f.remote, "rev-list", "--count", `${before}..main`)).toBe("1");
    expect(mirror.head).toBe(flushed.commit);
    const path = git(f.remote, "show", "--name-only", "--format=", "main");
    expect(path).toMatch(/^shop\/instances\/[0-9a-f]{2}\/web-1\.json$/);
    expect(JSON.parse(git(f.remote, "show", `main:${path}`))).toMatchObject({ id: "web-1", project: "shop", releaseId: f.release, status: "running", health: "healthy" });
    expect(git(f.remote, "log", "-1", "--format=%an <%ae>%n%s", "main")).toBe(`${AUTHOR}\nfleet: 1 instance state change(s)`);

    for (let i = 0; i < 10; i++) expect((await report("web-1", { status: "running", release: "1.0", health: "healthy", lastError: `blip ${i}` })).json().changed).toBe(false);
    expect(await app.bootMeta.writer.flush()).toEqual({ commit: undefined, instances: 0, events: 0 });
    expect(remoteHead(f.remote)).toBe(flushed.commit);
    // Liveness has every report, lastError included.
    expect(await app.bootMeta.liveness.get("shop", "web-1")).toMatchObject({ status: "running", release: f.release, health: "healthy", lastError: "blip 9" });
  });

  it("several changes, of several instances, go out as one commit with the newest state of each", async () => {
    const before = remoteHead(f.remote);
    await report("web-2", { status: "starting", release: "1.0" });
    await report("web-2", { status: "running", release: "1.0" });
    await report("web-1", { status: "running", release: "2.0", health: "healthy" });
    const flushed = await app.bootMeta.writer.flush();
    expect(flushed.instances).toBe(2);
    expect(git(f.remote, "rev-list", "--count", `${before}..main`)).toBe("1");
    const files = git(f.remote, "show", "--name-only", "--format=", "main").split("\n").sort();
    expect(files).toHaveLength(2);
    expect(JSON.parse(git(f.remote, "show", `main:${files.find((p) => p.endsWith("/web-2.json"))}`)).status).toBe("running");
    expect(JSON.parse(git(f.remote, "show", `main:${files.find((p) => p.endsWith("/web-1.json"))}`)).releaseId).toMatch(/-2\.0$/);
  });

  it("a lost push race is planned again on the newest state: the admin's commit stays, the state goes on top", async () => {
    await report("web-3", { status: "running", release: "1.0" });
    // Someone else pushes first; the service's clone does not know yet.
    git(f.admin, "pull", "-q", "--ff-only", "origin", "main");
    writeFileSync(join(f.admin, "shop", "NOTES.md"), "pushed by an admin\n");
    git(f.admin, "add", "shop/NOTES.md");
    git(f.admin, "commit", "-q", "-m", "notes");
    git(f.admin, "push", "-q", "origin", "main");
    const theirs = remoteHead(f.remote);
    const flushed = await app.bootMeta.writer.flush();
    expect(flushed.instances).toBe(1);
    expect(git(f.remote, "rev-parse", "main^")).toBe(theirs);
    expect(git(f.remote, "show", "main:shop/NOTES.md")).toBe("pushed by an admin");
  });

  it("compares a report with the record as committed now, also when someone else changed it since the service wrote it", async () => {
    await report("web-4", { status: "running", release: "1.0" });
    await app.bootMeta.writer.flush();
    expect((await report("web-4", { status: "running", release: "1.0" })).json().changed).toBe(false);
    // An admin marks it stopped by hand; the service's own copy of what it wrote is now stale.
    git(f.admin, "pull", "-q", "--ff-only", "origin", "main");
    const path = git(f.admin, "ls-files", "shop/instances").split("\n").find((p) => p.endsWith("/web-4.json")) as string;
    const rec = JSON.parse(readFileSync(join(f.admin, path), "utf8"));
    writeFileSync(join(f.admin, path), `${JSON.stringify({ ...rec, status: "stopped" }, null, 2)}\n`);
    git(f.admin, "commit", "-q", "-am", "stop web-4 by hand");
    git(f.admin, "push", "-q", "origin", "main");
    await mirror.sync();
    expect((await report("web-4", { status: "running", release: "1.0" })).json().changed).toBe(true);
  });

  it("GET instances: records beside what each instance last reported", async () => {
    await report("web-9", { status: "starting", release: "1.0" });
    const r = await app.inject({ method: "GET", url: "/v1/projects/shop/instances", headers: bearer(f.tokens.read) });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json();
    expect(body.commit).toBe(mirror.head);
    const byId = Object.fromEntries(body.instances.map((i: { id: string }) => [i.id, i]));
    expect(byId["web-1"]).toMatchObject({ record: { releaseId: expect.stringMatching(/-2\.0$/) }, liveness: { status: "running", lastSeen: expect.any(String) }, pending: false });
    expect(byId["web-9"]).toMatchObject({ record: null, liveness: { status: "starting" }, pending: true });
    await app.bootMeta.writer.flush();
  });

  it("refuses a missing, wrong, expired, revoked, other-project or other-scope token, and writes nothing", async () => {
    const head = remoteHead(f.remote);
    const body = { status: "running", release: "1.0" };
    const none = await app.inject({ method: "POST", url: "/v1/projects/shop/instances/x-1/report", payload: body });
    expect(none.statusCode).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="boot-meta"');
    expect(none.json().error.code).toBe("SERVER_UNAUTHORIZED");

    const wrong = await report("x-1", body, `${f.tokens.report.slice(0, 21)}${"A".repeat(43)}`);
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers["www-authenticate"]).toBe('Bearer realm="boot-meta", error="invalid_token"');
    expect(wrong.json().error).toMatchObject({ code: "SERVER_UNAUTHORIZED", message: "the token is not valid here: no such token", data: { reason: "TOKEN_INVALID" } });

    const expired = await report("x-1", body, f.tokens.expired);
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error).toMatchObject({ code: "SERVER_UNAUTHORIZED", data: { reason: "TOKEN_EXPIRED" } });
    expect(expired.json().error.message).toMatch(/expired at/);

    const revoked = await report("x-1", body, f.tokens.revoked);
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.data.reason).toBe("TOKEN_REVOKED");

    const otherProject = await report("x-1", body, f.tokens.web);
    expect(otherProject.statusCode).toBe(403);
    expect(otherProject.headers["www-authenticate"]).toBe('Bearer realm="boot-meta", error="insufficient_scope", scope="instances:report"');
    expect(otherProject.json().error).toMatchObject({ code: "SERVER_FORBIDDEN" });
    expect(otherProject.json().error.message).toMatch(/may not do instances:report on shop: it is bound to web, not shop/);

    const otherScope = await report("x-1", body, f.tokens.events);
    expect(otherScope.statusCode).toBe(403);
    expect(otherScope.json().error.message).toMatch(/it has the scopes events:write, not instances:report/);
    const readWithReport = await app.inject({ method: "GET", url: "/v1/projects/shop/instances", headers: bearer(f.tokens.report) });
    expect(readWithReport.statusCode).toBe(403);
    const eventsWithoutToken = await app.inject({ method: "GET", url: "/v1/projects/shop/events" });
    expect(eventsWithoutToken.statusCode).toBe(401);

    expect(await app.bootMeta.liveness.get("shop", "x-1")).toBeUndefined();
    expect(app.bootMeta.writer.size).toBe(0);
    expect(await app.bootMeta.writer.flush()).toEqual({ commit: undefined, instances: 0, events: 0 });
    expect(remoteHead(f.remote)).toBe(head);
  });

  it("refuses a bad report: 400 for a bad body, 404 for an unknown project or release; nothing written", async () => {
    const bad = async (id: string, body: unknown, status: number, code: string) => {
      const r = await report(id, body);
      expect(r.statusCode, r.body).toBe(status);
      expect(r.json().error.code).toBe(code);
    };
    await bad("y-1", { release: "1.0" }, 400, "SERVER_BAD_REQUEST");
    await bad("y-1", { status: "running fine", release: "1.0" }, 400, "SERVER_BAD_REQUEST");
    await bad("y-1", { status: "running" }, 400, "SERVER_BAD_REQUEST");
    await bad("y-1", { status: "running", release: "9.9" }, 404, "RECORD_NOT_FOUND");
    await bad("y%20z", { status: "running", release: "1.0" }, 400, "META_INVALID_NAME");
    const noProject = await app.inject({ method: "GET", url: "/v1/projects/nope/instances", headers: bearer(f.tokens.read) });
    expect(noProject.statusCode).toBe(404);
    expect(noProject.json().error.code).toBe("META_NO_PROJECT");
    expect(await app.bootMeta.liveness.get("shop", "y-1")).toBeUndefined();
    expect(app.bootMeta.writer.size).toBe(0);
  });

  it("a token file moved to another principal's folder is refused (the path is the truth)", async () => {
    const token = (await createToken(f.admin, "fleet", { author: AUTHOR, push: true, scopes: ["instances:report"], projects: ["shop"] })).value.token;
    const id = token.slice(4, 20);
    await mirror.sync();
    expect((await report("z-1", { status: "running", release: "1.0" }, token)).statusCode).toBe(202);
    // A writer moves it under ops (as it is): the service no longer honours it.
    git(f.admin, "pull", "-q", "--ff-only", "origin", "main");
    mkdirSync(join(f.admin, "tokens/ops"), { recursive: true });
    git(f.admin, "mv", `tokens/fleet/${id}.json`, `tokens/ops/${id}.json`);
    git(f.admin, "commit", "-q", "-m", "move a token");
    git(f.admin, "push", "-q", "origin", "main");
    await mirror.sync();
    const moved = await report("z-1", { status: "running", release: "1.0" }, token);
    expect(moved.statusCode).toBe(401);
    expect(moved.json().error.message).toMatch(/tokens\/ops\/[0-9a-f]{16}\.json is not a valid token record/);
    await app.bootMeta.writer.flush();
  });

  it("events: appended as immutable files by day, read back with ?since", async () => {
    const head = remoteHead(f.remote);
    const post = (body: unknown, token = f.tokens.events) => app.inject({ method: "POST", url: "/v1/projects/shop/events", headers: bearer(token), payload: body as object });
    const a = await post({ type: "deploy.started", instance: "web-1", message: "rolling 2.0", data: { wave: "1" } });
    expect(a.statusCode, a.body).toBe(202);
    const b = await post({ type: "deploy.finished" });
    const ea = a.json();
    expect(ea.path).toMatch(new RegExp(`^shop/events/\\d{4}/\\d\\d/\\d\\d/${ea.id.replace(".", "\\.")}\\.json$`));
    expect((await post({ type: "has spaces" })).statusCode).toBe(400);
    expect((await post({ type: "x", data: { n: 1 } })).statusCode).toBe(400);
    expect((await post({ type: "x" }, f.tokens.report)).statusCode).toBe(403);

    const flushed = await app.bootMeta.writer.flush();
    expect(flushed).toMatchObject({ events: 2, instances: 0 });
    expect(git(f.remote, "rev-list", "--count", `${head}..main`)).toBe("1");
    expect(JSON.parse(git(f.remote, "show", `main:${ea.path}`))).toEqual({ id: ea.id, project: "shop", at: ea.at, type: "deploy.started", principal: "fleet", instance: "web-1", message: "rolling 2.0", data: { wave: "1" } });

    const read = async (q: string) => {
      const r = await app.inject({ method: "GET", url: `/v1/projects/shop/events${q}`, headers: bearer(f.tokens.read) });
      expect(r.statusCode, r.body).toBe(200);
      return r.json();
    };
    const all = await read("");
    expect(all.events.map((e: { id: string }) => e.id)).toEqual([ea.id, b.json().id]);
    expect((await read(`?since=${ea.id}`)).events.map((e: { id: string }) => e.id)).toEqual([b.json().id]);
    expect((await read(`?since=${encodeURIComponent(ea.at)}`)).events).toHaveLength(2);
    expect((await read("?since=2999-01-01T00:00:00Z")).events).toEqual([]);
    const page = await read("?limit=1");
    expect(page).toMatchObject({ next: ea.id, more: true });
    const bad = await app.inject({ method: "GET", url: "/v1/projects/shop/events?since=yesterday", headers: bearer(f.tokens.read) });
    expect(bad.statusCode).toBe(400);
  });
});

describe("a service that follows a tag", () => {
  it("is read-only: reports and events are refused with 503 SERVER_READ_ONLY, nothing is kept", async () => {
    const f = await fixture();
    git(f.admin, "pull", "-q", "--ff-only", "origin", "main");
    git(f.admin, "tag", "v1");
    git(f.admin, "push", "-q", "origin", "v1");
    const mirror = new Mirror({ source: f.remote, cacheDir: tempDir(), ref: "v1" });
    await mirror.sync();
    const app = createApp({ mirror, reportIntervalMs: 3_600_000 });
    try {
      const r = await app.inject({ method: "POST", url: "/v1/projects/shop/instances/web-1/report", headers: bearer(f.tokens.report), payload: { status: "running", release: "1.0" } });
      expect(r.statusCode).toBe(503);
      expect(r.json().error).toMatchObject({ code: "SERVER_READ_ONLY" });
      expect(r.json().error.message).toMatch(/v1 is not a branch of the remote/);
      const e = await app.inject({ method: "POST", url: "/v1/projects/shop/events", headers: bearer(f.tokens.events), payload: { type: "x" } });
      expect(e.statusCode).toBe(503);
      expect(await app.bootMeta.liveness.get("shop", "web-1")).toBeUndefined();
      expect(app.bootMeta.writer.size).toBe(0);
    } finally {
      await app.close();
      await mirror.close();
    }
  });
});

describe("instance reports over a real port", () => {
  let f: Fixture;
  let server: RunningServer;
  const logged: string[] = [];

  beforeAll(async () => {
    f = await fixture();
    const sink = new Writable({
      write(chunk, _enc, done) {
        logged.push(String(chunk));
        done();
      },
    });
    server = await startServer({ meta: f.remote, port: 0, cacheDir: tempDir(), reportIntervalMs: 200, author: AUTHOR, logger: pino({ level: "trace" }, sink) });
  });
  afterAll(async () => {
    await server?.close();
  });

  it("a state change reaches the bare remote as exactly one commit after the interval; the token is never logged", async () => {
    const before = remoteHead(f.remote);
    const send = (body: object, token = f.tokens.report) =>
      fetch(`${server.url}/v1/projects/shop/instances/web-1/report`, { method: "POST", headers: { ...bearer(token), "content-type": "application/json" }, body: JSON.stringify(body) });
    const r = await send({ status: "running", release: "1.0", health: "healthy" });
    expect(r.status).toBe(202);
    for (let i = 0; i < 5; i++) expect((await send({ status: "running", release: "1.0", health: "healthy" })).status).toBe(202);
    expect((await send({ status: "running", release: "1.0" }, `${f.tokens.report.slice(0, 21)}${"B".repeat(43)}`)).status).toBe(401);
    // The batch goes out on the service's own timer: wait for the remote to move.
    for (let i = 0; i < 600 && remoteHead(f.remote) === before; i++) await new Promise((res) => setTimeout(res, 50));
    expect(git(f.remote, "rev-list", "--count", `${before}..main`)).toBe("1");
    const path = git(f.remote, "show", "--name-only", "--format=", "main");
    expect(JSON.parse(git(f.remote, "show", `main:${path}`))).toMatchObject({ id: "web-1", status: "running", health: "healthy", releaseId: f.release });
    // Nothing more is queued: the next batches have nothing to write.
    expect(server.app.bootMeta.writer.size).toBe(0);
    expect(await server.app.bootMeta.writer.flush()).toEqual({ commit: undefined, instances: 0, events: 0 });

    const listed = await fetch(`${server.url}/v1/projects/shop/instances`, { headers: bearer(f.tokens.read) });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { instances: unknown[] }).instances[0]).toMatchObject({ id: "web-1", record: { status: "running" }, liveness: { health: "healthy" } });

    const log = logged.join("");
    expect(log).toContain("wrote reported changes to the meta repository");
    for (const t of Object.values(f.tokens)) expect(log).not.toContain(t.slice(21));
    expect(log).not.toContain("B".repeat(43));
  });

  it("writes what is queued when it shuts down", async () => {
    await server.close();
    // A service whose interval never comes: only the shutdown can write.
    const slow = await startServer({ meta: f.remote, port: 0, cacheDir: tempDir(), reportIntervalMs: 3_600_000, author: AUTHOR });
    const before = remoteHead(f.remote);
    const r = await fetch(`${slow.url}/v1/projects/shop/instances/web-2/report`, { method: "POST", headers: { ...bearer(f.tokens.report), "content-type": "application/json" }, body: JSON.stringify({ status: "stopping", release: "1.0" }) });
    expect(r.status).toBe(202);
    expect(remoteHead(f.remote)).toBe(before);
    await slow.close();
    expect(git(f.remote, "rev-list", "--count", `${before}..main`)).toBe("1");
    expect(git(f.remote, "show", "--name-only", "--format=", "main")).toMatch(/\/web-2\.json$/);
  });
});
