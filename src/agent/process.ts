import { type ChildProcess, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

/** Runs a command through the shell; resolves with its exit code (127 when it could not start). */
export function shell(cmd: string, env: NodeJS.ProcessEnv, o: { timeoutMs?: number } = {}): Promise<number> {
  return new Promise((resolve) => {
    // stdout of the command goes to our stderr: the agent's stdout carries only its --json lines.
    const p = spawn("/bin/sh", ["-c", cmd], { env, stdio: ["ignore", 2, 2] });
    const timer = o.timeoutMs ? setTimeout(() => p.kill("SIGKILL"), o.timeoutMs) : undefined;
    p.once("error", () => resolve(127));
    p.once("exit", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

/**
 * Waits until `check` says healthy: a URL answers GET with a 2xx, or a command exits 0; tried
 * every ~250 ms until `timeoutMs`. Resolves with the time it took, or the last problem seen.
 */
export async function waitHealthy(check: string, timeoutMs: number, env: NodeJS.ProcessEnv): Promise<{ ok: true; ms: number } | { ok: false; why: string }> {
  const start = Date.now();
  const url = /^https?:\/\//.test(check);
  let last = "no answer yet";
  for (;;) {
    const left = timeoutMs - (Date.now() - start);
    if (left <= 0) return { ok: false, why: `${url ? check : `\`${check}\``} was not healthy within ${timeoutMs / 1000} s (last: ${last})` };
    if (url) {
      try {
        const res = await fetch(check, { signal: AbortSignal.timeout(Math.max(250, Math.min(left, 5000))) });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return { ok: true, ms: Date.now() - start };
        last = `HTTP ${res.status}`;
      } catch (e) {
        last = ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? (e as Error).name;
      }
    } else {
      const code = await shell(check, env, { timeoutMs: Math.max(250, left) });
      if (code === 0) return { ok: true, ms: Date.now() - start };
      last = `exit ${code}`;
    }
    await sleep(250);
  }
}

/**
 * `--supervise`: the agent runs PATH [ARGS] itself, restarts it on an upgrade (SIGTERM, up to
 * 10 s, then SIGKILL), and respawns it when it dies, with a backoff (1 s doubling to 30 s,
 * back to 1 s once it ran a minute) so a binary that crashes at start is not a tight loop.
 */
export class Supervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  private backoffMs = 1000;
  private respawn: NodeJS.Timeout | undefined;
  /** Children the supervisor stopped itself: their exit is no crash to respawn from. */
  private readonly stoppedByUs = new WeakSet<ChildProcess>();

  private readonly path: string;
  private readonly args: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly log: (line: string) => void;

  constructor(path: string, args: string[], env: NodeJS.ProcessEnv, log: (line: string) => void) {
    this.path = path;
    this.args = args;
    this.env = env;
    this.log = log;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts PATH unless it runs already. */
  start(): void {
    if (this.child || this.stopping) return;
    const started = Date.now();
    const p = spawn(this.path, this.args, { env: this.env, stdio: ["ignore", 2, 2] });
    this.child = p;
    p.once("error", (e) => this.log(`cannot start ${this.path}: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    p.once("exit", (code, signal) => {
      if (this.child === p) this.child = undefined;
      if (this.stopping || this.stoppedByUs.has(p)) return;
      if (Date.now() - started > 60_000) this.backoffMs = 1000;
      this.log(`${this.path} exited (${signal ?? `code ${code}`}); starting it again in ${this.backoffMs / 1000} s`);
      this.respawn = setTimeout(() => {
        this.respawn = undefined;
        this.start();
      }, this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
    });
  }

  /** Stops the running child (SIGTERM, then SIGKILL after `graceMs`). */
  async stopChild(graceMs = 10_000): Promise<void> {
    if (this.respawn) clearTimeout(this.respawn);
    this.respawn = undefined;
    const p = this.child;
    this.child = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    this.stoppedByUs.add(p);
    const exited = new Promise<void>((resolve) => p.once("exit", () => resolve()));
    p.kill("SIGTERM");
    const timer = setTimeout(() => p.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** A restart for an upgrade or a rollback: the new PATH runs from now on. */
  async restart(): Promise<void> {
    await this.stopChild();
    this.backoffMs = 1000;
    this.start();
  }

  /** For good: SIGTERM/SIGINT of the agent. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.stopChild();
  }
}
