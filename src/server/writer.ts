import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { commitOnto, type Tx } from "../meta/commit.js";
import { projectFile } from "../meta/layout.js";
import { objectId } from "../meta/objects.js";
import type { Reader } from "../meta/reader.js";
import { encodeRecord } from "../records/codec.js";
import { instancesDir, readRecord, recordPath, writeRecord } from "../records/files.js";
import type { Event, Instance } from "../records/generated.js";
import type { Mirror } from "./mirror.js";

/** An instance's reported state, waiting for the next commit. */
export interface InstanceState {
  project: string;
  id: string;
  status: string;
  /** The release id (resolved from what the instance reported). */
  releaseId: string;
  health?: string;
  /** The channel it follows, when the report names one (rollouts count the records that name a channel). */
  channel?: string;
  /** Why its last upgrade failed, as the agent said it. */
  lastError?: string;
  /** When the state was reported (its record's changedAt). */
  at: string;
}

/** The part of an instance's state that is committed: a report that changes none of it writes nothing. */
/**
 * The last error alone is liveness, not state (a flapping message would be a commit a report):
 * it is written with a change of state — a rollback's status — and goes with the next one.
 */
export const sameState = (a: Pick<InstanceState, "status" | "releaseId" | "health" | "channel">, b: Pick<Instance, "status" | "releaseId" | "health" | "channel">): boolean =>
  a.releaseId === b.releaseId &&
  a.status === (b.status ?? "") &&
  (a.health ?? "") === (b.health ?? "") &&
  // A report that names no channel leaves the recorded one as it is.
  (a.channel === undefined || a.channel === (b.channel ?? ""));

export const eventPath = (project: string, id: string): string => `${project}/events/${id.slice(0, 4)}/${id.slice(4, 6)}/${id.slice(6, 8)}/${id}.json`;

/** The record of an instance at a commit: its sharded file, or the flat one written before instances were sharded. */
export async function instanceAt(r: Reader, project: string, id: string): Promise<{ path: string; value: Instance; unknown: Record<string, unknown> } | undefined> {
  for (const path of [recordPath.instance(project, id), `${instancesDir(project)}/${id}.json`]) {
    const rec = await readRecord<Instance>(r, "Instance", path, { id, project });
    if (rec) return { path, ...rec };
  }
  return undefined;
}

export interface FlushResult {
  commit: string | undefined;
  instances: number;
  events: number;
}

interface Log {
  warn(o: object, msg: string): void;
  info(o: object, msg: string): void;
}

export interface FleetWriterOptions {
  mirror: Mirror;
  /** How often queued changes are committed (one commit each time there are any). */
  intervalMs: number;
  /** "Name <email>" of the service's commits. */
  author: string;
  log: Log;
  /** Fetches after a commit, so the service serves what it wrote. */
  sync: () => Promise<void>;
  /** The most events held while the remote cannot be written (then new ones are refused). */
  maxQueuedEvents?: number;
}

/**
 * Changes that followers report, written to the meta repo in batches: the newest state of each
 * instance whose state changed, and new event files, committed together once per interval
 * through the one write path (meta/commit.ts `commitOnto`: planned on the commit the service
 * serves, pushed to the branch it serves, re-planned on the newest remote state after a lost
 * race). The plan compares each state with the record it would replace, so a change that is
 * already there (written by another replica, or reported twice) writes nothing, and a batch of
 * nothing makes no commit. A failed batch is kept and tried again with the next one.
 */
export class FleetWriter {
  private instances = new Map<string, InstanceState>();
  /** The batch being committed: still "pending" for a report that arrives meanwhile. */
  private inflight = new Map<string, InstanceState>();
  private events: { project: string; event: Event }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<FlushResult> | undefined;
  private closed = false;
  private readonly o: FleetWriterOptions;

  constructor(o: FleetWriterOptions) {
    this.o = o;
  }

  /** Starts committing every interval (the timer does not keep the process alive). */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      if (!this.running && this.size > 0) this.flush().catch(() => undefined);
    }, this.o.intervalMs);
    this.timer.unref();
  }

  /** Where writes go (the served branch on the remote); SERVER_READ_ONLY when the service cannot write. */
  target(): Promise<{ dir: string; remote: string; branch: string }> {
    return this.o.mirror.writeTarget();
  }

  get size(): number {
    return this.instances.size + this.events.length;
  }

  private readonly recordedCache = new Map<string, { blob: string; value: Instance }>();

  /** The record this writer last committed for an instance, by the blob id it has in git. */
  recorded(project: string, id: string): { blob: string; value: Instance } | undefined {
    return this.recordedCache.get(`${project}\0${id}`);
  }

  /** The state last queued (or being committed) for an instance; undefined when none is waiting. */
  pending(project: string, id: string): InstanceState | undefined {
    const k = `${project}\0${id}`;
    return this.instances.get(k) ?? this.inflight.get(k);
  }

  queueInstance(s: InstanceState): void {
    this.instances.set(`${s.project}\0${s.id}`, s);
  }

  queueEvent(project: string, event: Event): void {
    const max = this.o.maxQueuedEvents ?? 100_000;
    if (this.events.length >= max) {
      throw new BootMetaError("META_REMOTE_UNAVAILABLE", `the service holds ${max} events it could not write to the meta repository yet; this one was not taken`, ExitCode.General, {
        suggestions: ["retry later; the service's log says why its writes fail"],
      });
    }
    this.events.push({ project, event });
  }

  /**
   * Commits what is queued now, as one commit, and fetches so the service serves it. Runs one
   * at a time: a call during a flush waits for it and then flushes what came meanwhile.
   */
  async flush(): Promise<FlushResult> {
    while (this.running) await this.running.catch(() => undefined);
    this.running = this.flushOnce();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }

  private async flushOnce(): Promise<FlushResult> {
    if (this.size === 0) return { commit: undefined, instances: 0, events: 0 };
    const batch = this.instances;
    const events = this.events;
    this.instances = new Map();
    this.events = [];
    this.inflight = batch;
    try {
      const target = await this.target();
      const r = await commitOnto(
        target.dir,
        { remote: target.remote, branch: target.branch, base: this.o.mirror.head, author: this.o.author, message: (v: { instances: string[]; events: string[] }) => messageOf(v.instances, v.events) },
        (tx) => plan(tx, [...batch.values()], events),
      );
      const result = { commit: r.commit, instances: r.value.instances.length, events: r.value.events.length };
      if (r.commit) {
        // What was just written, by blob id: the next report of each instance compares with it
        // without reading git (routes/fleet.ts).
        const format = r.commit.length === 64 ? "sha256" : "sha1";
        if (this.recordedCache.size + r.value.records.length > 1_000_000) this.recordedCache.clear();
        for (const w of r.value.records) this.recordedCache.set(w.key, { blob: objectId(format, "blob", w.bytes), value: w.value });
        this.o.log.info({ commit: r.commit, instances: result.instances, events: result.events, attempts: r.attempts }, "wrote reported changes to the meta repository");
        await this.o.sync().catch((err: unknown) => this.o.log.warn({ err: String(err) }, "fetching after a write failed"));
      }
      return result;
    } catch (e) {
      // Kept for the next batch, behind anything newer that arrived meanwhile.
      for (const [k, s] of batch) if (!this.instances.has(k)) this.instances.set(k, s);
      this.events = [...events, ...this.events];
      this.o.log.warn({ err: isBootMetaError(e) ? e.toJSON() : String(e), instances: batch.size, events: events.length }, "writing reported changes failed; they are kept for the next batch");
      throw e;
    } finally {
      this.inflight = new Map();
    }
  }

  /** Stops the timer and writes what is queued (graceful shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.size > 0) await this.flush().catch(() => undefined);
    else await this.running?.catch(() => undefined);
  }
}

/**
 * The writes of one batch against the state it builds on: an instance whose record already
 * says what it reported is left alone, one whose project or release is gone is dropped (the
 * report was checked against an older commit), events are new files.
 */
async function plan(tx: Tx, instances: InstanceState[], events: { project: string; event: Event }[]): Promise<{ instances: string[]; events: string[]; records: { key: string; bytes: Uint8Array; value: Instance }[] }> {
  const wrote = { instances: [] as string[], events: [] as string[], records: [] as { key: string; bytes: Uint8Array; value: Instance }[] };
  const projects = new Map<string, boolean>();
  const exists = async (p: string) => {
    let e = projects.get(p);
    if (e === undefined) projects.set(p, (e = (await tx.read(projectFile(p))) !== undefined));
    return e;
  };
  for (const s of instances) {
    if (!(await exists(s.project))) continue;
    let current: Awaited<ReturnType<typeof instanceAt>> = undefined;
    try {
      current = await instanceAt(tx, s.project, s.id);
    } catch (e) {
      // A record someone damaged by hand is replaced by what the instance says now.
      if (!isBootMetaError(e, "RECORD_INVALID")) throw e;
    }
    if (current && sameState(s, current.value)) continue;
    if (!(await tx.read(recordPath.release(s.project, s.releaseId)))) continue;
    const next: Instance = { ...current?.value, id: s.id, project: s.project, releaseId: s.releaseId, status: s.status, health: s.health || undefined, lastError: s.lastError || undefined, channel: s.channel ?? current?.value.channel, changedAt: s.at };
    const path = recordPath.instance(s.project, s.id);
    const bytes = encodeRecord("Instance", next, current?.unknown, path);
    tx.write(path, bytes);
    if (current && current.path !== path) tx.remove(current.path);
    wrote.instances.push(`${s.project}/${s.id}`);
    wrote.records.push({ key: `${s.project}\0${s.id}`, bytes, value: next });
  }
  for (const { project, event } of events) {
    if (!(await exists(project))) continue;
    const path = eventPath(project, event.id);
    if (await tx.read(path)) continue;
    writeRecord(tx, "Event", path, event);
    wrote.events.push(`${project}/${event.id}`);
  }
  return wrote;
}

function messageOf(instances: string[], events: string[]): string {
  const parts = [instances.length ? `${instances.length} instance state change(s)` : "", events.length ? `${events.length} event(s)` : ""].filter(Boolean);
  const lines = [...instances.map((i) => `- instance ${i}`), ...events.map((e) => `- event ${e}`)];
  return `fleet: ${parts.join(", ")}\n\nReported to boot-meta serve by followers.\n${lines.slice(0, 50).join("\n")}${lines.length > 50 ? `\n- … and ${lines.length - 50} more` : ""}\n`;
}
