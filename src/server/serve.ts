import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { BootMetaError, ExitCode } from "../errors.js";
import { createApp } from "./app.js";
import { Mirror } from "./mirror.js";

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
  /** How often reported changes are committed (ms; default 5 s). */
  reportIntervalMs?: number;
  /** "Name <email>" of the service's commits. */
  author?: string;
}

export interface RunningServer {
  app: FastifyInstance;
  mirror: Mirror;
  /** `http://host:port`, the address it listens on. */
  url: string;
  /** Stops taking requests, ends streams and long-polls, waits for requests in flight, closes the clone. */
  close(): Promise<void>;
}

/**
 * Starts the config service: syncs its own clone of the meta repo (failing when it cannot
 * reach the remote and has nothing cached), listens, and fetches on webhooks and every
 * `pollMs` (with up to 10% jitter, so replicas do not fetch in step).
 */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const mirror = new Mirror({ source: o.meta, cacheDir: o.cacheDir, ref: o.ref, environment: o.environment, onWarning: (w) => o.logger?.warn({ code: w.code }, w.message) });
  await mirror.sync();
  const app = createApp({ mirror, logger: o.logger, webhookSecret: o.webhookSecret, reportIntervalMs: o.reportIntervalMs, author: o.author });
  try {
    await app.listen({ host: o.host ?? "127.0.0.1", port: o.port ?? 8080 });
  } catch (e) {
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
  return {
    app,
    mirror,
    url: `http://${host}:${addr.port}`,
    async close() {
      clearTimeout(timer);
      await app.close();
      await mirror.close();
    },
  };
}
