import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ConfigWarning, loadConfig } from "../../src/config/loader.js";
import { cacheFileFor } from "../../src/config/server-cache.js";
import type { LoadConfigOptions } from "../../src/config/types.js";
import type { RunningServer } from "../../src/server/serve.js";
import { configAnswers, httpServer, type MetaFixture, metaFixture, SECRETS, serve } from "../helpers/config-server.js";
import { git, tempDir } from "../helpers/gitdir.js";

/**
 * loadConfig from the config service (`server`, BOOT_META_SERVER), against a real `boot-meta
 * serve` on 127.0.0.1 over a real repo: the layers come as ciphertext and open here with the
 * reader's key; the last verified answer is kept on disk and served, said to be stale, when the
 * service cannot be reached; a copy on disk that does not verify is never used.
 */
let meta: MetaFixture;
let server: RunningServer;

beforeAll(async () => {
  meta = await metaFixture();
  server = await serve(meta.work);
});

afterAll(async () => {
  await server?.close();
});

/** As alice, by default; a busy machine must not make the local service look unreachable. */
function load(o: LoadConfigOptions & { warnings?: ConfigWarning[]; who?: "alice" | "admin" | "prodServer" } = {}) {
  const { warnings, who, ...rest } = o;
  return loadConfig({ server: server.url, project: "shop", env: "dev", identities: [meta.keys[who ?? "alice"].identity], environment: {}, requestTimeoutMs: 120_000, onWarning: (w) => warnings?.push(w), ...rest });
}

const cacheFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")) : []);
const onlyCache = (dir: string) => {
  const files = cacheFiles(dir);
  expect(files).toHaveLength(1);
  return join(dir, files[0] as string);
};

/** A server that is listening nowhere any more: the one we start and stop. */
async function stoppedServer(): Promise<{ url: string; running: RunningServer }> {
  const running = await serve(meta.work);
  return { url: running.url, running };
}

describe("loadConfig({ server })", () => {
  it("loads and decrypts the layers with the reader's own key, at the served commit, and keeps the ciphertext (0600)", async () => {
    const cacheDir = tempDir();
    const c = await load({ cacheDir });
    expect(c.config).toEqual({ app: { name: SECRETS.defaults }, database: { url: SECRETS.dev } });
    expect(c).toMatchObject({ commit: git(meta.work, "rev-parse", "HEAD"), stale: false, server: server.url, project: "shop", env: "dev" });
    expect(c.layers).toEqual([
      { name: "defaults", path: "shop/config.sops.yaml", found: true },
      { name: "env", path: "shop/envs/dev/config.sops.yaml", found: true },
    ]);
    expect(c.origins).toEqual({ "app.name": "defaults", "database.url": "env" });
    const file = onlyCache(cacheDir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const kept = readFileSync(file, "utf8");
    expect(kept).toContain("ENC[AES256_GCM,");
    for (const s of Object.values(SECRETS)) expect(kept).not.toContain(s);
  });

  it("reads BOOT_META_SERVER; refuses a server beside a repo at the same level, a URL that is not http(s), and `at`", async () => {
    const cacheDir = tempDir();
    const c = await loadConfig({ project: "shop", env: "dev", identities: [meta.keys.alice.identity], cacheDir, environment: { BOOT_META_SERVER: server.url } });
    expect(c.server).toBe(server.url);
    await expect(load({ repo: meta.work, cacheDir })).rejects.toMatchObject({ code: "CONFIG_AMBIGUOUS_SOURCE", exitCode: 2 });
    await expect(loadConfig({ project: "shop", env: "dev", identities: [meta.keys.alice.identity], environment: { BOOT_META_SERVER: server.url, BOOT_META_REPO: meta.work } })).rejects.toMatchObject({
      code: "CONFIG_AMBIGUOUS_SOURCE",
      message: expect.stringContaining("BOOT_META_SERVER and BOOT_META_REPO"),
    });
    // An option wins over the other's variable.
    expect((await loadConfig({ repo: meta.work, project: "shop", env: "dev", identities: [meta.keys.alice.identity], environment: { BOOT_META_SERVER: server.url } })).server).toBeUndefined();
    await expect(load({ server: "ftp://config.invalid", cacheDir })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("not http or https") });
    await expect(load({ server: "http://user:pw@127.0.0.1:1", cacheDir })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.not.stringContaining("pw") });
    await expect(load({ at: "HEAD~1", cacheDir })).rejects.toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringContaining("the at option") });
  });

  it("asks with If-None-Match and, on a 304, serves the copy it holds", async () => {
    const cacheDir = tempDir();
    const first = await load({ cacheDir });
    const before = await configAnswers(server, 304);
    const again = await load({ cacheDir });
    expect(await configAnswers(server, 304)).toBe(before + 1);
    expect(again.config).toEqual(first.config);
    expect(again.stale).toBe(false);
  });

  it("says the service's own error for an env it has no config for", async () => {
    await expect(load({ env: "nope", cacheDir: tempDir() })).rejects.toMatchObject({ code: "CONFIG_NOT_FOUND", message: expect.stringContaining(`the config server ${server.url} answered 404`) });
  });

  it("starts from the cached copy, stale and with a warning naming its commit, when the service is stopped", async () => {
    const cacheDir = tempDir();
    const down = await stoppedServer();
    const first = await load({ server: down.url, cacheDir });
    await down.running.close();
    const warnings: ConfigWarning[] = [];
    const c = await load({ server: down.url, cacheDir, warnings });
    expect(c).toMatchObject({ config: first.config, commit: first.commit, stale: true });
    expect(warnings).toEqual([
      { code: "CONFIG_STALE", message: expect.stringMatching(new RegExp(`^cannot reach the config server ${down.url}: ECONNREFUSED; serving the last verified copy \\(commit ${first.commit.slice(0, 12)}\\)`)) },
    ]);
  });

  it("starts from the cached copy when the service answers 5xx", async () => {
    const cacheDir = tempDir();
    const sick = await httpServer((_req, res) => res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "SERVER_NOT_READY", message: "not synced yet" } })));
    try {
      await expect(load({ server: sick.url, cacheDir })).rejects.toMatchObject({ code: "CONFIG_SERVER_UNAVAILABLE", message: expect.stringContaining("it answered 503 SERVER_NOT_READY") });
      expect(cacheFiles(cacheDir)).toEqual([]);
      // A copy verified from the real service, kept where the sick one's would be.
      const good = tempDir();
      await load({ cacheDir: good });
      const target = cacheFileFor({ cacheDir, environment: {} }, `${sick.url}/`, "shop", "dev");
      writeFileSync(target, readFileSync(onlyCache(good)));
      const warnings: ConfigWarning[] = [];
      const c = await load({ server: sick.url, cacheDir, warnings });
      expect(c.stale).toBe(true);
      expect(warnings[0]?.message).toContain("it answered 503 SERVER_NOT_READY");
    } finally {
      await sick.close();
    }
  });

  it("fails with CONFIG_SERVER_UNAVAILABLE, saying nothing is cached, when the service is stopped and nothing was kept", async () => {
    const cacheDir = tempDir();
    const down = await stoppedServer();
    await down.running.close();
    const e = await load({ server: down.url, cacheDir }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "CONFIG_SERVER_UNAVAILABLE", exitCode: 1, message: expect.stringMatching(/^cannot reach the config server .*: ECONNREFUSED, and nothing verified from it is cached for shop dev/) });
    expect(cacheFiles(cacheDir)).toEqual([]);
  });

  it("never uses a cached copy that fails its MAC, or one whose layer is bound to another path", async () => {
    const down = await stoppedServer();
    const good = tempDir();
    await load({ server: down.url, cacheDir: good });
    const goodFile = onlyCache(good);
    const answer = JSON.parse(readFileSync(goodFile, "utf8")) as { layers: [{ content: string }, { content: string }] };
    const [defaults, dev] = answer.layers;
    // A MAC that no longer matches: the binding (in the clear, under the MAC) rewritten.
    const macBroken = structuredClone(answer);
    (macBroken.layers[1] as { content: string }).content = dev.content.replace("shop/envs/dev/config.sops.yaml", "shop/envs/dex/config.sops.yaml");
    // A genuine file (its MAC fine) put where it was not written for: the defaults in dev's place.
    const moved = structuredClone(answer);
    (moved.layers[1] as { content: string }).content = defaults.content;
    await down.running.close();
    for (const [tampered, code] of [
      [macBroken, "SOPS_MAC_MISMATCH"],
      [moved, "META_BINDING_MISMATCH"],
    ] as const) {
      writeFileSync(goodFile, JSON.stringify(tampered));
      const warnings: ConfigWarning[] = [];
      const e = await load({ server: down.url, cacheDir: good, warnings }).catch((x: unknown) => x);
      expect(e, code).toMatchObject({ code: "CONFIG_SERVER_UNAVAILABLE", message: expect.stringContaining(`could not be used: ${code}`) });
      expect(warnings.map((w) => w.code)).toEqual(["CONFIG_CACHE_REFUSED"]);
    }
  });

  it("does not let a tampered copy be confirmed by a 304: it asks with its own bytes' ETag, gets the real layers and keeps them", async () => {
    const cacheDir = tempDir();
    await load({ cacheDir });
    const file = onlyCache(cacheDir);
    const answer = JSON.parse(readFileSync(file, "utf8")) as { etag: string; layers: { content?: string }[] };
    const real = answer.layers[1]?.content as string;
    (answer.layers[1] as { content: string }).content = answer.layers[0]?.content as string;
    writeFileSync(file, JSON.stringify(answer));
    const before = await configAnswers(server, 304);
    const c = await load({ cacheDir });
    expect(await configAnswers(server, 304)).toBe(before);
    expect(c.config).toEqual({ app: { name: SECRETS.defaults }, database: { url: SECRETS.dev } });
    expect((JSON.parse(readFileSync(file, "utf8")) as { layers: { content?: string }[] }).layers[1]?.content).toBe(real);
  });

  it("refuses a layer that a service sends in another layer's place (bound to another path)", async () => {
    const real = await fetch(`${server.url}/v1/projects/shop/config?env=dev`).then((r) => r.json() as Promise<{ layers: { content?: string }[] }>);
    (real.layers[1] as { content: string }).content = real.layers[0]?.content as string;
    const hostile = await httpServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(real)));
    try {
      const cacheDir = tempDir();
      await expect(load({ server: hostile.url, cacheDir })).rejects.toMatchObject({ code: "META_BINDING_MISMATCH", message: expect.stringContaining("shop/envs/dev/config.sops.yaml was written for shop/config.sops.yaml") });
      expect(cacheFiles(cacheDir)).toEqual([]);
    } finally {
      await hostile.close();
    }
  });

  it("refuses answers the API does not allow: not JSON, another env, layers at other paths", async () => {
    const real = await fetch(`${server.url}/v1/projects/shop/config?env=dev`).then((r) => r.json() as Promise<Record<string, unknown> & { layers: { path: string }[] }>);
    const wrongPath = structuredClone(real);
    (wrongPath.layers[1] as { path: string }).path = "shop/envs/prod/config.sops.yaml";
    const cases: [string, string][] = [
      ["<html>hello</html>", "not JSON"],
      [JSON.stringify({ ...real, env: "prod" }), "another project or env"],
      [JSON.stringify(wrongPath), "layer 2 is not shop/envs/dev/config.sops.yaml"],
    ];
    for (const [body, why] of cases) {
      const bad = await httpServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(body));
      try {
        await expect(load({ server: bad.url, cacheDir: tempDir() }), why).rejects.toMatchObject({ code: "CONFIG_SERVER_BAD_RESPONSE", message: expect.stringContaining(why) });
      } finally {
        await bad.close();
      }
    }
  });

  it("refuses a reader whose key does not open prod, naming the keys it is encrypted to; the service sent no plaintext", async () => {
    const cacheDir = tempDir();
    const e = await load({ env: "prod", cacheDir }).catch((x: unknown) => x);
    expect(e).toMatchObject({
      code: "CONFIG_ACCESS_DENIED",
      exitCode: 128,
      message: expect.stringContaining(`cannot decrypt shop/envs/prod/config.sops.yaml: it is encrypted to the keys`),
      data: { path: "shop/envs/prod/config.sops.yaml", recipients: expect.arrayContaining([meta.keys.admin.recipient, meta.keys.prodServer.recipient]), you: [meta.keys.alice.recipient], principalsKnown: false },
    });
    expect((e as Error).message).toContain("which principals hold those keys is not known here");
    expect(cacheFiles(cacheDir)).toEqual([]);
    // What the service sent for prod: ciphertext only.
    const body = await fetch(`${server.url}/v1/projects/shop/config?env=prod`).then((r) => r.text());
    expect(body).toContain("ENC[AES256_GCM,");
    for (const s of Object.values(SECRETS)) expect(body).not.toContain(s);
    // The prod server opens it.
    expect((await load({ env: "prod", who: "prodServer", cacheDir })).config).toMatchObject({ database: { password: SECRETS.prod } });
  });
});
