import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { validateName } from "../../meta/layout.js";
import type { RouteContext } from "../app.js";
import { badRequest, sendError } from "../http-errors.js";
import { type Change, narrowChange } from "../mirror.js";
import { notReady } from "./params.js";

/** A comment line every so often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

interface Filter {
  projects: Set<string>;
  prefixes: string[];
}

/** A change's event text, made once however many unfiltered subscribers it goes to. */
const unfiltered = new WeakMap<Change, string>();
const eventText = (c: Change, data: Change) => `id: ${c.commit}\nevent: change\ndata: ${JSON.stringify(data)}\n\n`;

/** The change as a client sees it, narrowed to the paths its filter asked for. */
const narrow = (c: Change, f: Filter): Change | undefined => narrowChange(c, { projects: [...f.projects], prefixes: f.prefixes });

const asList = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * `GET /v1/events`: Server-Sent Events, one `change` event per commit that reaches the served
 * branch (`id:` is the commit, `data:` its changed paths and projects — never a value).
 * `Last-Event-ID` (or `?lastEventId=`) resumes after a commit; a commit not in the branch's
 * history (a force-push) gets a `reset` event naming the head, and the client reloads.
 * `?project=` (repeatable) and `?path=` (a prefix, repeatable) filter.
 */
export function eventRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { mirror } = ctx;
  // One listener, one timer and one shutdown hook for every stream (1,000 streams would be
  // 1,000 listeners on the mirror and the closing signal, and 1,000 timers).
  const streams = new Set<{ change(c: Change): void; beat(line: string): void; shutdown(): void }>();
  mirror.on("change", (c) => {
    for (const s of streams) s.change(c);
  });
  const heartbeat = setInterval(() => {
    const line = `: ${new Date().toISOString()}\n\n`;
    for (const s of streams) s.beat(line);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  ctx.closing.addEventListener("abort", () => {
    clearInterval(heartbeat);
    for (const s of [...streams]) s.shutdown();
  });
  app.get("/v1/events", async (req: FastifyRequest<{ Querystring: { project?: string | string[]; path?: string | string[]; lastEventId?: string } }>, reply: FastifyReply) => {
    let filter: Filter;
    let since: string | undefined;
    try {
      if (mirror.head === undefined) throw notReady();
      filter = { projects: new Set(asList(req.query.project).map((p) => validateName("project", p))), prefixes: asList(req.query.path) };
      for (const p of filter.prefixes) if (p === "" || p.startsWith("/") || p.split("/").includes("..")) throw badRequest(`path=${p} is not a path prefix in the meta repository (like shop/envs/prod/)`, { parameter: "path" });
      const last = req.headers["last-event-id"] ?? req.query.lastEventId;
      since = typeof last === "string" && last !== "" ? last.trim() : undefined;
    } catch (e) {
      return sendError(reply, e);
    }
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    ctx.metrics.subscribers.inc({ stream: "sse" });
    // Events that arrive while the backlog is read are queued behind it, in order.
    let backlogDone = false;
    const queued: Change[] = [];
    const open = filter.projects.size === 0 && filter.prefixes.length === 0;
    const send = (c: Change) => {
      if (open) {
        let text = unfiltered.get(c);
        if (text === undefined) unfiltered.set(c, (text = eventText(c, c)));
        res.write(text);
        return;
      }
      // Filtered out: nothing is sent (a resume from an earlier id skips it again).
      const n = narrow(c, filter);
      if (n) res.write(eventText(c, n));
    };
    let ended = false;
    const stream = {
      change: (c: Change) => (backlogDone ? send(c) : queued.push(c)),
      beat: (line: string) => res.write(line),
      shutdown: () => {
        // Tell the client to come back (to another replica), then end the stream.
        res.end(`event: shutdown\ndata: {}\nretry: 1000\n\n`);
        end();
      },
    };
    const end = () => {
      if (ended) return;
      ended = true;
      streams.delete(stream);
      ctx.metrics.subscribers.dec({ stream: "sse" });
    };
    streams.add(stream);
    res.on("close", end);
    if (ctx.closing.aborted) stream.shutdown();
    res.write(`retry: 2000\n: boot-meta events, served commit ${mirror.head}\n\n`);
    const backlog = new Set<string>();
    if (since !== undefined) {
      const missed = await mirror.changesSince(since).catch(() => undefined);
      if (missed === undefined) {
        res.write(`id: ${mirror.head}\nevent: reset\ndata: ${JSON.stringify({ commit: mirror.head, reason: `${since.slice(0, 40)} is not in the served branch's history; reload` })}\n\n`);
      } else
        for (const c of missed) {
          backlog.add(c.commit);
          send(c);
        }
    }
    for (const c of queued.splice(0)) if (!backlog.has(c.commit)) send(c);
    backlogDone = true;
  });
}
