import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToken } from "../../src/records/tokens.js";
import { createApp } from "../../src/server/app.js";
import { Mirror } from "../../src/server/mirror.js";
import { type Fleet, fleetRepo } from "../helpers/fleet.js";
import { git, tempDir } from "../helpers/gitdir.js";

// What the agent needs of the service, in process: the release-signing keys without git, and
// reports that put the instance on its channel (so rollouts count it).

const AUTHOR = "Test Author <author@test.invalid>";

describe("the service's routes for agents", () => {
  let f: Fleet;
  let token: string;
  let mirror: Mirror;
  let app: FastifyInstance;
  let release: string;

  beforeAll(async () => {
    f = await fleetRepo();
    release = (await f.release("1.0")).id;
    await f.promote("1.0");
    token = (await createToken(f.admin, "agent", { scopes: ["instances:report"], projects: ["shop"], author: AUTHOR, push: true })).value.token;
    mirror = new Mirror({ source: f.remote, cacheDir: tempDir() });
    await mirror.sync();
    app = createApp({ mirror, reportIntervalMs: 3_600_000, author: AUTHOR });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await mirror?.close();
  });

  const report = (body: object) => app.inject({ method: "POST", url: "/v1/projects/shop/instances/web-1/report", headers: { authorization: `Bearer ${token}` }, payload: body });
  const recorded = () => {
    const path = git(f.remote, "ls-tree", "-r", "--name-only", "main", "shop/instances").split("\n").find((p) => p.endsWith("/web-1.json")) as string;
    return JSON.parse(git(f.remote, "show", `main:${path}`));
  };

  it("GET /v1/signers gives keys/signers/ at the served commit: names and public key lines only", async () => {
    const r = await app.inject({ url: "/v1/signers" });
    expect(r.statusCode).toBe(200);
    expect(r.headers["boot-meta-commit"]).toBe(mirror.head);
    expect(r.json()).toEqual({ commit: mirror.head, signers: [{ name: "ci", keys: [f.signer.line] }] });
  });

  it("a report names the instance's channel and why its last upgrade failed; both reach its record", async () => {
    const r = await report({ status: "failed", release: "1.0", health: "unhealthy", lastError: "health check: HTTP 500", channel: "stable" });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.json().changed).toBe(true);
    await app.bootMeta.writer.flush();
    expect(recorded()).toMatchObject({ id: "web-1", channel: "stable", releaseId: release, status: "failed", health: "unhealthy", lastError: "health check: HTTP 500" });
    // The same again changes nothing; recovering clears the error; a report without a channel keeps it.
    expect((await report({ status: "failed", release: "1.0", health: "unhealthy", lastError: "health check: HTTP 500", channel: "stable" })).json().changed).toBe(false);
    expect((await report({ status: "running", release: "1.0", health: "healthy" })).json().changed).toBe(true);
    await app.bootMeta.writer.flush();
    const now = recorded();
    expect(now).toMatchObject({ channel: "stable", status: "running", health: "healthy" });
    expect(now.lastError).toBeUndefined();
  });

  it("refuses a report on a channel the project does not have, naming it", async () => {
    const r = await report({ status: "running", release: "1.0", channel: "stabel" });
    expect(r.statusCode).toBe(404);
    expect(r.json().error).toMatchObject({ code: "CHANNEL_NOT_FOUND", message: expect.stringContaining("stabel") });
    const bad = await report({ status: "running", release: "1.0", channel: "../x" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe("META_INVALID_NAME");
  });
});
