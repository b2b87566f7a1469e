import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigWarning } from "../../src/config/loader.js";
import { type ConfigUpdate, type WatchConfigOptions, type WatchedConfig, watchConfig } from "../../src/config/watch.js";
import type { RunningServer } from "../../src/server/serve.js";
import { type MetaFixture, metaFixture, proxy, SECRETS, serve, sseSubscribers } from "../helpers/config-server.js";
import { git, tempDir } from "../helpers/gitdir.js";

/**
 * watchConfig against a real `boot-meta serve` over a real repo: a commit reaches the watcher
 * through the event stream (or long-poll) once the service has synced it, and becomes one
 * `onUpdate` with the keys that changed; a change it cannot open is reported, never handed on.
 */
let meta: MetaFixture;
let server: RunningServer;

beforeAll(async () => {
  meta = await metaFixture();
  server = await serve(meta.work);
});

afterAll(async () => {
  const closing = server?.close();
  // undici opens a connection it sends nothing on when a stream is cancelled, and Node 20's
  // closeIdleConnections does not count such a one as idle: without this, the close waits for
  // fastify's 72 s keep-alive timeout.
  server?.app.server.closeAllConnections();
  await closing;
});

/** A watcher whose updates, errors and warnings are collected; `next()` waits for the next update. */
async function watch(o: WatchConfigOptions = {}) {
  const updates: ConfigUpdate[] = [];
  const errors: Error[] = [];
  const warnings: ConfigWarning[] = [];
  let waiting: ((u: ConfigUpdate) => void) | undefined;
  let errorWaiting: ((e: Error) => void) | undefined;
  const w: WatchedConfig = await watchConfig({
    server: server.url,
    project: "shop",
    env: "dev",
    identities: [meta.keys.alice.identity],
    cacheDir: tempDir(),
    environment: {},
    retry: { minMs: 50, maxMs: 500 },
    // A busy machine must not make the local service look unreachable.
    requestTimeoutMs: 120_000,
    onUpdate: (u) => {
      updates.push(u);
      waiting?.(u);
    },
    onError: (e) => {
      errors.push(e);
      errorWaiting?.(e);
    },
    onWarning: (x) => warnings.push(x),
    ...o,
  });
  const next = () => new Promise<ConfigUpdate>((resolve) => (waiting = resolve));
  const nextError = () => new Promise<Error>((resolve) => (errorWaiting = resolve));
  return { w, updates, errors, warnings, next, nextError };
}

/** Waits until the service counts `n` stream subscribers (the watcher is connected), without a clock. */
async function subscribers(n: number): Promise<void> {
  while ((await sseSubscribers(server)) !== n) await new Promise((r) => setImmediate(r));
}

const head = () => git(meta.work, "rev-parse", "HEAD");

describe("watchConfig({ server })", () => {
  it("returns the loaded config and calls onUpdate, with the changed keys and the commit, once a pushed commit is synced", async () => {
    const t = await watch();
    try {
      expect(t.w.config).toMatchObject({ database: { url: SECRETS.dev } });
      await subscribers(1);
      const got = t.next();
      await meta.set("dev", "database.url", "postgres://dev-db-2/shop");
      await server.mirror.sync();
      const u = await got;
      expect(u.changedKeys).toEqual(["database.url"]);
      expect(u.commit).toBe(head());
      expect(u.newConfig.config).toMatchObject({ database: { url: "postgres://dev-db-2/shop" } });
      expect(u.oldConfig.config).toMatchObject({ database: { url: SECRETS.dev } });
      expect(t.w.current().config).toEqual(u.newConfig.config);
      expect(t.errors).toEqual([]);
    } finally {
      await t.w.unwatch();
    }
  });

  it("does not call onUpdate for a commit that touches only another env", async () => {
    const t = await watch();
    try {
      await subscribers(1);
      const got = t.next();
      await meta.set("stage", "database.url", "postgres://stage-db-2/shop");
      await server.mirror.sync();
      await meta.set("dev", "feature.x", true);
      await server.mirror.sync();
      const u = await got;
      expect(u.changedKeys).toEqual(["feature.x"]);
      expect(t.updates).toHaveLength(1);
    } finally {
      await t.w.unwatch();
    }
  });

  it("catches up, through Last-Event-ID, on a commit that landed before its stream was open", async () => {
    const t = await watch();
    try {
      const got = t.next();
      await meta.set("dev", "caught.up", "yes");
      await server.mirror.sync();
      expect((await got).changedKeys).toEqual(["caught.up"]);
    } finally {
      await t.w.unwatch();
    }
  });

  it("never hands on a layer it cannot verify: a ciphertext copied from another path is reported and the old config kept", async () => {
    const t = await watch();
    try {
      await subscribers(1);
      const before = t.w.current();
      const failed = t.nextError();
      // A hostile writer: the defaults file (genuine, its MAC fine) committed as dev's config.
      copyFileSync(join(meta.work, "shop/config.sops.yaml"), join(meta.work, "shop/envs/dev/config.sops.yaml"));
      git(meta.work, "commit", "-qam", "copy the defaults over dev");
      await server.mirror.sync();
      expect(await failed).toMatchObject({ code: "META_BINDING_MISMATCH" });
      expect(t.updates).toEqual([]);
      expect(t.w.current()).toBe(before);
      // Put right again: the next change is taken.
      const got = t.next();
      git(meta.work, "revert", "--no-edit", "HEAD");
      await meta.set("dev", "after.revert", 1n);
      await server.mirror.sync();
      expect((await got).changedKeys).toContain("after.revert");
    } finally {
      await t.w.unwatch();
    }
  });

  it("long-polls with If-None-Match when asked to, or when the service has no event stream", async () => {
    const noStream = await proxy(server.url, (path) => path.startsWith("/v1/events"));
    try {
      for (const o of [{ transport: "longpoll" as const }, { server: noStream.url }]) {
        const t = await watch({ ...o, longPollSeconds: 5 });
        try {
          const got = t.next();
          const key = `poll.${o.transport ?? "auto"}`;
          await meta.set("dev", key, "yes");
          await server.mirror.sync();
          expect((await got).changedKeys).toEqual([key]);
          expect(await sseSubscribers(server)).toBe(0);
        } finally {
          await t.w.unwatch();
        }
      }
    } finally {
      await noStream.close();
    }
  });

  it("refuses times that cannot work before it loads anything", async () => {
    await expect(watch({ longPollSeconds: 600 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: "watchConfig's longPollSeconds 600 must be a whole number of seconds from 1 to 290" });
    await expect(watch({ pollIntervalMs: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("pollIntervalMs 0") });
  });

  it("unwatch closes the stream: the service's subscriber goes away and the watcher calls nothing more", async () => {
    const t = await watch();
    await subscribers(1);
    await t.w.unwatch();
    await subscribers(0);
    await meta.set("dev", "after.unwatch", 1n);
    await server.mirror.sync();
    expect(t.updates).toEqual([]);
    expect(t.errors).toEqual([]);
  });

  it("reconnects after the service restarts, warning once, and takes what changed meanwhile", async () => {
    const own = await serve(meta.work);
    const port = new URL(own.url).port;
    const t = await watch({ server: own.url });
    let again: RunningServer | undefined;
    try {
      while ((await sseSubscribers(own)) !== 1) await new Promise((r) => setImmediate(r));
      await own.close();
      await meta.set("dev", "while.down", "changed");
      const got = t.next();
      again = await (await import("../../src/server/serve.js")).startServer({ meta: meta.work, host: "127.0.0.1", port: Number(port), cacheDir: tempDir(), environment: { PATH: process.env.PATH, HOME: tempDir() } });
      expect((await got).changedKeys).toEqual(["while.down"]);
      expect(t.warnings.filter((w) => w.code === "CONFIG_WATCH_RETRYING").length).toBeLessThanOrEqual(1);
      expect(t.errors).toEqual([]);
    } finally {
      await t.w.unwatch();
      await again?.close();
    }
  });
});

describe("watchConfig({ repo })", () => {
  it("reads the local repo's HEAD every interval and calls onUpdate when a value changed", async () => {
    const t = await watch({ server: undefined, repo: meta.work, pollIntervalMs: 20 });
    try {
      const got = t.next();
      await meta.set("stage", "ignored", 1n);
      await meta.set("dev", "local.poll", 1n);
      const u = await got;
      expect(u).toMatchObject({ changedKeys: ["local.poll"], commit: head() });
      expect(t.updates).toHaveLength(1);
    } finally {
      await t.w.unwatch();
    }
  });

  it("fetches a git URL every interval and calls onUpdate when a pushed commit changed a value", async () => {
    const bare = join(tempDir(), "meta.git");
    git(tempDir(), "clone", "-q", "--bare", meta.work, bare);
    const t = await watch({ server: undefined, repo: `file://${bare}`, pollIntervalMs: 20 });
    try {
      const got = t.next();
      await meta.set("dev", "url.poll", 1n);
      git(meta.work, "push", "-q", bare, "main");
      expect(await got).toMatchObject({ changedKeys: ["url.poll"], commit: head() });
    } finally {
      await t.w.unwatch();
    }
  });
});
