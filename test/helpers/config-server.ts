import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setConfigValue } from "../../src/config/edit.js";
import { addKey, createEnv, createProject, initRepo } from "../../src/meta/repo.js";
import { type RunningServer, startServer } from "../../src/server/serve.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { type IdentitySet, identitySetFrom } from "../../src/sops/identities.js";
import type { Value } from "../../src/sops/tree.js";
import { tempDir } from "./gitdir.js";

/** Values from the repo that must never appear in what the service sends or the client keeps. */
export const SECRETS = { dev: "postgres://dev-db/shop-devpass-3141", prod: "prod-password-do-not-leak-2718", defaults: "shop-default-name-1618" };

export interface MetaFixture {
  /** The meta repo (a work tree with main checked out). */
  work: string;
  keys: Record<"admin" | "alice" | "prodServer", { identity: string; recipient: string }>;
  adminIds: IdentitySet;
  /** Sets a value in an env (or the defaults, env undefined) and commits, as admin. */
  set(env: string | undefined, key: string, value: Value): Promise<void>;
}

/**
 * A real meta repo: admin (admins), alice (developers) and a prod server (prod-servers);
 * project shop with dev, stage and prod, each holding a value, under the default access rules
 * (alice reads the defaults and dev, not prod).
 */
export async function metaFixture(): Promise<MetaFixture> {
  const work = join(tempDir(), "meta");
  const keys = { admin: await generateAgeKey(), alice: await generateAgeKey(), prodServer: await generateAgeKey() };
  await initRepo(work);
  const adminIds = await identitySetFrom([keys.admin.identity]);
  await addKey(work, "admin", [keys.admin.recipient], { group: "admins", identities: adminIds });
  await addKey(work, "alice", [keys.alice.recipient], { group: "developers", identities: adminIds });
  await addKey(work, "prod-server", [keys.prodServer.recipient], { group: "prod-servers", identities: adminIds });
  await createProject(work, "shop");
  for (const env of ["dev", "stage", "prod"]) await createEnv(work, "shop", env);
  const set = async (env: string | undefined, key: string, value: Value) => {
    await setConfigValue(work, { project: "shop", env }, key, value, { identities: adminIds });
  };
  await set(undefined, "app.name", SECRETS.defaults);
  await set("dev", "database.url", SECRETS.dev);
  await set("stage", "database.url", "postgres://stage-db/shop");
  await set("prod", "database.password", SECRETS.prod);
  return { work, keys, adminIds, set };
}

/** `boot-meta serve` over the fixture's repo, on 127.0.0.1 and a free port, its clone in a temp dir. */
export function serve(meta: string): Promise<RunningServer> {
  return startServer({ meta, host: "127.0.0.1", port: 0, cacheDir: tempDir(), environment: { PATH: process.env.PATH, HOME: tempDir() } });
}

/** A plain HTTP server for answers no boot-meta service gives (a proxy, a hostile or broken service). */
export async function httpServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A reverse proxy to `target` that answers 404 where `hidden` says (a service or proxy without the event stream). */
export function proxy(target: string, hidden: (path: string) => boolean): ReturnType<typeof httpServer> {
  return httpServer((req, res) => {
    if (hidden(req.url ?? "")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not here");
      return;
    }
    const up = request(new URL(req.url ?? "/", target), { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", () => res.writeHead(502).end());
    req.pipe(up);
  });
}

/** The service's count of config answers with this status (its own metrics). */
export async function configAnswers(server: RunningServer, status: number): Promise<number> {
  const m = await server.app.bootMeta.metrics.requests.get();
  return m.values.filter((v) => v.labels.route === "/v1/projects/:project/config" && v.labels.status === String(status)).reduce((n, v) => n + v.value, 0);
}

/** Subscribers of the service's event stream now. */
export async function sseSubscribers(server: RunningServer): Promise<number> {
  const m = await server.app.bootMeta.metrics.subscribers.get();
  return m.values.find((v) => v.labels.stream === "sse")?.value ?? 0;
}
