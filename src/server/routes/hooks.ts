import { createHmac, timingSafeEqual, createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BootMetaError, ExitCode } from "../../errors.js";
import type { RouteContext } from "../app.js";
import { sendError } from "../http-errors.js";

type Provider = "github" | "gitea" | "gitlab";

/** The largest push payload accepted (GitHub caps its own at 25 MB; pushes are far smaller). */
const BODY_LIMIT = 5 * 1024 * 1024;

/** Equal in constant time whatever the lengths: both sides are hashed to 32 bytes first. */
function sameSecret(a: string | Buffer, b: string | Buffer): boolean {
  const h = (x: string | Buffer) => createHash("sha256").update(x).digest();
  return timingSafeEqual(h(a), h(b));
}

const header = (req: FastifyRequest, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** Whether the request carries the provider's proof that it knows the secret. */
function verified(provider: Provider, req: FastifyRequest, body: Buffer, secret: string): boolean {
  const hmac = () => createHmac("sha256", secret).update(body).digest("hex");
  switch (provider) {
    case "github": {
      const sig = header(req, "x-hub-signature-256");
      return sig !== undefined && sameSecret(sig, `sha256=${hmac()}`);
    }
    case "gitea": {
      const sig = header(req, "x-gitea-signature");
      return sig !== undefined && sameSecret(sig.toLowerCase(), hmac());
    }
    case "gitlab": {
      const token = header(req, "x-gitlab-token");
      return token !== undefined && sameSecret(token, secret);
    }
  }
}

/** The provider's event name, and whether it is a push (the only event that moves a branch). */
function eventOf(provider: Provider, req: FastifyRequest): { name: string; push: boolean } {
  const name = header(req, provider === "github" ? "x-github-event" : provider === "gitea" ? "x-gitea-event" : "x-gitlab-event") ?? "";
  return { name, push: provider === "gitlab" ? name === "Push Hook" || name === "Tag Push Hook" : name === "push" };
}

/**
 * `POST /v1/hooks/github|gitea|gitlab`: a git host says a branch moved. The request must prove
 * it knows the webhook secret (GitHub's and Gitea's HMAC-SHA256 of the body, GitLab's token),
 * checked in constant time; otherwise 401 and nothing is fetched. A verified push starts a
 * fetch (202); the change then reaches followers through the stream. The payload is never
 * trusted for what it says moved: the fetch asks the remote.
 */
export function hookRoutes(app: FastifyInstance, ctx: RouteContext): void {
  void app.register(async (hooks) => {
    // The signature is over the exact bytes sent: keep them as they came.
    hooks.removeAllContentTypeParsers();
    hooks.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
    for (const provider of ["github", "gitea", "gitlab"] as const) {
      hooks.post(`/v1/hooks/${provider}`, async (req: FastifyRequest, reply: FastifyReply) => {
        try {
          const secret = ctx.webhookSecret;
          if (secret === undefined) {
            throw new BootMetaError("SERVER_WEBHOOKS_DISABLED", "inbound webhooks are off on this service: it was started without a webhook secret", ExitCode.General, {
              suggestions: ["start `boot-meta serve` with BOOT_META_WEBHOOK_SECRET or --webhook-secret-file FILE"],
            });
          }
          const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
          if (!verified(provider, req, body, secret)) {
            ctx.metrics.inboundHooks.inc({ provider, outcome: "unauthorized" });
            throw new BootMetaError("SERVER_UNAUTHORIZED", `the ${provider} webhook's signature does not match this service's webhook secret`, ExitCode.General, {
              data: { provider },
              suggestions: ["set the same secret on the git host's webhook and on the service"],
            });
          }
          const event = eventOf(provider, req);
          if (!event.push) {
            ctx.metrics.inboundHooks.inc({ provider, outcome: "ignored" });
            return reply.code(200).send({ accepted: false, event: event.name, reason: "not a push event" });
          }
          ctx.metrics.inboundHooks.inc({ provider, outcome: "accepted" });
          ctx.sync(`${provider} webhook`);
          return reply.code(202).send({ accepted: true, event: event.name });
        } catch (e) {
          return sendError(reply, e);
        }
      });
    }
  });
}
