import { createHmac } from "node:crypto";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type Msg, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isBootMetaError } from "../../src/errors.js";
import { type LivenessStore, MemoryLiveness, type InstanceLiveness } from "../../src/server/liveness.js";
import { KvLiveness } from "../../src/server/nats-liveness.js";
import { startServer, type RunningServer } from "../../src/server/serve.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { freePort, NatsServer } from "../helpers/net.js";
import { capturedLogger, readEvents, SECRET_VALUE, serviceFixture } from "../helpers/service.js";

/**
 * The config service over NATS, all real: a nats-server (-js, its own store directory) on a
 * free port with a user and password, a bare remote on disk, two `serve` replicas with their
 * own clones. A push announced to one replica reaches the other's stream subscribers and the
 * NATS subjects; instance liveness put on one is read on the other; the service outlives a
 * NATS restart; the NATS password never reaches a log line.
 */
const NATS_USER = "serve";
const NATS_PASS = "n4ts-Pa55word-Never-Logged";
const WEBHOOK_SECRET = "webhook-secret-for-tests";
const NEW_SECRET = "another-Plaintext-Never-Published-91c2";

/** Waits until `check` holds (a guard against a hang, not a measure of time). */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`gave up waiting until ${what}`);
}

/** The messages a subscription received, and a wait for the one that matches. */
function collect(nc: NatsConnection, subject: string) {
  const got: Msg[] = [];
  nc.subscribe(subject, {
    callback: (_err, m) => {
      got.push(m);
    },
  });
  return {
    got,
    async next(match: (m: Msg) => boolean): Promise<Msg> {
      let found: Msg | undefined;
      await until(`a message on ${subject}`, () => (found = got.find(match)) !== undefined);
      return found as Msg;
    },
  };
}

const githubPush = (url: string) => {
  const body = JSON.stringify({ ref: "refs/heads/main" });
  return fetch(`${url}/v1/hooks/github`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "push", "x-hub-signature-256": `sha256=${createHmac("sha256", WEBHOOK_SECRET).update(body).digest("hex")}` },
    body,
  });
};

/** Decisions a replica logged about another's head announcement for `commit`. */
const decisions = (lines: string[], commit: string) =>
  lines
    .map((l) => JSON.parse(l) as { msg: string; commit?: string; action?: string })
    .filter((l) => l.msg === "another replica announced its head" && l.commit === commit)
    .map((l) => l.action);

const syncsOk = async (s: RunningServer) => (await s.app.bootMeta.metrics.syncs.get()).values.find((v) => v.labels.outcome === "ok")?.value ?? 0;

type Fixture = Awaited<ReturnType<typeof serviceFixture>>;
let fx: Fixture;
let nats: NatsServer;
let client: NatsConnection;
beforeAll(async () => {
  fx = await serviceFixture();
  nats = new NatsServer(await freePort(), { user: NATS_USER, pass: NATS_PASS });
  await nats.start();
  client = await connect({ servers: `127.0.0.1:${nats.port}`, user: NATS_USER, pass: NATS_PASS, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
});
afterAll(async () => {
  await client?.close();
  await nats?.stop();
});

const running: RunningServer[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) await s.close();
});

async function replica() {
  const log = capturedLogger();
  const s = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), webhookSecret: WEBHOOK_SECRET, logger: log.logger, environment: {}, nats: nats.url });
  running.push(s);
  return { ...s, log };
}

/** Commits a channel file in the work clone and pushes it; returns the commit. */
function pushChannel(name: string, release: string): string {
  mkdirSync(join(fx.work, "shop", "channels"), { recursive: true });
  writeFileSync(join(fx.work, "shop", "channels", `${name}.json`), `${JSON.stringify({ name, release })}\n`);
  git(fx.work, "add", "-A");
  git(fx.work, "commit", "-q", "-m", `channel ${name} → ${release}`);
  git(fx.work, "push", "-q", "origin", "main");
  return git(fx.work, "rev-parse", "HEAD");
}

describe("serve --nats: replicas in step", () => {
  it("a webhook to one replica reaches the other's SSE subscribers and bootmeta.shop.changes, with paths and no value", async () => {
    const a = await replica();
    const b = await replica();
    const changes = collect(client, "bootmeta.shop.changes");
    await client.flush();
    const stream = await fetch(`${b.url}/v1/events`);
    const before = b.mirror.head;
    const commit = await fx.set("prod", "db_password", NEW_SECRET);
    expect((await githubPush(a.url)).status).toBe(202);

    const events = await readEvents(stream, (e) => e.some((x) => x.id === commit));
    const event = events.find((x) => x.id === commit);
    expect(event?.event).toBe("change");
    expect(JSON.parse(event?.data as string)).toMatchObject({ commit, parent: before, paths: ["shop/envs/prod/config.sops.yaml"], projects: ["shop"] });
    expect(b.mirror.head).toBe(commit);

    const m = await changes.next((x) => x.json<{ commit: string }>().commit === commit);
    expect(m.json()).toEqual({ commit, parent: before, paths: ["shop/envs/prod/config.sops.yaml"], projects: ["shop"], time: expect.any(String) });
    expect(m.headers?.get("Nats-Msg-Id")).toBe(`${commit}:bootmeta.shop.changes`);

    // B fetched because of A's announcement, once; A heard B's and had it already.
    await until("both replicas decided on the other's announcement", () => decisions(b.log.lines, commit).length > 0 && decisions(a.log.lines, commit).length > 0);
    expect(decisions(b.log.lines, commit)).toEqual(["fetch"]);
    expect(decisions(a.log.lines, commit)).toEqual(["have"]);
    expect(await syncsOk(a)).toBe(1);
    // B left the change to A, who announced having published it: one copy, not one a replica.
    // (Both flushes: what B published has reached the server, and the server's sends reached us.)
    await b.nats?.nc.flush();
    await client.flush();
    expect(changes.got.filter((x) => x.json<{ commit: string }>().commit === commit)).toHaveLength(1);

    const everything = [...a.log.lines, ...b.log.lines, ...changes.got.map((x) => x.string()), ...events.map((e) => e.data)].join("\n");
    for (const secret of [NEW_SECRET, SECRET_VALUE, NATS_PASS]) expect(everything).not.toContain(secret);
  });

  it("publishes a changed channel file on bootmeta.shop.channels.<channel>", async () => {
    const a = await replica();
    const b = await replica();
    const channels = collect(client, "bootmeta.shop.channels.>");
    await client.flush();
    const stream = await fetch(`${a.url}/v1/events?project=shop`);
    const commit = pushChannel("stable", "1.4.0");
    expect((await githubPush(b.url)).status).toBe(202);
    const m = await channels.next((x) => x.json<{ commit: string }>().commit === commit);
    expect(m.subject).toBe("bootmeta.shop.channels.stable");
    expect(m.json()).toEqual({ commit, parent: expect.any(String), time: expect.any(String), project: "shop", channel: "stable", path: "shop/channels/stable.json" });
    const events = await readEvents(stream, (e) => e.some((x) => x.id === commit));
    expect(JSON.parse(events.find((x) => x.id === commit)?.data as string).paths).toEqual(["shop/channels/stable.json"]);
  });

  it("fetches once for an announced commit it cannot get, however often it is announced", async () => {
    const b = await replica();
    const base = await syncsOk(b);
    const ghost = "0123456789abcdef0123456789abcdef01234567";
    // Core NATS keeps nothing for a subscription that is not there yet: on a busy machine the
    // replica may still be subscribing. Announce the head it has until it says so, then begin.
    const have = b.mirror.head as string;
    await until("the replica hears announcements", async () => {
      client.publish("bootmeta.head", JSON.stringify({ commit: have, commits: [], replica: "someone-else" }));
      await client.flush();
      return decisions(b.log.lines, have).length > 0;
    });
    for (let i = 0; i < 3; i++) client.publish("bootmeta.head", JSON.stringify({ commit: ghost, commits: [], replica: "someone-else" }));
    // Garbage on the subject is ignored, not fetched for.
    client.publish("bootmeta.head", "not json");
    client.publish("bootmeta.head", JSON.stringify({ commit: "../../etc", replica: "x" }));
    await until("the replica decided three times", () => decisions(b.log.lines, ghost).length === 3);
    // The later ones may be decided while the first still asks git whether it has the commit.
    expect(decisions(b.log.lines, ghost).sort()).toEqual(["fetch", "fetched-before", "fetched-before"]);
    // At least: a replica of an earlier test may still announce its own head meanwhile.
    await until("the fetch finished", async () => (await syncsOk(b)) >= base + 1);
    expect(b.mirror.head).not.toBe(ghost);
  });
});

describe("liveness in the JetStream key-value bucket", () => {
  const entry = (project: string, id: string, status = "running"): InstanceLiveness => ({ project, id, status, release: "20260101T000000Z-1.4.0", health: "healthy", lastSeen: new Date(0).toISOString() });

  it("a report put on one replica is read on the other, whatever the names hold", async () => {
    const a = await replica();
    const b = await replica();
    expect(a.liveness).toBeInstanceOf(KvLiveness);
    await a.liveness.put(entry("shop", "web-1"));
    await a.liveness.put(entry("main/maintemplatev2", "web.eu 1 ü"));
    await b.liveness.put(entry("shop", "web-2", "starting"));
    expect(await b.liveness.get("shop", "web-1")).toEqual(entry("shop", "web-1"));
    expect(await b.liveness.get("main/maintemplatev2", "web.eu 1 ü")).toEqual(entry("main/maintemplatev2", "web.eu 1 ü"));
    expect((await a.liveness.list("shop")).map((e) => [e.id, e.status])).toEqual([
      ["web-1", "running"],
      ["web-2", "starting"],
    ]);
    // A project's listing holds its own instances only (main is not main/maintemplatev2).
    expect(await b.liveness.list("main")).toEqual([]);
    expect((await b.liveness.list("main/maintemplatev2")).map((e) => e.id)).toEqual(["web.eu 1 ü"]);
  });

  // One contract for every LivenessStore (STYLE.md: one suite per interface).
  describe.each([
    ["memory", async (): Promise<LivenessStore> => new MemoryLiveness()],
    ["JetStream KV", async (): Promise<LivenessStore> => KvLiveness.open(client, { bucket: `contract-${Math.random().toString(36).slice(2)}` })],
  ])("%s store", (_name, open) => {
    it("keeps the last report of each instance and lists a project's in id order", async () => {
      const s = await open();
      expect(await s.get("shop", "web-1")).toBeUndefined();
      expect(await s.list("shop")).toEqual([]);
      await s.put(entry("shop", "web-2"));
      await s.put(entry("shop", "web-1", "starting"));
      await s.put(entry("shop", "web-1", "running"));
      await s.put(entry("other", "web-1", "stopped"));
      expect(await s.get("shop", "web-1")).toEqual(entry("shop", "web-1", "running"));
      expect((await s.list("shop")).map((e) => [e.id, e.status])).toEqual([
        ["web-1", "running"],
        ["web-2", "running"],
      ]);
      expect((await s.list("other")).map((e) => e.status)).toEqual(["stopped"]);
      await s.close();
    });
  });
});

describe("when NATS is away", () => {
  it("goes on serving while NATS restarts, reconnects, and is in step again after", async () => {
    const a = await replica();
    const b = await replica();
    await a.liveness.put(entry("shop", "db-1"));
    await nats.stop();
    await until("both replicas saw the connection go", () => [a, b].every((s) => s.log.lines.some((l) => l.includes("lost the NATS connection"))));
    // Still serving from the clone, and still fetching on a webhook.
    expect((await fetch(`${a.url}/v1/projects/shop/config?env=prod`)).status).toBe(200);
    expect((await fetch(`${b.url}/readyz`)).status).toBe(200);
    const during = await fx.set("dev", "color", "purple");
    expect((await githubPush(a.url)).status).toBe(202);
    await until("A fetched without NATS", () => a.mirror.head === during);

    await nats.start();
    await until("both replicas reconnected", () => [a, b].every((s) => s.log.lines.some((l) => l.includes("reconnected to NATS"))));
    // What was kept in JetStream outlives the restart.
    expect((await b.liveness.get("shop", "db-1"))?.status).toBe("running");
    const stream = await fetch(`${b.url}/v1/events`);
    const after = await fx.set("prod", "timeout", "45");
    expect((await githubPush(a.url)).status).toBe(202);
    const events = await readEvents(stream, (e) => e.some((x) => x.id === after));
    expect(events.map((e) => e.id)).toContain(after);
    expect([...a.log.lines, ...b.log.lines].join("\n")).not.toContain(NATS_PASS);
  });

  function entry(project: string, id: string): InstanceLiveness {
    return { project, id, status: "running", lastSeen: new Date(0).toISOString() };
  }

  it.each([
    ["nothing listens there", async () => `nats://${NATS_USER}:${NATS_PASS}@127.0.0.1:${await freePort()}`],
    ["the password is wrong", async () => `nats://${NATS_USER}:wrong-${NATS_PASS}@127.0.0.1:${nats.port}`],
  ])("does not start when %s (SERVER_NATS_UNAVAILABLE), and says so without the password", async (_why, url) => {
    const log = capturedLogger();
    const cacheDir = tempDir();
    let err: unknown;
    try {
      running.push(await startServer({ meta: fx.bare, port: 0, cacheDir, logger: log.logger, environment: {}, nats: await url() }));
    } catch (e) {
      err = e;
    }
    expect(isBootMetaError(err, "SERVER_NATS_UNAVAILABLE")).toBe(true);
    const text = JSON.stringify((err as { toJSON(): unknown }).toJSON());
    expect((err as Error).message).toMatch(/^cannot connect to NATS at nats:\/\/\*\*\*@127\.0\.0\.1:\d+: /);
    expect(text + log.lines.join("")).not.toContain(NATS_PASS);
  });

  it("does not start on a NATS without JetStream, where liveness could not be shared", async () => {
    const plain = new NatsServer(await freePort(), { user: NATS_USER, pass: NATS_PASS, jetStream: false });
    await plain.start();
    try {
      const err = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), environment: {}, nats: plain.url }).then(
        (s) => (running.push(s), undefined),
        (e: unknown) => e,
      );
      expect(isBootMetaError(err, "SERVER_NATS_UNAVAILABLE")).toBe(true);
      expect((err as Error).message).toContain("cannot open the JetStream key-value bucket bootmeta-liveness");
      expect(JSON.stringify((err as { toJSON(): unknown }).toJSON())).not.toContain(NATS_PASS);
      // Given a store of its own, it needs no JetStream.
      const s = await startServer({ meta: fx.bare, port: 0, cacheDir: tempDir(), environment: {}, nats: plain.url, liveness: new MemoryLiveness() });
      running.push(s);
      expect(s.nats).toBeDefined();
    } finally {
      for (const s of running.splice(0)) await s.close();
      await plain.stop();
    }
  });

  it("refuses a NATS URL that does not parse before cloning anything", async () => {
    const cacheDir = tempDir();
    await expect(startServer({ meta: fx.bare, port: 0, cacheDir, environment: {}, nats: `http://${NATS_USER}:${NATS_PASS}@127.0.0.1:1` })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.not.stringContaining(NATS_PASS),
    });
    expect(readdirSync(cacheDir)).toEqual([]);
  });
});
