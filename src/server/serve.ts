import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { BootMetaError, ExitCode } from "../errors.js";
import { createApp } from "./app.js";
import { type LivenessStore, MemoryLiveness } from "./liveness.js";
import { Mirror } from "./mirror.js";
import { KvLiveness } from "./nats-liveness.js";
import { NatsLink, parseNatsUrl } from "./nats.js";

export interface ServeOptions {
  /** The meta repo: a local path or a git URL. */
  meta: string;
  host?: string;
  /** 0 picks a free port (the URL says which). */
  port?: number;
  /** Where the service's clone lives. */
  cacheDir?: string;
  /** The branch or tag to serve (default: the remote's default branch). */
  ref?: string;
  webhookSecret?: string;
  /** Fetch this often (ms) whatever webhooks say; undefined: only at start and on webhooks. */
  pollMs?: number;
  logger?: Logger;
  environment?: NodeJS.ProcessEnv;
  /**
   * A NATS URL (`nats://[user:pass@]host:port`, comma-separated for a cluster): changes are
   * published there, replicas stay in step through it, and liveness is kept in its JetStream.
   */
  nats?: string;
  /** Where instance reports are kept (default: the NATS bucket with `nats`, else this replica's memory). Closed with the server. */
  liveness?: LivenessStore;
}

export interface RunningServer {
  app: FastifyInstance;
  mirror: Mirror;
  liveness: LivenessStore;
  /** The NATS connection, with `nats`. */
  nats: NatsLink | undefined;
  /** `http://host:port`, the address it listens on. */
  url: string;
  /** Stops taking requests, ends streams and long-polls, waits for requests in flight, closes the clone. */
  close(): Promise<void>;
}

/**
 * Starts the config service: syncs its own clone of the meta repo (failing when it cannot
 * reach the remote and has nothing cached), listens, and fetches on webhooks and every
 * `pollMs` (with up to 10% jitter, so replicas do not fetch in step). With `nats` it connects
 * first (failing when NATS or its JetStream cannot be reached), publishes every change, and
 * fetches when another replica announces a commit it does not have (nats.ts).
 */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  // A NATS URL that does not parse is refused before anything is cloned.
  if (o.nats !== undefined) parseNatsUrl(o.nats);
  const mirror = new Mirror({ source: o.meta, cacheDir: o.cacheDir, ref: o.ref, environment: o.environment, onWarning: (w) => o.logger?.warn({ code: w.code }, w.message) });
  await mirror.sync();
  let nats: NatsLink | undefined;
  let liveness = o.liveness;
  try {
    if (o.nats !== undefined) {
      nats = await NatsLink.connect(o.nats, { logger: o.logger });
      liveness ??= await KvLiveness.open(nats.nc);
    }
  } catch (e) {
    await nats?.close();
    await mirror.close();
    throw e;
  }
  liveness ??= new MemoryLiveness();
  const app = createApp({ mirror, logger: o.logger, webhookSecret: o.webhookSecret, liveness });
  try {
    await app.listen({ host: o.host ?? "127.0.0.1", port: o.port ?? 8080 });
  } catch (e) {
    await liveness.close();
    await nats?.close();
    await mirror.close();
    const err = e as NodeJS.ErrnoException;
    throw new BootMetaError("SERVER_LISTEN_FAILED", `cannot listen on ${o.host ?? "127.0.0.1"}:${o.port ?? 8080}: ${err.code ?? err.message}`, ExitCode.General, {
      suggestions: [err.code === "EADDRINUSE" ? "another process listens there: pick another --listen port" : "check the --listen address"],
    });
  }
  const addr = app.server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (o.pollMs === undefined) return;
    timer = setTimeout(
      () => {
        app.bootMeta.sync("poll");
        schedule();
      },
      o.pollMs * (0.9 + Math.random() * 0.2),
    );
    timer.unref();
  };
  schedule();
  // Another replica's announcement fetches here as a webhook would.
  nats?.follow(mirror, (reason) => app.bootMeta.sync(reason));
  const store = liveness;
  return {
    app,
    mirror,
    liveness: store,
    nats,
    url: `http://${host}:${addr.port}`,
    async close() {
      clearTimeout(timer);
      await app.close();
      // The mirror first: a sync in flight publishes its changes before NATS is drained.
      await mirror.close();
      await store.close();
      await nats?.close();
    },
  };
}
