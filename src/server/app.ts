import Fastify, { type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { isBootMetaError } from "../errors.js";
import { sendError } from "./http-errors.js";
import { type LivenessStore, MemoryLiveness } from "./liveness.js";
import type { IdentitySet } from "../sops/identities.js";
import { Metrics } from "./metrics.js";
import type { Mirror } from "./mirror.js";
import { Outbound, type OutboundOptions } from "./outbound.js";
import { FleetWriter } from "./writer.js";
import { dashboardRoutes } from "./dashboard/routes.js";
import { configRoutes } from "./routes/config.js";
import { eventRoutes } from "./routes/events.js";
import { fleetRoutes } from "./routes/fleet.js";
import { hookRoutes } from "./routes/hooks.js";
import { ofrepRoutes } from "./routes/ofrep.js";
import { opsRoutes } from "./routes/ops.js";
import { recordRoutes } from "./routes/records.js";

declare module "fastify" {
  interface FastifyInstance {
    /** The service's state, for the code that started it (serve.ts) and for tests. */
    bootMeta: RouteContext;
  }
}

/** What the routes are given: the app is `createApp(deps)`, tested in-process with `inject`. */
export interface ServerDeps {
  mirror: Mirror;
  /** A pino logger (default: silent). Never given a value from the repo: the server holds only ciphertext. */
  logger?: Logger;
  /** The secret inbound push webhooks are signed with; undefined turns them off (404). */
  webhookSecret?: string;
  /** Set when the app is closing: long-polls and streams end early. */
  closing?: AbortSignal;
  /** How long requests in flight may take to finish once the app closes (default 3 s). */
  shutdownGraceMs?: number;
  /** How the app asks for a fetch (default: `mirror.sync()`, failures logged). */
  sync?: (reason: string) => void;
  /** Outbound webhooks to the subscribers in subscriptions/ (outbound.ts); undefined: none are sent. */
  outbound?: OutboundOptions;
  /** What instances last reported (default: this replica's memory). The caller closes one it gives. */
  liveness?: LivenessStore;
  /** How often reported changes (instance state, events) are committed, in ms (default 5 s). */
  reportIntervalMs?: number;
  /** "Name <email>" of the service's commits (default: boot-meta serve <serve@boot-meta.invalid>). */
  author?: string;
  /**
   * The service's own identity (`serve --identity`; default: `outbound.identities`): it then
   * evaluates flags over OFREP for the envs the access rules let it read. Without one, OFREP is 501.
   */
  identities?: IdentitySet;
}

/** Everything a route plugin can use. */
export interface RouteContext extends Required<Pick<ServerDeps, "mirror">> {
  metrics: Metrics;
  webhookSecret: string | undefined;
  closing: AbortSignal;
  /** Starts a fetch of the meta repository now (a webhook said it moved); failures are logged. */
  sync(reason: string): void;
  /** The outbound webhooks, when the app was given `outbound`. */
  outbound: Outbound | undefined;
  liveness: LivenessStore;
  /** Commits reported changes in batches (writer.ts). */
  writer: FleetWriter;
  /** The service's own identity, when it has one: what OFREP opens flags with. */
  identities: IdentitySet | undefined;
}

/**
 * The config service as a fastify app: one plugin per resource (config, records, events, hooks, ops),
 * errors as `{ error: { code, message, … } }` with the status their code implies. The caller
 * owns the mirror (syncing it, closing it); `app.close()` ends streams and long-polls first.
 */
export function createApp(deps: ServerDeps): FastifyInstance {
  const shutdown = new AbortController();
  const closing = deps.closing ? AbortSignal.any([deps.closing, shutdown.signal]) : shutdown.signal;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // Project names are one percent-encoded segment; fastify decodes it once.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  const metrics = new Metrics(deps.mirror);
  const sync =
    deps.sync ??
    ((reason: string) => {
      deps.mirror.sync().then(
        () => metrics.syncs.inc({ outcome: "ok" }),
        (err: unknown) => {
          metrics.syncs.inc({ outcome: "failed" });
          app.log.warn({ reason, err: isBootMetaError(err) ? err.toJSON() : String(err) }, "fetching the meta repository failed; still serving the last commit");
        },
      );
    });
  const outbound = deps.outbound ? new Outbound(deps.mirror, metrics, app.log.child({ component: "outbound" }), deps.outbound).start() : undefined;
  const writer = new FleetWriter({
    mirror: deps.mirror,
    intervalMs: deps.reportIntervalMs ?? 5_000,
    author: deps.author ?? "boot-meta serve <serve@boot-meta.invalid>",
    log: app.log,
    sync: () => deps.mirror.sync(),
  });
  const ctx: RouteContext = { mirror: deps.mirror, metrics, webhookSecret: deps.webhookSecret, closing, sync, outbound, liveness: deps.liveness ?? new MemoryLiveness(), writer, identities: deps.identities ?? deps.outbound?.identities };
  app.decorate("bootMeta", ctx);
  app.addHook("onReady", async () => writer.start());
  app.addHook("preClose", async () => {
    shutdown.abort();
    // Streams and long-polls end now; requests in flight get a grace period to finish. Then
    // every connection is closed: a client's spare keep-alive connection that never sent a
    // request is not "idle" to Node 20, and would hold the close for the keep-alive timeout.
    setTimeout(() => app.server.closeAllConnections(), deps.shutdownGraceMs ?? 3_000).unref();
  });
  // Retries waiting are cancelled, attempts in flight aborted; what had not ended becomes a dead letter.
  app.addHook("onClose", async () => {
    await outbound?.close();
  });
  // After requests in flight are done: what they queued is written before the mirror closes.
  app.addHook("onClose", async () => writer.close());
  app.addHook("onResponse", async (req, reply) => {
    const route = req.routeOptions.url ?? "unmatched";
    ctx.metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    if (!reply.request.headers.accept?.includes("text/event-stream")) ctx.metrics.latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  app.setErrorHandler((err, _req, reply) => {
    const e = err as { statusCode?: number; validation?: unknown; code?: string };
    // fastify's own 4xx (a body that does not parse, a body too large): its message, our shape.
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
      return reply.code(e.statusCode).send({ error: { code: "SERVER_BAD_REQUEST", message: (err as Error).message, data: {}, suggestions: [] } });
    }
    return sendError(reply, err);
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: { code: "SERVER_BAD_REQUEST", message: `no route ${req.method} ${req.url.split("?")[0]}`, data: {}, suggestions: ["the API is under /v1 (README \"Config service\")"] } }),
  );
  opsRoutes(app, ctx);
  configRoutes(app, ctx);
  eventRoutes(app, ctx);
  hookRoutes(app, ctx);
  recordRoutes(app, ctx);
  fleetRoutes(app, ctx);
  ofrepRoutes(app, ctx);
  dashboardRoutes(app, ctx);
  return app;
}
