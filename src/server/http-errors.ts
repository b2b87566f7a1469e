import type { FastifyReply } from "fastify";
import { BootMetaError, ExitCode, internalError, isBootMetaError } from "../errors.js";

/**
 * The HTTP status of an error: the code says what kind of failure it is. Everything the
 * service does not expect is a 500 whose body says only that (the cause goes to the log).
 */
export function statusOf(e: BootMetaError): number {
  if (e.code === "SERVER_UNAUTHORIZED") return 401;
  if (e.code === "SERVER_FORBIDDEN" || e.code === "SERVER_NOT_A_READER") return 403;
  // OFREP is a feature this service has only when started with an identity of its own.
  if (e.code === "SERVER_NO_IDENTITY") return 501;
  if (e.code === "SERVER_NOT_READY" || e.code === "META_REMOTE_UNAVAILABLE" || e.code === "SERVER_READ_ONLY") return 503;
  if (e.code === "SERVER_WEBHOOKS_DISABLED" || e.code.endsWith("_NOT_FOUND") || e.code === "META_UNKNOWN_REVISION" || e.code === "META_NO_PROJECT") return 404;
  if (e.code === "SERVER_NOT_ACCEPTABLE") return 406;
  // The resource is there but cannot be given as asked (a download of a sealed binary).
  if (e.code === "BINARY_SEALED" || e.code === "BINARY_NOT_DOWNLOADABLE") return 409;
  if (e.code === "INTERNAL") return 500;
  if (e.exitCode === ExitCode.InvalidArgument) return 400;
  return 500;
}

/** Sends a BootMetaError as `{ error: { code, message, data, suggestions } }` (the CLI's `--json` shape). */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = isBootMetaError(err) ? err : internalError(err);
  const status = statusOf(e);
  // A 401 says how to authenticate (RFC 9110 §11.6.1); auth.ts puts the Bearer challenge on its errors.
  const challenge = (e as { challenge?: unknown }).challenge;
  if (typeof challenge === "string") reply.header("www-authenticate", challenge);
  if (status >= 500) reply.log.error({ err: e.toJSON(), cause: isBootMetaError(err) ? undefined : String(err) }, "request failed");
  const body = status === 500 && e.code === "INTERNAL" ? { code: "INTERNAL", message: "internal error", data: {}, suggestions: [] } : e.toJSON();
  return reply.code(status).type("application/json; charset=utf-8").send({ error: body });
}

export function badRequest(message: string, data: Record<string, unknown> = {}): BootMetaError {
  return new BootMetaError("SERVER_BAD_REQUEST", message, ExitCode.InvalidArgument, { data });
}
