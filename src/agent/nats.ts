import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { channelSubject } from "../records/subjects.js";
import { jittered, type Waker } from "./follow.js";

/**
 * `--nats URL`: subscribes to the channel's subject (`bootmeta.<project>.channels.<channel>`,
 * which the service publishes on every commit that changes the channel's file) and pokes the
 * waker on each message. The client reconnects by itself; a first connection that fails is
 * tried again with a jittered backoff, and the poll goes on meanwhile.
 */
export async function followNats(url: string, project: string, channel: string, o: { waker: Waker; signal: AbortSignal; say: (line: string) => void }): Promise<void> {
  const shown = url.replace(/\/\/[^/@]*@/g, "//***@");
  const servers = url.split(",").map((s) => s.trim()).filter((s) => s !== "");
  let backoff = 1000;
  let warned = false;
  while (!o.signal.aborted) {
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ servers, name: `boot-meta agent ${hostname()} ${process.pid}`, maxReconnectAttempts: -1, reconnectTimeWait: 1_000 });
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
