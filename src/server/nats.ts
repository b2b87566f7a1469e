import { hostname } from "node:os";
import { connect, headers, type NatsConnection, nuid, type Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { BootMetaError, ExitCode } from "../errors.js";
import type { Change, Mirror } from "./mirror.js";
import { changeFor, changesSubject, channelSubject, channelsOf, HEAD_SUBJECT } from "./subjects.js";

/** Where to reach NATS, with the credentials taken out of the URL. */
export interface NatsTarget {
  /** `host:port` of each server, as the client takes them (no credentials). */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  tls: boolean;
  /** The URL(s) as they may be logged: the credentials replaced by `***`. */
  shown: string;
}

const badUrl = (shown: string, why: string) =>
  new BootMetaError("INVALID_ARGUMENT", `the NATS URL ${shown} (--nats or BOOT_META_NATS_URL) is not one the client can use: ${why}`, ExitCode.InvalidArgument, {
    suggestions: ["give nats://HOST:PORT, nats://USER:PASSWORD@HOST:PORT or nats://TOKEN@HOST:PORT (several comma-separated for a cluster; tls:// for TLS)"],
  });

/**
 * `nats://[user:pass@|token@]host[:port]`, several separated by commas. The client is given
 * the user and password (or token) as options and the servers without them, so neither the
 * client's errors nor its status events can carry a credential into a log line.
 */
export function parseNatsUrl(text: string): NatsTarget {
  const parts = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const withScheme = parts.map((p) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(p) ? p : `nats://${p}`));
  const shownOf = (p: string) => p.replace(/\/\/[^/@]*@/, "//***@");
  const shown = withScheme.map(shownOf).join(",") || JSON.stringify(text);
  if (parts.length === 0) throw badUrl(shown, "it is empty");
  const t: NatsTarget = { servers: [], tls: false, shown };
  for (const p of withScheme) {
    let u: URL;
    try {
      u = new URL(p);
    } catch {
      throw badUrl(shownOf(p), "it does not parse as a URL");
    }
    if (u.protocol !== "nats:" && u.protocol !== "tls:") throw badUrl(shownOf(p), `the scheme is ${u.protocol.slice(0, -1)}, not nats or tls`);
    if (u.hostname === "") throw badUrl(shownOf(p), "it names no host");
    if ((u.pathname !== "" && u.pathname !== "/") || u.search !== "" || u.hash !== "") throw badUrl(shownOf(p), "it has a path, query or fragment");
    if (u.protocol === "tls:") t.tls = true;
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    if (user !== "" || pass !== "") {
      const same = pass !== "" ? t.user === user && t.pass === pass : t.token === user;
      if (t.servers.length > 0 && (t.user !== undefined || t.token !== undefined) && !same) throw badUrl(shown, "its servers carry different credentials");
      if (pass !== "") Object.assign(t, { user, pass });
      else t.token = user;
    }
    t.servers.push(`${u.hostname.includes(":") && !u.hostname.startsWith("[") ? `[${u.hostname}]` : u.hostname}:${u.port || "4222"}`);
  }
  return t;
}

/** What a replica says on {@link HEAD_SUBJECT} when its served commit moves. */
export interface HeadMessage {
  /** The commit the replica serves now. */
  commit: string;
  /** The one it served before (undefined when it announces itself at start). */
  previous?: string;
  /** The commits whose changes it published for this move (at most {@link MAX_LISTED}), so others need not again. */
  commits: string[];
  /** The replica's id, new at every start. */
  replica: string;
}

const MAX_LISTED = 256;
const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** A set that forgets its oldest entries past `max`. */
class Recent {
  private readonly s = new Set<string>();
  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  has(k: string): boolean {
    return this.s.has(k);
  }
  add(k: string): void {
    this.s.delete(k);
    this.s.add(k);
    if (this.s.size > this.max) this.s.delete(this.s.values().next().value as string);
  }
  clear(): void {
    this.s.clear();
  }
}

export interface NatsLinkOptions {
  logger?: Logger;
  /** The connection's name as the NATS server shows it. */
  name?: string;
}

/**
 * The service's NATS connection: it publishes what the mirror sees and keeps replicas in step.
 * Every change goes out on `bootmeta.<project>.changes` for each project it touched and on
 * `bootmeta.<project>.channels.<channel>` for each channel file it changed (subjects.ts), with
 * the commit, its parent, the paths and the time — never a value. A replica whose served
 * commit moved says so on `bootmeta.head`; another that does not have that commit fetches.
 * The connection reconnects for ever (the client's own reconnect); while it is down the
 * service goes on serving from its clone and polls or webhooks keep it current.
 */
export class NatsLink {
  readonly nc: NatsConnection;
  /** This replica's id on the head subject (new at every start: a restart is another replica). */
  readonly replica = nuid.next();
  /** The URL as it may be logged (credentials masked); the credentials themselves are kept nowhere on this object. */
  readonly shown: string;
  private readonly log: Logger | undefined;
  private following: { mirror: Mirror; off: () => void; sub: Subscription } | undefined;
  /** Commits another replica announced having published; not published again from here. */
  private readonly publishedElsewhere = new Recent(4 * MAX_LISTED);
  /** Commits this replica fetched for once: a later announcement of one does not fetch again. */
  private readonly fetchedFor = new Recent(1024);
  private closed = false;

  private constructor(nc: NatsConnection, shown: string, log: Logger | undefined) {
    this.nc = nc;
    this.shown = shown;
    this.log = log;
    void this.watchStatus();
  }

  /**
   * Connects (SERVER_NATS_UNAVAILABLE when no server answers at start: a replica that cannot
   * reach NATS would silently fall out of step, so it does not start).
   */
  static async connect(url: string, o: NatsLinkOptions = {}): Promise<NatsLink> {
    const target = parseNatsUrl(url);
    const log = o.logger?.child({ component: "nats" });
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: target.servers,
        ...(target.user !== undefined ? { user: target.user, pass: target.pass } : {}),
        ...(target.token !== undefined ? { token: target.token } : {}),
        ...(target.tls ? { tls: {} } : {}),
        name: o.name ?? `boot-meta serve ${hostname()} ${process.pid}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1_000,
      });
    } catch (e) {
      throw new BootMetaError("SERVER_NATS_UNAVAILABLE", `cannot connect to NATS at ${target.shown}: ${(e as Error).message}`, ExitCode.General, {
        data: { nats: target.shown },
        suggestions: ["check that nats-server runs there (with -js for shared liveness) and that the credentials in the URL are right"],
      });
    }
    log?.info({ nats: target.shown, server: nc.getServer() }, "connected to NATS");
    return new NatsLink(nc, target.shown, log);
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case "disconnect":
          this.log?.warn({ server: s.server }, "lost the NATS connection; still serving, reconnecting");
          break;
        case "reconnect":
          this.log?.info({ server: s.server }, "reconnected to NATS");
          break;
        case "error":
          this.log?.warn({ err: s.error.message }, "NATS reported an error");
          break;
        case "ldm":
          this.log?.info({ server: s.server }, "the NATS server is going away (lame duck); will move to another");
          break;
        case "slowConsumer":
          this.log?.warn({ subject: s.sub.getSubject(), pending: s.pending }, "too slow reading a NATS subscription");
          break;
        default:
          break;
      }
    }
  }

  private publish(subject: string, data: unknown, msgId: string): void {
    // Nats-Msg-Id lets a JetStream stream over bootmeta.> drop the copies several replicas send.
    const h = headers();
    h.set("Nats-Msg-Id", msgId);
    try {
      this.nc.publish(subject, JSON.stringify(data), { headers: h });
    } catch (e) {
      this.log?.warn({ subject, err: (e as Error).message }, "could not publish on NATS");
    }
  }

  /** Publishes one change on its projects' and channels' subjects. */
  publishChange(c: Change): void {
    for (const project of c.projects) {
      const subject = changesSubject(project);
      this.publish(subject, changeFor(c, project), `${c.commit}:${subject}`);
    }
    for (const ch of channelsOf(c)) {
      const subject = channelSubject(ch.project, ch.channel);
      this.publish(subject, { commit: c.commit, parent: c.parent, time: c.time, project: ch.project, channel: ch.channel, path: ch.path }, `${c.commit}:${subject}`);
    }
  }

  /**
   * Publishes the mirror's changes and follows the other replicas: on an announced commit this
   * replica does not have, it calls `sync` — once per commit, and not while it has it (no
   * loop: a replica that catches up announces a commit the others have). The mirror already
   * folds syncs asked for while one runs into one more.
   */
  follow(mirror: Mirror, sync: (reason: string) => void): void {
    if (this.following) throw new Error("this NATS link already follows a mirror");
    let published: string[] = [];
    let previous = mirror.head;
    const onChange = (c: Change) => {
      if (this.publishedElsewhere.has(c.commit)) return;
      this.publishChange(c);
      if (published.length < MAX_LISTED) published.push(c.commit);
    };
    const onSynced = (head: string) => {
      const m: HeadMessage = { commit: head, previous, commits: published, replica: this.replica };
      previous = head;
      published = [];
      this.publish(HEAD_SUBJECT, m, `${head}:${this.replica}`);
    };
    // A failed fetch may have been one asked for by another replica: the next announcement retries.
    const onError = () => this.fetchedFor.clear();
    mirror.on("change", onChange);
    mirror.on("synced", onSynced);
    mirror.on("error", onError);
    const sub = this.nc.subscribe(HEAD_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        let m: HeadMessage;
        try {
          m = msg.json<HeadMessage>();
        } catch {
          this.log?.debug({ subject: msg.subject }, "ignored a head message that is not JSON");
          return;
        }
        if (typeof m?.commit !== "string" || !COMMIT.test(m.commit) || m.replica === this.replica) return;
        if (Array.isArray(m.commits)) for (const c of m.commits.slice(0, MAX_LISTED)) if (typeof c === "string") this.publishedElsewhere.add(c);
        void this.catchUp(mirror, m, sync);
      },
    });
    this.following = {
      mirror,
      sub,
      off: () => {
        mirror.off("change", onChange);
        mirror.off("synced", onSynced);
        mirror.off("error", onError);
      },
    };
    // Say where this replica is: one that is behind catches up now, not at the next push.
    if (mirror.head !== undefined) this.publish(HEAD_SUBJECT, { commit: mirror.head, commits: [], replica: this.replica } satisfies HeadMessage, `${mirror.head}:${this.replica}`);
  }

  private async catchUp(mirror: Mirror, m: HeadMessage, sync: (reason: string) => void): Promise<void> {
    const decided = (action: "have" | "fetched-before" | "fetch") => this.log?.debug({ commit: m.commit, replica: m.replica, action }, "another replica announced its head");
    if (mirror.head === m.commit) return decided("have");
    if (this.fetchedFor.has(m.commit)) return decided("fetched-before");
    this.fetchedFor.add(m.commit);
    // Served already, or behind the head (that replica is behind this one): nothing to fetch.
    if ((await mirror.changesSince(m.commit).catch(() => undefined)) !== undefined) return decided("have");
    if (this.closed) return;
    decided("fetch");
    sync(`replica ${m.replica} announced ${m.commit.slice(0, 12)} on NATS`);
  }

  /**
   * Stops following and drains: what was published is flushed, then the connection closes. A
   * drain that cannot finish (NATS is down) is cut short after `timeoutMs`.
   */
  async close(timeoutMs = 5_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.following?.off();
    if (this.nc.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<"cut">((resolve) => {
      timer = setTimeout(() => resolve("cut"), timeoutMs);
    });
    const drained = await Promise.race([this.nc.drain().then(() => "drained" as const, () => "failed" as const), cut]);
    clearTimeout(timer);
    if (drained !== "drained") await this.nc.close().catch(() => undefined);
    this.log?.info({ drained: drained === "drained" }, "closed the NATS connection");
  }
}
