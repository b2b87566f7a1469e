import { execFile } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/serve.js";
import { ensureBuilt } from "../helpers/build.js";
import { type MetaFixture, metaFixture, serve } from "../helpers/config-server.js";
import { tempDir } from "../helpers/gitdir.js";

/**
 * A process that watched its config and called unwatch() ends by itself: no timer, stream or
 * socket of the watcher keeps it alive. Run as a user's service would: the built package,
 * imported by name, in a process of its own.
 */
const ROOT = join(import.meta.dirname, "../..");
let meta: MetaFixture;
let server: RunningServer;

beforeAll(async () => {
  ensureBuilt();
  meta = await metaFixture();
  server = await serve(meta.work);
});

afterAll(async () => {
  const closing = server?.close();
  // See watch.test.ts: a connection undici never sent a request on is not idle to Node 20.
  server?.app.server.closeAllConnections();
  await closing;
});

/** The child: watch, wait until the service counts it as a follower (`gauge`), unwatch, and fall off the end. */
const CHILD = `
const { watchConfig } = await import("boot-meta");
const o = JSON.parse(process.env.T_OPTIONS);
const w = await watchConfig({ ...o, environment: {}, onUpdate() {}, onError(e) { console.error(e.message); } });
if (process.env.T_GAUGE) {
  for (;;) {
    const m = await (await fetch(process.env.T_METRICS)).text();
    if (m.includes(process.env.T_GAUGE)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
}
await w.unwatch();
// Timers that keep the process alive (an unref'd one is not listed).
console.log(JSON.stringify({ unwatched: true, timers: process.getActiveResourcesInfo().filter((r) => r === "Timeout").length }));
`;

/** A child still running after 100 s is killed: a watcher that keeps its process alive fails here. */
function runChild(options: Record<string, unknown>, gauge: string | undefined): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { PATH: process.env.PATH, HOME: tempDir(), T_OPTIONS: JSON.stringify(options), T_METRICS: `${server.url}/metrics`, T_GAUGE: gauge ?? "" };
    const child = execFile(process.execPath, ["--input-type=module", "-e", CHILD], { cwd: ROOT, env, timeout: 100_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }));
    child.stdin?.end();
  });
}

describe("unwatch() lets the process exit", () => {
  const base = () => ({ project: "shop", env: "dev", identities: [meta.keys.alice.identity], cacheDir: tempDir() });

  it("following the event stream", async () => {
    const r = await runChild({ ...base(), server: server.url }, 'bootmeta_subscribers{stream="sse"} 1');
    expect(r).toMatchObject({ code: 0, stdout: `${JSON.stringify({ unwatched: true, timers: 0 })}\n`, stderr: "" });
  }, 120_000);

  it("long-polling", async () => {
    const r = await runChild({ ...base(), server: server.url, transport: "longpoll" }, 'bootmeta_subscribers{stream="longpoll"} 1');
    expect(r).toMatchObject({ code: 0, stdout: `${JSON.stringify({ unwatched: true, timers: 0 })}\n`, stderr: "" });
  }, 120_000);

  it("polling a local repo", async () => {
    const r = await runChild({ ...base(), repo: meta.work, pollIntervalMs: 600_000 }, undefined);
    expect(r).toMatchObject({ code: 0, stdout: `${JSON.stringify({ unwatched: true, timers: 0 })}\n`, stderr: "" });
  }, 120_000);
});
