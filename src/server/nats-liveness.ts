import type { NatsConnection } from "@nats-io/transport-node";
import { type KV, Kvm } from "@nats-io/kv";
import { BootMetaError, ExitCode } from "../errors.js";
import type { InstanceLiveness, LivenessStore } from "./liveness.js";
import { encodeToken } from "./subjects.js";

/** The bucket replicas share unless told otherwise. */
export const LIVENESS_BUCKET = "bootmeta-liveness";

export interface KvLivenessOptions {
  /** The bucket's name (default {@link LIVENESS_BUCKET}). */
  bucket?: string;
  /** Forget an instance not heard from for this long (ms); only applies when this call creates the bucket. Default: kept. */
  ttlMs?: number;
}

/**
 * Key of an instance: `<project>.<id>`, each an {@link encodeToken} with `=` as the escape (KV
 * keys refuse `%`), so a project's instances are the keys `<project>.*`, whatever bytes the
 * names hold.
 */
export const livenessKey = (project: string, id: string) => `${encodeToken(project, "=")}.${encodeToken(id, "=")}`;

/**
 * Liveness shared by every replica: a JetStream key-value bucket (`nats-server -js`), one key
 * per instance holding its last report as JSON, one revision kept. A report taken by any
 * replica is read by all; NATS keeps it across a replica's restart.
 */
export class KvLiveness implements LivenessStore {
  private readonly kv: KV;

  private constructor(kv: KV) {
    this.kv = kv;
  }

  /**
   * Opens the bucket, creating it when there is none (an operator may create it beforehand
   * with replicas or limits of their own: an existing bucket is used as it is).
   * SERVER_NATS_UNAVAILABLE when the server has no JetStream.
   */
  static async open(nc: NatsConnection, o: KvLivenessOptions = {}): Promise<KvLiveness> {
    const name = o.bucket ?? LIVENESS_BUCKET;
    const kvm = new Kvm(nc);
    try {
      const existing = await kvm.open(name);
      try {
        await existing.status();
        return new KvLiveness(existing);
      } catch {
        return new KvLiveness(await kvm.create(name, { history: 1, description: "boot-meta: what each instance last reported", ...(o.ttlMs !== undefined ? { ttl: o.ttlMs } : {}) }));
      }
    } catch (e) {
      throw new BootMetaError("SERVER_NATS_UNAVAILABLE", `cannot open the JetStream key-value bucket ${name} for shared liveness: ${(e as Error).message}`, ExitCode.General, {
        data: { bucket: name },
        suggestions: ["run nats-server with JetStream on (nats-server -js), and give this service's NATS user access to $JS.API.> and $KV.>"],
      });
    }
  }

  async put(entry: InstanceLiveness): Promise<void> {
    await this.kv.put(livenessKey(entry.project, entry.id), JSON.stringify(entry));
  }

  async get(project: string, id: string): Promise<InstanceLiveness | undefined> {
    const e = await this.kv.get(livenessKey(project, id));
    return e && e.operation === "PUT" ? e.json<InstanceLiveness>() : undefined;
  }

  async list(project: string): Promise<InstanceLiveness[]> {
    // One pass over the project's keys (history() ends when it has sent them), not a get per key.
    const latest = new Map<string, InstanceLiveness | undefined>();
    for await (const e of await this.kv.history({ key: `${encodeToken(project, "=")}.*` })) latest.set(e.key, e.operation === "PUT" ? e.json<InstanceLiveness>() : undefined);
    return [...latest.values()].filter((v): v is InstanceLiveness => v !== undefined).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Nothing to release: the connection belongs to the NATS link (nats.ts), which drains it. */
  async close(): Promise<void> {}
}
