import { randomBytes } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { isBootMetaError } from "../../errors.js";
import { validateName } from "../../meta/layout.js";
import { dirsIn, namesIn, readRecord, recordPath, requireProject } from "../../records/files.js";
import { readInstances } from "../../records/fleet.js";
import type { Event, Instance } from "../../records/generated.js";
import { getChannel } from "../../records/channels.js";
import { getRelease } from "../../records/releases.js";
import type { RouteContext } from "../app.js";
import { requireToken } from "../auth.js";
import { badRequest, sendError } from "../http-errors.js";
import type { InstanceLiveness } from "../liveness.js";
import { eventPath, instanceAt, sameState } from "../writer.js";
import { notReady } from "./params.js";

/** The largest report or event body taken (an event's message and data fit well within it). */
const BODY_LIMIT = 64 * 1024;
/** A status, health or event type: a word, not prose. */
const WORD = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
/** Event ids: when the service took it (to the millisecond), then random digits; they sort by time. */
const EVENT_ID = /^(\d{8}T\d{6}\.\d{3}Z)-[0-9a-f]{8}$/;

type Params = { project: string; id?: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function word(body: Record<string, unknown>, field: string, required: boolean): string | undefined {
  const v = body[field];
  if (v === undefined && !required) return undefined;
  if (typeof v !== "string" || !WORD.test(v)) throw badRequest(`${field} must be a word of up to 64 letters, digits and . _ : - (got ${v === undefined ? "nothing" : JSON.stringify(String(v).slice(0, 70))})`, { field });
  return v;
}

function text(body: Record<string, unknown>, field: string, max: number): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string" || v.length > max) throw badRequest(`${field} must be a string of at most ${max} characters`, { field });
  return v;
}

/** `20261125T101500.123Z` for a time: the sortable front of an event id. */
const idTime = (iso: string) => iso.replace(/[-:]/g, "");

/**
 * The fleet's endpoints, each behind a bearer token (auth.ts) bound to the project:
 * - `POST /v1/projects/:project/instances/:id/report` (`instances:report`): an instance says
 *   what it runs (status, release, health, lastError, and the channel it follows). Its liveness
 *   is updated at once; only a change of its state (status, release, health, channel) is
 *   queued for the next batch commit, with the last error as it was then.
 * - `GET /v1/projects/:project/instances` (`instances:read`): the records at the served commit
 *   beside what each instance last reported.
 * - `POST /v1/projects/:project/events` (`events:write`): appends an immutable event, committed
 *   with the next batch.
 * - `GET /v1/projects/:project/events?since=ID|TIME&limit=N` (`events:read`): committed events
 *   after `since`, oldest first.
 */
export function fleetRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { mirror, liveness, writer } = ctx;
  const served = () => {
    const head = mirror.head;
    if (head === undefined) throw notReady();
    return { head, r: mirror.reader(head) };
  };
  // What a report needs from git, kept so that an unchanged report reads nothing (at 100,000
  // instances reporting every 30 s, three cat-file reads a report were half the CPU): that the
  // project exists and what a release reference names, once per served commit; an instance's
  // record by the blob id of its file (blobs never change), found by walking trees the
  // commit's reader keeps.
  let cacheAt: string | undefined;
  const projectsKnown = new Map<string, Promise<void>>();
  const releases = new Map<string, Promise<{ id: string }>>();
  const instances = new Map<string, { blob: string; value: Instance }>();
  const perCommit = (head: string) => {
    if (cacheAt === head) return;
    cacheAt = head;
    projectsKnown.clear();
    releases.clear();
  };
  const cached = <T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> => {
    let p = map.get(key);
    if (!p) {
      p = make();
      map.set(key, p);
      p.catch(() => map.get(key) === p && map.delete(key));
    }
    return p;
  };
  const recordedState = async (r: ReturnType<typeof served>["r"], project: string, id: string): Promise<Instance | undefined> => {
    const key = `${project}\0${id}`;
    const e = await r.entry(recordPath.instance(project, id));
    const hit = instances.get(key) ?? writer.recorded(project, id);
    if (e && hit?.blob === e.id) return hit.value;
    const rec = await instanceAt(r, project, id).catch((err: unknown) => (isBootMetaError(err, "RECORD_INVALID") ? undefined : Promise.reject(err)));
    if (rec && e && rec.path === recordPath.instance(project, id)) {
      // Bounded: a fleet far larger than planned for starts the map over rather than grow it.
      if (instances.size >= 1_000_000) instances.clear();
      instances.set(key, { blob: e.id, value: rec.value });
    }
    return rec?.value;
  };

  app.post("/v1/projects/:project/instances/:id/report", { bodyLimit: BODY_LIMIT }, async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    try {
      const project = validateName("project", req.params.project);
      await requireToken(req, ctx, { scope: "instances:report", project });
      const id = validateName("principal", req.params.id as string);
      if (!isObject(req.body)) throw badRequest("the report must be a JSON object: { status, release, health?, lastError?, channel? }");
      const status = word(req.body, "status", true) as string;
      const health = word(req.body, "health", false);
      const lastError = text(req.body, "lastError", 2000);
      const channel = req.body.channel === undefined ? undefined : validateName("env", String(req.body.channel));
      if (typeof req.body.release !== "string" || req.body.release === "") throw badRequest("release must be the release id or version the instance runs", { field: "release" });
      // Writes go where the service can push: refused here, not later in a batch that cannot land.
      await writer.target();
      const { head, r } = served();
      perCommit(head);
      await cached(projectsKnown, project, () => requireProject(r, project));
      const ref = req.body.release;
      const release = await cached(releases, `${project}\0${ref}`, () => getRelease(r, project, ref));
      // The channel must exist: an instance on a misspelt channel would count in no rollout.
      if (channel !== undefined) await cached(projectsKnown, `${project}\0channel\0${channel}`, () => getChannel(r, project, channel).then(() => undefined));
      const now = new Date().toISOString();
      await liveness.put({ project, id, status, release: release.id, health, lastError, lastSeen: now });
      const state = { project, id, status, releaseId: release.id, health, lastError, channel, at: now.replace(/\.\d{3}Z$/, "Z") };
      const before = writer.pending(project, id) ?? (await recordedState(r, project, id));
      const changed = !before || !sameState(state, before);
      if (changed) writer.queueInstance(state);
      return reply.code(202).send({ project, id, lastSeen: now, changed, commit: head });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/v1/projects/:project/instances", async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    try {
      const project = validateName("project", req.params.project);
      await requireToken(req, ctx, { scope: "instances:read", project });
      const { head, r } = served();
      await requireProject(r, project);
      const [records, live] = await Promise.all([readInstances(r, project), liveness.list(project)]);
      const byId = new Map<string, { id: string; record: Instance | null; liveness: Omit<InstanceLiveness, "project" | "id"> | null; pending: boolean }>();
      for (const rec of records) byId.set(rec.id, { id: rec.id, record: rec, liveness: null, pending: false });
      for (const l of live) {
        const { project: _p, id, ...rest } = l;
        const item = byId.get(id) ?? { id, record: null, liveness: null, pending: false };
        item.liveness = rest;
        byId.set(id, item);
      }
      for (const item of byId.values()) item.pending = writer.pending(project, item.id) !== undefined;
      const instances = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      return reply.send({ project, commit: head, instances });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.post("/v1/projects/:project/events", { bodyLimit: BODY_LIMIT }, async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
    try {
      const project = validateName("project", req.params.project);
      const who = await requireToken(req, ctx, { scope: "events:write", project });
      if (!isObject(req.body)) throw badRequest("the event must be a JSON object: { type, message?, instance?, data? }");
      const type = word(req.body, "type", true) as string;
      const message = text(req.body, "message", 4000);
      const instance = req.body.instance === undefined ? undefined : validateName("principal", String(req.body.instance));
      let data: Record<string, string> | undefined;
      if (req.body.data !== undefined) {
        const d = req.body.data;
        if (!isObject(d) || Object.keys(d).length > 64 || Object.entries(d).some(([k, v]) => typeof v !== "string" || k.length > 128 || v.length > 2000)) {
          throw badRequest("data must be an object of at most 64 string values (keys up to 128 characters, values up to 2000)", { field: "data" });
        }
        data = Object.fromEntries(Object.entries(d)) as Record<string, string>;
      }
      await writer.target();
      const { head, r } = served();
      await requireProject(r, project);
      const at = new Date().toISOString();
      const event: Event = { id: `${idTime(at)}-${randomBytes(4).toString("hex")}`, project, at, type, principal: who.principal, instance, message, data };
      writer.queueEvent(project, event);
      return reply.code(202).send({ id: event.id, path: eventPath(project, event.id), at, queued: true, commit: head });
    } catch (e) {
      return sendError(reply, e);
    }
  });

  app.get("/v1/projects/:project/events", async (req: FastifyRequest<{ Params: Params; Querystring: { since?: string; limit?: string } }>, reply: FastifyReply) => {
    try {
      const project = validateName("project", req.params.project);
      await requireToken(req, ctx, { scope: "events:read", project });
      const since = req.query.since ?? "";
      // After an id: strictly after it (the last one a client saw); from a time: at or after it.
      let after: (id: string) => boolean = () => true;
      let from = "";
      if (EVENT_ID.test(since)) {
        after = (id) => id > since;
        from = since;
      } else if (since !== "") {
        const t = Date.parse(since);
        if (!/^\d{4}-\d\d-\d\dT/.test(since) || Number.isNaN(t)) throw badRequest(`since=${JSON.stringify(since.slice(0, 40))} is neither an event id nor an RFC 3339 time`, { parameter: "since" });
        from = idTime(new Date(t).toISOString());
        after = (id) => id >= from;
      }
      const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw badRequest("limit must be a whole number from 1 to 1000", { parameter: "limit" });
      const { head, r } = served();
      await requireProject(r, project);
      const root = `${project}/events`;
      const events: Event[] = [];
      let more = false;
      // Days before the one `since` falls on are skipped by name, without reading them.
      const [y, m, d] = [from.slice(0, 4), from.slice(4, 6), from.slice(6, 8)];
      walk: for (const year of (await dirsIn(r, root)).filter((x) => x >= y)) {
        for (const month of (await dirsIn(r, `${root}/${year}`)).filter((x) => year > y || x >= m)) {
          for (const day of (await dirsIn(r, `${root}/${year}/${month}`)).filter((x) => year > y || month > m || x >= d)) {
            const dir = `${root}/${year}/${month}/${day}`;
            for (const name of await namesIn(r, dir)) {
              const id = name.replace(/\.json$/, "");
              if (!EVENT_ID.test(id) || !after(id)) continue;
              if (events.length === limit) {
                more = true;
                break walk;
              }
              const rec = await readRecord<Event>(r, "Event", `${dir}/${name}`, { id, project });
              if (rec) events.push(rec.value);
            }
          }
        }
      }
      return reply.send({ project, commit: head, events, next: events.at(-1)?.id ?? null, more });
    } catch (e) {
      return sendError(reply, e);
    }
  });
}
