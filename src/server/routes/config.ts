import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BootMetaError, ExitCode } from "../../errors.js";
import type { ServedConfig, ServedLayer, ServedSchema } from "../../config/remote.js";
import { layersFor, schemaFile, validateName } from "../../meta/layout.js";
import type { RouteContext } from "../app.js";
import { badRequest, sendError } from "../http-errors.js";
import { etagMatches } from "../negotiate.js";
import { notReady, waitSeconds } from "./params.js";

interface Cached {
  etag: string;
  commit: string;
  /** The JSON body, encoded once: a hot key is sent as the same bytes every time. */
  body: Buffer;
}

/**
 * `GET /v1/projects/:project/config?env=ENV[&wait=S]`: the layers of one env as stored. The
 * ETag is a hash of the layers' paths and blob ids (DESIGN.md: unchanged layers keep their ETag
 * across commits; the commit is the `Boot-Meta-Commit` header beside it). `If-None-Match` with
 * the current ETag is a 304; with `wait`, the answer waits until a new commit changes one of
 * the layers (or the time is up: 304). Answers are kept per served commit, so a hot key costs
 * one map lookup.
 */
export function configRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { mirror } = ctx;
  let cacheAt: string | undefined;
  const cache = new Map<string, Promise<Cached>>();
  // Long-polls waiting for a change: one listener on the mirror and one on shutdown for all.
  const waiters = new Set<{ check(): void; finish(): void }>();
  mirror.on("synced", () => {
    for (const w of [...waiters]) w.check();
  });
  ctx.closing.addEventListener("abort", () => {
    for (const w of [...waiters]) w.finish();
  });

  const current = (project: string, env: string): Promise<Cached> => {
    const head = mirror.head;
    if (head === undefined) return Promise.reject(notReady());
    if (cacheAt !== head) {
      cache.clear();
      cacheAt = head;
    }
    const key = `${project}\0${env}`;
    let hit = cache.get(key);
    if (!hit) {
      hit = build(project, env, head);
      cache.set(key, hit);
      // A failure is not kept: the next request tries again.
      hit.catch(() => cache.get(key) === hit && cache.delete(key));
    }
    return hit;
  };

  const build = async (project: string, env: string, commit: string): Promise<Cached> => {
    const r = mirror.reader(commit);
    /** `<project>/schema.json` (config/schema.ts), which the client checks the merged config against: at its last trusted version, as the layers are. */
    const servedSchema = async (): Promise<ServedSchema | undefined> => {
      const path = schemaFile(project);
      const taint = mirror.tainted.get(path);
      let blob: string | undefined;
      let bytes: Uint8Array | undefined;
      if (taint) {
        blob = taint.trusted;
        bytes = blob === undefined ? undefined : await mirror.blob(blob);
      } else {
        const e = await r.entry(path);
        if (!e || e.mode === "40000" || e.mode === "160000") return undefined;
        blob = e.id;
        bytes = await r.read(path);
      }
      return blob === undefined || bytes === undefined ? undefined : { path, blob, content: Buffer.from(bytes).toString("utf8") };
    };
    const layers: ServedLayer[] = await Promise.all(
      layersFor(project, env).map(async (l) => {
        const taint = mirror.tainted.get(l.path);
        if (taint) {
          const untrusted = { commit: taint.commit, reason: taint.reason, message: taint.message };
          if (taint.trusted === undefined) return { ...l, found: false, untrusted };
          const bytes = await mirror.blob(taint.trusted);
          return { ...l, found: true, blob: taint.trusted, content: Buffer.from(bytes ?? new Uint8Array()).toString("utf8"), untrusted };
        }
        const e = await r.entry(l.path);
        if (!e || e.mode === "40000" || e.mode === "160000") return { ...l, found: false };
        const bytes = await r.read(l.path);
        return { ...l, found: true, blob: e.id, content: Buffer.from(bytes ?? new Uint8Array()).toString("utf8") };
      }),
    );
    if (!layers.some((l) => l.found && l.name !== "defaults")) {
      throw new BootMetaError("CONFIG_NOT_FOUND", `there is no config for ${project} ${env} at ${commit.slice(0, 12)}`, ExitCode.General, {
        data: { project, env, commit },
        suggestions: [`check the project and env names; an admin creates an env with \`boot-meta env create ${project} ${env}\``],
      });
    }
    const schema = await servedSchema();
    const ids = layers.map((l) => `${l.path}\0${l.blob ?? "-"}`);
    // As remote.ts contentEtag: a project without a schema keeps the ETag it had.
    if (schema) ids.push(`${schema.path}\0${schema.blob}`);
    const etag = `"${createHash("sha256")
      .update(ids.join("\n"))
      .digest("hex")
      .slice(0, 32)}"`;
    const body: ServedConfig = { project, env, commit, etag, layers, ...(schema ? { schema } : {}) };
    return { etag, commit, body: Buffer.from(JSON.stringify(body)) };
  };

  app.get("/v1/projects/:project/config", async (req: FastifyRequest<{ Params: { project: string }; Querystring: { env?: string; wait?: string } }>, reply: FastifyReply) => {
    try {
      const project = validateName("project", req.params.project);
      if (typeof req.query.env !== "string") throw badRequest("the env query parameter is required: ?env=prod, ?env=dev/alice", { parameter: "env" });
      const env = validateName("env", req.query.env);
      const wait = waitSeconds(req.query.wait);
      let c = await current(project, env);
      const asked = req.headers["if-none-match"];
      if (asked !== undefined && etagMatches(asked, c.etag) && wait > 0) {
        ctx.metrics.subscribers.inc({ stream: "longpoll" });
        try {
          c = await waitForChange(c.etag, wait, () => current(project, env));
        } finally {
          ctx.metrics.subscribers.dec({ stream: "longpoll" });
        }
      }
      reply.header("etag", c.etag).header("boot-meta-commit", c.commit).header("cache-control", "no-cache");
      if (asked !== undefined && etagMatches(asked, c.etag)) return reply.code(304).send();
      return reply.type("application/json; charset=utf-8").send(c.body);
    } catch (e) {
      return sendError(reply, e);
    }
  });

  /** Resolves with the answer once its ETag differs from `etag`, or with the same one when time is up or the app closes. */
  function waitForChange(etag: string, seconds: number, get: () => Promise<Cached>): Promise<Cached> {
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        waiters.delete(waiter);
        get().then(resolve, reject);
      };
      const check = () => {
        get().then((c) => c.etag !== etag && finish(), finish);
      };
      const waiter = { check, finish };
      const timer = setTimeout(finish, seconds * 1000);
      waiters.add(waiter);
      if (ctx.closing.aborted) finish();
      // A commit that landed between the first answer and now.
      else check();
    });
  }
}
