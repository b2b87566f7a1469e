import type { FastifyInstance } from "fastify";
import type { RouteContext } from "../app.js";

/** Liveness, readiness (the clone has synced once) and Prometheus metrics. */
export function opsRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get("/healthz", async () => ({ ok: true }));
  app.get("/readyz", async (_req, reply) => {
    const m = ctx.mirror;
    const untrusted = [...m.tainted].map(([path, t]) => ({ path, commit: t.commit, reason: t.reason, message: t.message }));
    const body = { ready: m.ready, commit: m.head ?? null, lastSync: m.lastSync === undefined ? null : new Date(m.lastSync).toISOString(), untrusted };
    return reply.code(m.ready ? 200 : 503).send(body);
  });
  app.get("/metrics", async (_req, reply) => reply.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics()));
}
