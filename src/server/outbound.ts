import { createHash, createHmac } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { loadConfig } from "../config/loader.js";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import type { IdentitySet } from "../sops/identities.js";
import type { Metrics } from "./metrics.js";
import type { Change, Mirror } from "./mirror.js";
import { narrowFor, readSubscriptions, type Subscription, type SubscriptionProblem } from "./subscriptions.js";

/** Where signing secrets live in the service's own config: `webhooks.secrets.<name>: whsec_…`. */
export const SECRETS_KEY = ["webhooks", "secrets"] as const;

export interface OutboundOptions {
  /** The service's data directory: dead letters go to `<dataDir>/dead-letters/<subscription>/<webhook-id>.json`. */
  dataDir: string;
  /** The service's own identity (`serve --identity`): without it no secret opens and nothing is delivered. */
  identities?: IdentitySet;
  /** The project and env of the service's own config, which holds `webhooks.secrets`. */
  configProject?: string;
  configEnv?: string;
  /** Attempts per delivery, the first included (default 5). */
  attempts?: number;
  /** The backoff's base: attempt n+1 waits a random time up to min(retryMaxMs, retryBaseMs × 2^(n-1)) (default 5 s). */
  retryBaseMs?: number;
  /** The longest wait between attempts, a `Retry-After` included (default 10 min). */
  retryMaxMs?: number;
  /** How long one attempt may take, connection to last byte of the status (default 15 s). */
  timeoutMs?: number;
  /** Attempts in flight at once, over all subscriptions (default 8). */
  concurrency?: number;
  /** The jitter's source, in [0, 1) (default Math.random). */
  random?: () => number;
}

/** One attempt, as the dead letter and the log keep it: never a secret, never the body. */
export interface AttemptRecord {
  at: string;
  ms: number;
  status?: number;
  error?: string;
}

/** What happened to one delivery: told to listeners, logged, and for dead ones written to disk. */
export interface DeliveryReport {
  subscription: string;
  webhookId: string;
  commit: string;
  outcome: "delivered" | "dead" | "gone" | "abandoned";
  attempts: AttemptRecord[];
  /** The dead letter's path, for dead and abandoned deliveries. */
  deadLetter?: string;
}

/** A change that matched a subscription and was not sent: its signing secret could not be opened. */
export interface SkippedDelivery {
  subscription: string;
  commit: string;
  error: BootMetaError;
}

interface Delivery {
  sub: Subscription;
  id: string;
  change: Change;
  body: Buffer;
  key: Buffer;
  attempts: AttemptRecord[];
  timer?: NodeJS.Timeout;
  done: boolean;
}

/** What the service could open at a commit: the secrets by name, or why none. */
interface Secrets {
  keys: Map<string, Buffer | BootMetaError>;
  error?: BootMetaError;
  where: string;
}

/**
 * The Standard Webhooks signature (standardwebhooks.com, "Signature scheme"): HMAC-SHA256 over
 * `id.timestamp.body` with the secret's bytes (the base64 after `whsec_`), as `v1,<base64>`.
 */
export function signature(key: Buffer, id: string, timestamp: number, body: Buffer | string): string {
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64")}`;
}

/**
 * A `whsec_<base64>` secret's key bytes. The spec asks for 24 to 64 random bytes; anything else
 * is refused, with a message that never holds the value.
 */
export function secretKey(value: unknown, name: string, where: string): Buffer | BootMetaError {
  const bad = (why: string) =>
    new BootMetaError("SERVER_WEBHOOK_SECRET_UNAVAILABLE", `${SECRETS_KEY.join(".")}.${name} in ${where} is not a signing secret: ${why}`, ExitCode.CouldNotRetrieveKey, {
      data: { secret: name },
      suggestions: [`set it to whsec_ and the base64 of 24 to 64 random bytes: \`boot-meta config set ${SECRETS_KEY.join(".")}.${name} whsec_$(openssl rand -base64 32)\` in the service's project and env`],
    });
  if (typeof value !== "string") return bad(`it is ${value === null ? "null" : typeof value === "object" ? "a map or list" : `a ${typeof value}`}, not a string`);
  if (!value.startsWith("whsec_")) return bad("it does not start with whsec_ (the Standard Webhooks form)");
  const b64 = value.slice("whsec_".length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return bad("what follows whsec_ is not base64");
  const key = Buffer.from(b64, "base64");
  if (key.length < 24 || key.length > 64) return bad(`it holds ${key.length} bytes; the spec asks for 24 to 64`);
  return key;
}

/**
 * The webhook id of a change for a subscriber: the same for every attempt and on every replica
 * (a hash of the subscription and the commit), so a receiver behind several `serve` replicas
 * can drop the copies by id as the spec intends. No `.`: it is part of the signed content.
 */
export function webhookId(subscription: string, commit: string): string {
  return `msg_${createHash("sha256").update(`${subscription}\0${commit}`).digest("base64url").slice(0, 27)}`;
}

/** `Retry-After` in ms (seconds or an HTTP date), or undefined. */
function retryAfterMs(v: string | null, now: number): number | undefined {
  if (v === null) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** Why an attempt failed, in a few words (the error code of the socket, a timeout): never a body. */
function describe(e: unknown, timedOut: boolean, timeoutMs: number, closing: boolean): string {
  if (timedOut) return `timed out after ${timeoutMs} ms`;
  if (closing) return "abandoned: the service is stopping";
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}

/** The part of a URL a log line may hold: a receiver's path or query can itself be a credential. */
const origin = (url: string) => new URL(url).origin;

/** An attempt failed and another is scheduled. */
export interface RetryScheduled {
  subscription: string;
  webhookId: string;
  /** The attempt that failed (1 = the first). */
  attempt: number;
  waitMs: number;
}

/**
 * Outbound webhooks: each change that reaches the served branch is POSTed to the subscribers
 * whose filters it matches (subscriptions/<name>.yaml at the served commit), signed as
 * Standard Webhooks asks with a secret the service opens from its own config (loadConfig of
 * `configProject`/`configEnv` at the served commit, with its own identity). 2xx is delivered;
 * 410 disables the subscription until its file changes; anything else is retried with
 * exponential backoff and full jitter, and after the last attempt a dead letter is written.
 * A bad subscription file, or a secret the service cannot open, stops only that subscription.
 */
export class Outbound extends EventEmitter<{
  delivered: [DeliveryReport];
  dead: [DeliveryReport];
  gone: [DeliveryReport];
  abandoned: [DeliveryReport];
  skipped: [SkippedDelivery];
  retrying: [RetryScheduled];
  refreshed: [string];
}> {
  /** The subscriptions read at `head`, and the files that could not be used. */
  subscriptions: Subscription[] = [];
  problems: SubscriptionProblem[] = [];
  /** The commit subscriptions and secrets were last read at. */
  head: string | undefined;
  private secrets: Secrets = { keys: new Map(), where: "" };
  /** name → blob id of the file that answered 410. */
  private disabled = new Map<string, string>();
  private pending: Change[] = [];
  private chain: Promise<void> = Promise.resolve();
  private live = new Set<Delivery>();
  private running = 0;
  private waiting: (() => void)[] = [];
  private inflight = new Set<Promise<void>>();
  private closed = false;
  private readonly stopping = new AbortController();
  private readonly o: Required<Omit<OutboundOptions, "identities" | "configProject" | "configEnv">> & OutboundOptions;

  private readonly mirror: Mirror;
  private readonly metrics: Metrics;
  private readonly log: Pick<Logger, "info" | "warn" | "error">;

  constructor(mirror: Mirror, metrics: Metrics, log: Pick<Logger, "info" | "warn" | "error">, o: OutboundOptions) {
    super();
    this.mirror = mirror;
    this.metrics = metrics;
    this.log = log;
    this.o = { attempts: 5, retryBaseMs: 5_000, retryMaxMs: 600_000, timeoutMs: 15_000, concurrency: 8, random: Math.random, ...o };
    if (!Number.isInteger(this.o.attempts) || this.o.attempts < 1) throw new BootMetaError("INVALID_ARGUMENT", `attempts must be a whole number of at least 1, not ${this.o.attempts}`, ExitCode.InvalidArgument);
  }

  /** Follows the mirror: the changes of a sync are delivered once the subscriptions at its head are read. */
  start(): this {
    this.mirror.on("change", this.onChange);
    this.mirror.on("synced", this.onSynced);
    if (this.mirror.head !== undefined) this.onSynced(this.mirror.head);
    return this;
  }

  private readonly onChange = (c: Change) => {
    this.pending.push(c);
  };

  private readonly onSynced = (head: string) => {
    const changes = this.pending.splice(0);
    this.chain = this.chain
      .then(() => this.process(head, changes))
      .catch((e: unknown) => this.log.error({ err: isBootMetaError(e) ? e.toJSON() : String(e), commit: head }, "outbound webhooks: reading the subscriptions failed; these changes are not delivered"));
  };

  /** Resolves when every change seen so far has been dispatched and every delivery has ended. */
  async settled(): Promise<void> {
    for (;;) {
      await this.chain;
      if (this.live.size === 0) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          if (this.live.size > 0) return;
          for (const e of ["delivered", "dead", "gone", "abandoned"] as const) this.off(e, done);
          resolve();
        };
        for (const e of ["delivered", "dead", "gone", "abandoned"] as const) this.on(e, done);
      });
    }
  }

  private async process(head: string, changes: Change[]): Promise<void> {
    if (this.closed) return;
    if (head !== this.head) await this.refresh(head);
    for (const c of changes) for (const s of this.subscriptions) this.dispatch(s, c);
  }

  /** Reads the subscriptions and the secrets at `head`; says in the log and the gauge what cannot be delivered. */
  private async refresh(head: string): Promise<void> {
    const { subscriptions, problems } = await readSubscriptions(this.mirror.reader(head));
    this.secrets = subscriptions.length ? await this.loadSecrets(head) : { keys: new Map(), where: "" };
    this.subscriptions = subscriptions;
    this.problems = problems;
    this.head = head;
    // A file that changed since its receiver said 410 is the operator's answer: deliver again.
    for (const [name, blob] of this.disabled) if (!subscriptions.some((s) => s.name === name && s.blob === blob)) this.disabled.delete(name);
    const gauge = this.metrics.webhookSubscriptions;
    gauge.reset();
    for (const p of problems) {
      gauge.set({ subscription: p.name, state: "invalid" }, 1);
      this.log.warn({ subscription: p.name, commit: head, err: p.error.toJSON() }, `outbound webhooks: ${p.path} is skipped: ${p.error.message}`);
    }
    for (const s of subscriptions) {
      const key = this.secretFor(s);
      const state = this.disabled.has(s.name) ? "disabled" : key instanceof BootMetaError ? "no_secret" : "active";
      gauge.set({ subscription: s.name, state }, 1);
      if (key instanceof BootMetaError) this.log.warn({ subscription: s.name, commit: head, err: key.toJSON() }, `outbound webhooks: ${s.path} cannot be delivered: ${key.message}`);
    }
    this.log.info({ commit: head, subscriptions: subscriptions.length, invalid: problems.length }, "outbound webhooks: subscriptions read");
    this.emit("refreshed", head);
  }

  /** The service's own config at `head`, opened with its own identity: `webhooks.secrets`. */
  private async loadSecrets(head: string): Promise<Secrets> {
    const { identities, configProject: project, configEnv: env } = this.o;
    const where = project && env ? `${project} ${env}` : "the service's config";
    const unavailable = (why: string, suggestion: string, cause?: BootMetaError) =>
      new BootMetaError("SERVER_WEBHOOK_SECRET_UNAVAILABLE", why, ExitCode.CouldNotRetrieveKey, { data: cause ? { cause: cause.code } : {}, suggestions: [suggestion, ...(cause?.suggestions ?? [])] });
    if (!identities) return { keys: new Map(), where, error: unavailable("the service holds no identity, so it can open no signing secret", "start `boot-meta serve` with --identity FILE (a principal the access rules let read the service's config)") };
    if (!project || !env) return { keys: new Map(), where, error: unavailable("the service was given no config of its own to hold signing secrets", "start `boot-meta serve` with --config-project P --config-env E") };
    const dir = this.mirror.gitDir as string;
    let config: Record<string, unknown>;
    try {
      config = (await loadConfig({ repo: dir, project, env, at: head, identities, environment: {}, cwd: dir })).config as Record<string, unknown>;
    } catch (e) {
      if (!isBootMetaError(e)) throw e;
      return { keys: new Map(), where, error: unavailable(`the service cannot load its config ${where}: ${e.message}`, `make the service's principal a reader of ${project} ${env} (.boot-meta.yaml access rules, then \`boot-meta access sync\`)`, e) };
    }
    const keys = new Map<string, Buffer | BootMetaError>();
    let node: unknown = config;
    for (const k of SECRETS_KEY) node = typeof node === "object" && node !== null && !Array.isArray(node) && Object.hasOwn(node, k) ? (node as Record<string, unknown>)[k] : undefined;
    if (typeof node === "object" && node !== null && !Array.isArray(node)) for (const [name, value] of Object.entries(node)) keys.set(name, secretKey(value, name, where));
    return { keys, where };
  }

  private secretFor(s: Subscription): Buffer | BootMetaError {
    if (this.secrets.error) return this.secrets.error;
    const k = this.secrets.keys.get(s.secret);
    if (k !== undefined) return k;
    return new BootMetaError("SERVER_WEBHOOK_SECRET_UNAVAILABLE", `the service's config ${this.secrets.where} has no ${SECRETS_KEY.join(".")}.${s.secret}, the signing secret ${s.path} names`, ExitCode.CouldNotRetrieveKey, {
      data: { secret: s.secret, path: s.path },
      suggestions: [`set it in the service's config: \`boot-meta config set -p ${this.o.configProject ?? "P"} -e ${this.o.configEnv ?? "E"} ${SECRETS_KEY.join(".")}.${s.secret} whsec_…\`, or name an existing secret in ${s.path}`],
    });
  }

  private dispatch(s: Subscription, c: Change): void {
    if (this.closed || !s.events.includes("change") || this.disabled.has(s.name)) return;
    const narrowed = narrowFor(s, c);
    if (!narrowed) return;
    const key = this.secretFor(s);
    if (key instanceof BootMetaError) {
      this.metrics.webhookDeliveries.inc({ outcome: "skipped", subscription: s.name });
      this.log.warn({ subscription: s.name, commit: c.commit, err: key.toJSON() }, `outbound webhooks: not delivered to ${s.name}: ${key.message}`);
      this.emit("skipped", { subscription: s.name, commit: c.commit, error: key });
      return;
    }
    const { parent, ...data } = narrowed;
    const body = Buffer.from(JSON.stringify({ type: "change", timestamp: c.time, data: { ...data, parent: parent ?? null } }));
    const d: Delivery = { sub: s, id: webhookId(s.name, c.commit), change: narrowed, body, key, attempts: [], done: false };
    this.live.add(d);
    this.attempt(d);
  }

  private attempt(d: Delivery): void {
    d.timer = undefined;
    const p = this.slot().then(async () => {
      try {
        if (d.done) return;
        const rec = await this.post(d);
        d.attempts.push(rec);
        await this.settle(d, rec);
      } finally {
        this.release();
      }
    });
    const tracked = p.catch((e: unknown) => this.log.error({ subscription: d.sub.name, webhookId: d.id, err: String(e) }, "outbound webhooks: a delivery failed unexpectedly"));
    this.inflight.add(tracked);
    void tracked.finally(() => this.inflight.delete(tracked));
  }

  private async post(d: Delivery): Promise<AttemptRecord & { retryAfter?: string | null }> {
    const started = Date.now();
    const timestamp = Math.floor(started / 1000);
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.o.timeoutMs);
    try {
      const res = await fetch(d.sub.url, {
        method: "POST",
        // A redirect is a failure (the spec: update the URL instead), never followed.
        redirect: "manual",
        signal: AbortSignal.any([timeout.signal, this.stopping.signal]),
        headers: {
          "content-type": "application/json",
          "user-agent": "boot-meta",
          "webhook-id": d.id,
          "webhook-timestamp": String(timestamp),
          "webhook-signature": signature(d.key, d.id, timestamp, d.body),
        },
        body: d.body,
      });
      // Only the status counts; the body is not read (a receiver may send anything).
      await res.body?.cancel().catch(() => undefined);
      return { at: new Date(started).toISOString(), ms: Date.now() - started, status: res.status, retryAfter: res.headers.get("retry-after") };
    } catch (e) {
      return { at: new Date(started).toISOString(), ms: Date.now() - started, error: describe(e, timeout.signal.aborted, this.o.timeoutMs, this.stopping.signal.aborted) };
    } finally {
      clearTimeout(timer);
    }
  }

  private async settle(d: Delivery, rec: AttemptRecord & { retryAfter?: string | null }): Promise<void> {
    const { retryAfter, ...kept } = rec;
    d.attempts[d.attempts.length - 1] = kept;
    const who = { subscription: d.sub.name, webhookId: d.id, commit: d.change.commit, endpoint: origin(d.sub.url), attempt: d.attempts.length };
    const status = rec.status;
    if (status !== undefined && status >= 200 && status < 300) {
      this.metrics.webhookDeliveries.inc({ outcome: "delivered", subscription: d.sub.name });
      this.log.info({ ...who, status }, `outbound webhooks: delivered to ${d.sub.name}`);
      this.finish(d, "delivered");
      return;
    }
    if (status === 410) {
      // The receiver is done with us (the spec: disable the endpoint). Until the file changes.
      this.metrics.webhookDeliveries.inc({ outcome: "gone", subscription: d.sub.name });
      this.disabled.set(d.sub.name, d.sub.blob);
      this.metrics.webhookSubscriptions.remove({ subscription: d.sub.name, state: "active" });
      this.metrics.webhookSubscriptions.set({ subscription: d.sub.name, state: "disabled" }, 1);
      this.log.warn(who, `outbound webhooks: ${d.sub.name} answered 410 Gone: the subscription is disabled until ${d.sub.path} changes`);
      this.finish(d, "gone");
      for (const other of this.live) if (other.sub.name === d.sub.name) this.finish(other, "gone");
      return;
    }
    if (this.closed) return;
    const why = status !== undefined ? `status ${status}` : rec.error;
    if (d.attempts.length < this.o.attempts) {
      this.metrics.webhookDeliveries.inc({ outcome: "failed", subscription: d.sub.name });
      // Full jitter (a random wait up to the exponential bound) spreads the retries of many
      // deliveries that failed together, so a receiver coming back is not hit all at once.
      const bound = Math.min(this.o.retryMaxMs, this.o.retryBaseMs * 2 ** (d.attempts.length - 1));
      const asked = retryAfterMs(retryAfter ?? null, Date.now());
      const wait = Math.min(this.o.retryMaxMs, Math.max(this.o.random() * bound, asked ?? 0));
      this.log.warn({ ...who, status, error: rec.error, retryInMs: Math.round(wait) }, `outbound webhooks: ${d.sub.name} failed (${why}); retrying`);
      d.timer = setTimeout(() => this.attempt(d), wait);
      this.emit("retrying", { subscription: d.sub.name, webhookId: d.id, attempt: d.attempts.length, waitMs: wait });
      return;
    }
    this.metrics.webhookDeliveries.inc({ outcome: "dead", subscription: d.sub.name });
    const file = await this.deadLetter(d, `all ${d.attempts.length} attempts failed; the last: ${why}`);
    this.log.error({ ...who, status, error: rec.error, deadLetter: file }, `outbound webhooks: ${d.sub.name} failed ${d.attempts.length} times; dead letter written`);
    this.finish(d, "dead", file);
  }

  private finish(d: Delivery, outcome: DeliveryReport["outcome"], deadLetter?: string): void {
    if (d.done) return;
    d.done = true;
    clearTimeout(d.timer);
    this.live.delete(d);
    this.emit(outcome, { subscription: d.sub.name, webhookId: d.id, commit: d.change.commit, outcome, attempts: d.attempts, ...(deadLetter ? { deadLetter } : {}) });
  }

  /**
   * `<dataDir>/dead-letters/<subscription>/<webhook-id>.json`: what was to be sent and every
   * attempt, enough to find the change again and replay it — a summary of the payload, never
   * the secret, the signature or the receiver's path (it may hold a token).
   */
  private async deadLetter(d: Delivery, reason: string): Promise<string | undefined> {
    const dir = join(this.o.dataDir, "dead-letters", d.sub.name);
    const file = join(dir, `${d.id}.json`);
    const record = {
      subscription: d.sub.name,
      file: d.sub.path,
      blob: d.sub.blob,
      endpoint: origin(d.sub.url),
      webhookId: d.id,
      type: "change",
      reason,
      payload: { commit: d.change.commit, parent: d.change.parent ?? null, time: d.change.time, projects: d.change.projects, paths: d.change.paths.length, bytes: d.body.length },
      attempts: d.attempts,
      firstAttemptAt: d.attempts[0]?.at ?? null,
      deadAt: new Date().toISOString(),
    };
    try {
      await mkdir(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
      await rename(tmp, file);
      return file;
    } catch (e) {
      this.log.error({ subscription: d.sub.name, webhookId: d.id, err: (e as NodeJS.ErrnoException).code ?? String(e), dir }, "outbound webhooks: the dead letter could not be written");
      return undefined;
    }
  }

  private slot(): Promise<void> {
    if (this.running < this.o.concurrency) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  /**
   * Stops: no new deliveries, waits for retries are cancelled, attempts in flight are aborted
   * and awaited. Every delivery that had not ended is written as a dead letter (`abandoned`),
   * so an operator can replay what a restart dropped.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.mirror.off("change", this.onChange);
    this.mirror.off("synced", this.onSynced);
    this.stopping.abort();
    for (const d of this.live) clearTimeout(d.timer);
    await this.chain;
    await Promise.allSettled([...this.inflight]);
    for (const d of [...this.live]) {
      this.metrics.webhookDeliveries.inc({ outcome: "abandoned", subscription: d.sub.name });
      const file = await this.deadLetter(d, `abandoned after ${d.attempts.length} attempt(s): the service stopped`);
      this.log.warn({ subscription: d.sub.name, webhookId: d.id, commit: d.change.commit, deadLetter: file }, `outbound webhooks: a delivery to ${d.sub.name} was abandoned at shutdown; dead letter written`);
      this.finish(d, "abandoned", file);
    }
  }
}
