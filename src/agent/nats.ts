import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { BootMetaError, ExitCode } from "../errors.js";
import { channelSubject } from "../records/subjects.js";
import { jittered, type Waker } from "./follow.js";

/**
 * `--nats URL`: subscribes to the channel's subject (`bootmeta.<project>.channels.<channel>`,
 * which the service publishes on every commit that changes the channel's file) and pokes the
 * waker on each message. The client reconnects by itself; a first connection that fails is
 * tried again with a jittered backoff, and the poll goes on meanwhile.
 */
/** Where `--nats` points: servers without credentials, the credentials apart, and a name to show. */
export interface NatsTarget {
  servers: string[];
  auth: { user: string; pass: string } | { token: string } | undefined;
  shown: string;
}

/** Parses `nats://[user:pass@|token@]host[:port]`, comma-separated for a cluster. Throws INVALID_ARGUMENT. */
export function parseNats(url: string): NatsTarget {
  const shown = url.replace(/\/\/[^/@]*@/g, "//***@");
  // Credentials go to the client as options, the servers without them (so no status or error of the client can carry them).
  let auth: NatsTarget["auth"];
  const servers: string[] = [];
  for (const part of url.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    let u: URL;
    try {
      u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(part) ? part : `nats://${part}`);
      if (u.protocol !== "nats:" || u.hostname === "") throw new Error("not nats");
    } catch {
      throw new BootMetaError("INVALID_ARGUMENT", `--nats ${shown} is not a NATS URL (nats://[user:pass@]host[:port], comma-separated for a cluster)`, ExitCode.InvalidArgument);
    }
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    if (user !== "") auth = pass !== "" ? { user, pass } : { token: user };
    servers.push(`${u.hostname}:${u.port || "4222"}`);
  }
  if (servers.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "--nats is empty: give nats://host[:port]", ExitCode.InvalidArgument);
  return { servers, auth, shown };
}

export async function followNats(t: NatsTarget, project: string, channel: string, o: { waker: Waker; signal: AbortSignal; say: (line: string) => void }): Promise<void> {
  const { servers, auth, shown } = t;
  let backoff = 1000;
  let warned = false;
  while (!o.signal.aborted) {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers, ...auth, name: `boot-meta agent ${hostname()} ${process.pid}`, maxReconnectAttempts: -1, reconnectTimeWait: 1_000 });
      if (warned) o.say(`connected to NATS at ${shown}`);
      warned = false;
      const sub = nc.subscribe(channelSubject(project, channel));
      o.signal.addEventListener("abort", () => void nc?.close(), { once: true });
      o.waker.poke();
      for await (const _ of sub) o.waker.poke();
      return;
    } catch (e) {
      if (o.signal.aborted) return;
      if (!warned) o.say(`warning: cannot reach NATS at ${shown} (${(e as Error).message}); polling until it is back`);
      warned = true;
      await nc?.close().catch(() => undefined);
    }
    await sleep(jittered(backoff), undefined, { signal: o.signal }).catch(() => undefined);
    backoff = Math.min(backoff * 2, 30_000);
  }
}
