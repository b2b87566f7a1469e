import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { Git } from "../meta/git.js";
import { layersFor } from "../meta/layout.js";
import type { ConfigWarning } from "./clone.js";
import { changedKeys } from "./diff.js";
import { keep, loadFromServer, openAnswer, type ServerSource } from "./from-server.js";
import { loadFromRepo, type LoadPlan, resolveLoad } from "./loader.js";
import { type ConfigAnswer, contentEtag, openEvents, requestConfig, type ServedConfig } from "./remote.js";
import { SseParser } from "./sse.js";
import type { LoadConfigOptions, LoadedConfig } from "./types.js";

const COMMIT = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** What `onUpdate` is told (c12's shape, DESIGN.md "watchConfig"). */
export interface ConfigUpdate {
  oldConfig: LoadedConfig;
  newConfig: LoadedConfig;
  /** Dotted keys whose values differ (keys only, never values: safe to log). */
  changedKeys: string[];
  /** The commit the new config was read at. */
  commit: string;
}

export interface WatchConfigOptions extends LoadConfigOptions {
  /**
   * Called after a change to a value, once the new config was loaded and decrypted: never with
   * a config that could not be. Calls do not overlap; the next change waits for the promise.
   */
  onUpdate?: (update: ConfigUpdate) => void | Promise<void>;
  /**
   * A change that could not be loaded (a layer this reader can no longer open, a file that
   * fails its MAC or binding, an answer the API does not allow) or an `onUpdate` that threw:
   * the config stays as it was. Default: `process.emitWarning`.
   */
  onError?: (error: Error) => void;
  /**
   * With `server`: `auto` follows the event stream (SSE) and long-polls when the service has
   * none; `sse` or `longpoll` force one.
   */
  transport?: "auto" | "sse" | "longpoll";
  /** With `server`: how long one long-poll waits, in seconds (default 25). */
  longPollSeconds?: number;
  /**
   * Without `server`: how often the repo is looked at, in ms, ±10% jitter (default 2 s for a
   * local repo, whose HEAD is read; 30 s for a git URL, which is fetched).
   */
  pollIntervalMs?: number;
  /** Reconnection delays after a failure: doubled from `minMs` up to `maxMs` (default 500 ms and 30 s), with jitter. */
  retry?: { minMs?: number; maxMs?: number };
  /** With SSE: a stream silent for this long (the service sends a comment every 15 s) is dropped and reopened (default 45 s). */
  idleTimeoutMs?: number;
}

export interface WatchedConfig extends LoadedConfig {
  /** The config as it is now (the last update's `newConfig`). */
  current(): LoadedConfig;
  /** Stops watching: the stream or long-poll is closed and no timer is left; resolves when all has ended. */
  unwatch(): Promise<void>;
}

/**
 * Loads the config as `loadConfig` does, then follows it: from the config service through its
 * event stream (or long-poll), from a local repo by reading its HEAD, from a git URL by
 * fetching. On a change to a layer it reloads, decrypts and calls `onUpdate` with the old and
 * new config, the changed keys and the commit; a commit that leaves the values as they were
 * calls nothing. Connections that fail are retried with exponential backoff and jitter (told
 * once per outage through `onWarning`, `CONFIG_WATCH_RETRYING`). Throws what `loadConfig`
 * throws for the first load.
 */
export async function watchConfig(o: WatchConfigOptions = {}): Promise<WatchedConfig> {
  checkTimes(o);
  const plan = await resolveLoad(o);
  const w = plan.kind === "server" ? new ServerWatcher(plan.source, o) : new RepoWatcher(plan, o);
  const first = await w.load();
  w.start();
  return { ...first, current: () => w.current, unwatch: () => w.stop() };
}

/** Times that cannot work are refused up front, not found out in a retry loop. */
function checkTimes(o: WatchConfigOptions): void {
  const bad = (option: string, v: unknown, rule: string) =>
    new BootMetaError("INVALID_ARGUMENT", `watchConfig's ${option} ${JSON.stringify(v)} must be ${rule}`, ExitCode.InvalidArgument, { data: { option } });
  const s = o.longPollSeconds;
  // The service waits at most 290 s (src/server/routes/params.ts), within the 5 minutes proxies commonly allow.
  if (s !== undefined && (!Number.isInteger(s) || s < 1 || s > 290)) throw bad("longPollSeconds", s, "a whole number of seconds from 1 to 290");
  for (const [name, v] of [["pollIntervalMs", o.pollIntervalMs], ["idleTimeoutMs", o.idleTimeoutMs], ["retry.minMs", o.retry?.minMs], ["retry.maxMs", o.retry?.maxMs]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw bad(name, v, "a number of milliseconds above zero");
  }
  if (o.transport !== undefined && !["auto", "sse", "longpoll"].includes(o.transport)) throw bad("transport", o.transport, "auto, sse or longpoll");
}

/** The loop and the state every transport shares: the current config, updates in order, the stop signal. */
abstract class Watcher {
  current!: LoadedConfig;
  protected readonly stopping = new AbortController();
  protected readonly warnings = new Set<string>();
  private running: Promise<void> | undefined;
  protected readonly onError: (e: Error) => void;
  protected readonly warn: (w: ConfigWarning) => void;
  private readonly retryMin: number;
  protected readonly retryMax: number;
  protected readonly o: WatchConfigOptions;

  constructor(o: WatchConfigOptions) {
    this.o = o;
    this.onError = o.onError ?? ((e) => process.emitWarning(e.message, { code: isBootMetaError(e) ? e.code : "CONFIG_WATCH_ERROR" }));
    const warn = o.onWarning ?? ((w: ConfigWarning) => process.emitWarning(w.message, { code: w.code }));
    // One warning of a kind per outage: a loop that retries every few seconds must not repeat it.
    this.warn = (w) => {
      if (this.warnings.has(w.code)) return;
      this.warnings.add(w.code);
      warn(w);
    };
    this.retryMin = o.retry?.minMs ?? 500;
    this.retryMax = Math.max(this.retryMin, o.retry?.maxMs ?? 30_000);
  }

  abstract load(): Promise<LoadedConfig>;
  protected abstract run(): Promise<void>;

  start(): void {
    this.running = this.run().catch((e: unknown) => {
      if (!this.stopped) this.onError(e instanceof Error ? e : new Error(String(e)));
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort(new Error("unwatched"));
    await this.running;
  }

  get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  /** The source answered: an outage, if there was one, is over (its next one is told again). */
  protected connected(): void {
    this.warnings.clear();
  }

  /** Takes a newly loaded config: `onUpdate` when a value changed. */
  protected async apply(next: LoadedConfig): Promise<void> {
    if (!next.stale) this.connected();
    const old = this.current;
    this.current = next;
    const keys = changedKeys(old.config, next.config);
    if (keys.length === 0 || this.stopped) return;
    try {
      await this.o.onUpdate?.({ oldConfig: old, newConfig: next, changedKeys: keys, commit: next.commit });
    } catch (e) {
      this.onError(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** A reload that failed: the old config stays, and the caller is told. */
  protected failed(e: unknown): void {
    if (this.stopped) return;
    this.onError(e instanceof Error ? e : new Error(String(e)));
  }

  /** The `n`th retry's delay: doubling from retryMin to retryMax, then 50–100% of it (jitter). */
  protected backoff(n: number): number {
    const d = Math.min(this.retryMax, this.retryMin * 2 ** Math.min(n - 1, 30));
    return d * (0.5 + Math.random() * 0.5);
  }

  /** Waits, or less when unwatched; the timer never outlives the wait. */
  protected sleep(ms: number): Promise<void> {
    const signal = this.stopping.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
    });
  }
}

/**
 * Follows the config service: `GET /v1/events?path=…` for this env's layer files (resuming with
 * `Last-Event-ID`), each event a conditional reload; or, when the service has no stream,
 * `GET …/config?wait=` long-polls with `If-None-Match`.
 */
class ServerWatcher extends Watcher {
  /** The ETag of the last answer seen, opened or not: a long-poll waits for the next one, not for this again. */
  private etag: string | undefined;
  private lastEventId: string | undefined;
  private readonly s: ServerSource;

  constructor(source: ServerSource, o: WatchConfigOptions) {
    super(o);
    this.s = { ...source, warn: (w) => this.warn(w) };
  }

  async load(): Promise<LoadedConfig> {
    const { loaded, answer } = await loadFromServer(this.s);
    this.current = loaded;
    this.etag = contentEtag(answer);
    this.lastEventId = loaded.commit;
    return loaded;
  }

  protected async run(): Promise<void> {
    const transport = this.o.transport ?? "auto";
    let sse = transport !== "longpoll";
    let failures = 0;
    // After an outage (or a start from the cache) a conditional reload catches up on what the stream cannot replay.
    let catchUp = this.current.stale;
    while (!this.stopped) {
      try {
        if (sse) {
          const res = await openEvents(this.s.base, layersFor(this.s.project, this.s.env).map((l) => l.path), { lastEventId: this.lastEventId, timeoutMs: this.s.timeoutMs, signal: this.stopping.signal });
          if (res === "unsupported") {
            if (transport === "sse") throw new BootMetaError("CONFIG_SERVER_BAD_RESPONSE", `the config server ${this.s.base.href} has no event stream at v1/events (transport: "sse" was asked for)`, undefined, { suggestions: ["use transport: \"auto\" or \"longpoll\""] });
            sse = false;
            continue;
          }
          this.connected();
          failures = 0;
          if (catchUp) await this.reload();
          catchUp = false;
          // The service's `retry:`, but never longer than our own longest wait.
          const retry = Math.min(await this.follow(res), this.retryMax);
          await this.sleep(retry * (0.5 + Math.random() * 0.5));
        } else {
          const started = Date.now();
          const wait = this.o.longPollSeconds ?? 25;
          const r = await requestConfig(this.s.base, this.s.project, this.s.env, { etag: this.etag, wait, timeoutMs: this.s.timeoutMs, signal: this.stopping.signal });
          this.connected();
          failures = 0;
          await this.take(r);
          // A service that answers a long-poll at once without a change (one that ignores `wait`) must not be polled in a tight loop.
          if (!r.changed && Date.now() - started < (wait * 1000) / 4) await this.sleep(this.backoff(1));
        }
      } catch (e) {
        if (this.stopped) break;
        failures++;
        catchUp = true;
        if (isBootMetaError(e, "CONFIG_SERVER_UNAVAILABLE")) this.warn({ code: "CONFIG_WATCH_RETRYING", message: `${e.message}; retrying with backoff, the config stays at commit ${this.current.commit.slice(0, 12)}` });
        else this.failed(e);
        await this.sleep(this.backoff(failures));
      }
    }
  }

  /** Reads one event stream to its end; returns the delay the service asked for before reconnecting. */
  private async follow(res: Response): Promise<number> {
    const parser = new SseParser(this.lastEventId);
    const decoder = new TextDecoder();
    const idleMs = this.o.idleTimeoutMs ?? 45_000;
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let idle: NodeJS.Timeout | undefined;
    let silent = false;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        silent = true;
        void reader.cancel().catch(() => undefined);
      }, idleMs);
    };
    const onStop = () => void reader.cancel().catch(() => undefined);
    this.stopping.signal.addEventListener("abort", onStop);
    try {
      arm();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arm();
        for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
          if (ev.event === "change" || ev.event === "reset") {
            await this.reload();
            // Moved only once the change it names was taken: a reconnect resumes after it, never
            // past a lost one. Only a commit id is sent back (it goes into a header).
            if (ev.id !== undefined && COMMIT.test(ev.id)) this.lastEventId = ev.id;
          } else if (ev.event === "shutdown") {
            return parser.retry ?? 1000;
          }
        }
      }
    } finally {
      clearTimeout(idle);
      this.stopping.signal.removeEventListener("abort", onStop);
      await reader.cancel().catch(() => undefined);
    }
    if (this.stopped) return 0;
    if (silent) throw new BootMetaError("CONFIG_SERVER_UNAVAILABLE", `the config server ${this.s.base.href}'s event stream was silent for ${idleMs} ms`);
    return parser.retry ?? 2000;
  }

  /** A conditional GET: a change of the layers since the last answer is taken. */
  private async reload(): Promise<void> {
    await this.take(await requestConfig(this.s.base, this.s.project, this.s.env, { etag: this.etag, timeoutMs: this.s.timeoutMs, signal: this.stopping.signal }));
  }

  private async take(r: ConfigAnswer): Promise<void> {
    if (!r.changed) {
      if (r.commit !== this.current.commit || this.current.stale) await this.apply({ ...this.current, commit: r.commit, stale: false });
      return;
    }
    const answer: ServedConfig = r.body;
    this.etag = answer.etag;
    let next: LoadedConfig;
    try {
      next = await openAnswer(this.s, answer, answer.commit, false);
    } catch (e) {
      return this.failed(e);
    }
    await keep(this.s, answer);
    await this.apply(next);
  }
}

/** Follows a meta repo: a local one by reading its HEAD (or `at`), a git URL by fetching it. */
class RepoWatcher extends Watcher {
  private readonly plan: Extract<LoadPlan, { kind: "repo" }>;
  private git: Git | undefined;
  /** The commit last tried (a local repo): one that failed is not tried again until HEAD moves. */
  private tried: string | undefined;
  /** The last failure told, so a poll that fails the same way again stays quiet. */
  private told: string | undefined;

  constructor(plan: Extract<LoadPlan, { kind: "repo" }>, o: WatchConfigOptions) {
    super(o);
    this.plan = { ...plan, warn: (w) => this.warn(w) };
  }

  async load(): Promise<LoadedConfig> {
    this.current = await loadFromRepo(this.plan);
    return this.current;
  }

  protected async run(): Promise<void> {
    const every = this.o.pollIntervalMs ?? (this.plan.url ? 30_000 : 2_000);
    let failures = 0;
    while (!this.stopped) {
      await this.sleep(failures > 0 ? Math.max(this.backoff(failures), every) : every * (0.9 + Math.random() * 0.2));
      if (this.stopped) break;
      try {
        if (this.plan.url) {
          await this.apply(await loadFromRepo(this.plan));
        } else {
          this.git ??= await Git.at(this.plan.repo);
          const commit = await this.git.resolve(this.plan.o.at ?? "HEAD");
          if (commit !== this.tried && commit !== this.current.commit) {
            this.tried = commit;
            await this.apply(await loadFromRepo({ ...this.plan, o: { ...this.plan.o, at: commit } }));
          }
        }
        failures = 0;
        this.told = undefined;
      } catch (e) {
        failures++;
        const key = isBootMetaError(e) ? `${e.code}\0${e.message}` : String(e);
        if (key !== this.told) this.failed(e);
        this.told = key;
      }
    }
  }
}
