import { setTimeout as sleep } from "node:timers/promises";
import { SseParser } from "../config/sse.js";
import { type AgentOptions, describeStep, reconcile, type StepResult } from "./agent.js";

/** `ms` ±25%: a thousand agents started together spread their polls instead of arriving as one. */
export const jittered = (ms: number, random: () => number = Math.random): number => Math.round(ms * (0.75 + 0.5 * random()));

/** Wake-ups from a change stream, kept until the loop next waits (a change during a step is not lost). */
export class Waker {
  private pending = false;
  private wake: (() => void) | undefined;

  poke(): void {
    if (this.wake) {
      const w = this.wake;
      this.wake = undefined;
      w();
    } else this.pending = true;
  }

  /** Resolves on a poke, after `ms`, or when `signal` aborts. */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false;
      return;
    }
    const ac = new AbortController();
    const stop = () => ac.abort();
    signal.addEventListener("abort", stop, { once: true });
    try {
      await Promise.race([sleep(ms, undefined, { signal: ac.signal }).catch(() => undefined), new Promise<void>((resolve) => (this.wake = resolve))]);
    } finally {
      this.wake = undefined;
      ac.abort();
      signal.removeEventListener("abort", stop);
    }
  }
}

/**
 * Follows the service's change stream (`GET /v1/events?path=<project>/channels/<channel>.json`
 * and the project's binaries) and pokes `waker` on each change, and once more after every
 * reconnect (something may have changed while it was away). A stream that fails is tried
 * again after a jittered backoff (1 s doubling to 30 s): never a tight loop; the poll goes on
 * meanwhile.
 */
export async function followStream(base: URL, paths: string[], o: { token?: string; waker: Waker; signal: AbortSignal; say: (line: string) => void }): Promise<void> {
  let backoff = 1000;
  let lastId: string | undefined;
  let warned = false;
  while (!o.signal.aborted) {
    const url = new URL("/v1/events", base);
    for (const p of paths) url.searchParams.append("path", p);
    try {
      const res = await fetch(url, { signal: o.signal, headers: { accept: "text/event-stream", ...(lastId ? { "last-event-id": lastId } : {}), ...(o.token ? { authorization: `Bearer ${o.token}` } : {}) } });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      if (warned) o.say(`the change stream of ${base.origin} is back`);
      warned = false;
      backoff = 1000;
      o.waker.poke();
      const parser = new SseParser(lastId);
      const dec = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        for (const e of parser.push(dec.decode(chunk, { stream: true }))) {
          lastId = e.id;
          if (e.event === "change" || e.event === "reset") o.waker.poke();
        }
      }
    } catch (e) {
      if (o.signal.aborted) return;
      if (!warned) o.say(`warning: the change stream of ${base.origin} is down (${((e as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (e as Error).message}); polling until it is back`);
      warned = true;
    }
    await sleep(jittered(backoff), undefined, { signal: o.signal }).catch(() => undefined);
    backoff = Math.min(backoff * 2, 30_000);
  }
}

/**
 * The agent's loop: reconcile, then wait for a change (a stream's poke) or the jittered poll
 * period, until `signal` aborts (SIGTERM/SIGINT). A source that cannot be reached is tried
 * again with a backoff (2 s doubling up to the poll period) while PATH keeps running.
 */
export async function follow(o: AgentOptions & { intervalMs: number; signal: AbortSignal; waker: Waker; onStep: (s: StepResult) => void }): Promise<void> {
  let away = 0;
  let lastLine: string | undefined;
  while (!o.signal.aborted) {
    const s = await reconcile(o);
    o.onStep(s);
    const line = describeStep(s);
    // An unchanged "up to date" every poll is noise: a person sees it once.
    if (line && line !== lastLine) o.say(line);
    lastLine = line;
    away = s.action === "unreachable" ? away + 1 : 0;
    const ms = away > 0 ? Math.min(2000 * 2 ** (away - 1), o.intervalMs) : o.intervalMs;
    await o.waker.wait(jittered(ms), o.signal);
  }
}
