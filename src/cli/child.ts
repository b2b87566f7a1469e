import { constants } from "node:os";
import { execa, type ResultPromise } from "execa";
import { BootMetaError, ExitCode } from "../errors.js";

/** What to run: no shell (give `/bin/sh -c …` for one), standard input and error inherited. */
export interface ChildSpec {
  command: string;
  args: string[];
  /** The child's whole environment: nothing of ours is added. */
  env: Record<string, string>;
  cwd?: string;
  /** `stderr` sends the child's standard output to our standard error (for `--json`, whose stdout is the answer). */
  stdout?: "inherit" | "stderr";
}

export interface SuperviseOptions {
  /** How long a restart waits after SIGTERM before SIGKILL (default 10 s). */
  graceMs?: number;
  /** Told after each restart, with the number of restarts so far. */
  onRestart?: (restarts: number) => void;
}

export interface Supervisor {
  /**
   * Stops the child (SIGTERM, then SIGKILL after the grace period) and starts it again with
   * `env`. Calls during a restart coalesce: the newest env is the one started. Does nothing
   * once we are going down (a SIGINT/SIGTERM was passed on, or the child ended).
   */
  restart(env: Record<string, string>): Promise<void>;
  /** Sends a signal to the running child (`--watch --signal SIGHUP`). */
  signal(sig: NodeJS.Signals): void;
  /** How many times the child was restarted. */
  readonly restarts: number;
  /**
   * Settles when the child ended on its own or after a signal we passed on: its exit code,
   * or 128 + the signal's number when a signal ended it (as a shell reports it). Rejects with
   * `RUN_COMMAND_NOT_FOUND` / `RUN_COMMAND_NOT_STARTED` when the command could not be started.
   */
  readonly exited: Promise<number>;
}

/** Signals we pass on to the child: a supervisor (docker stop, systemd, Kubernetes) sends them to us alone. */
const FORWARDED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR2"];
/**
 * Signals a terminal sends to its whole foreground process group, the child included: passed
 * on as well they would reach it twice, and many Go servers treat a second interrupt as
 * "exit now, skip the graceful shutdown". SIGUSR1 is Node's (its inspector) and not taken.
 */
const FROM_TERMINAL: ReadonlySet<NodeJS.Signals> = new Set(["SIGINT", "SIGQUIT", "SIGHUP"]);
/** Signals after which we stop restarting: we are being stopped, and go down with the child. */
const STOPPING: ReadonlySet<NodeJS.Signals> = new Set(["SIGINT", "SIGTERM", "SIGQUIT"]);

/**
 * Runs a command as boot-meta's child and stays its parent: signals sent to us are passed
 * on (see FORWARDED and FROM_TERMINAL), stdin and stderr are inherited, and `exited` gives
 * the exit code to leave with. The one place boot-meta runs a long-lived child
 * (`exec-env`, `run`).
 */
export function superviseChild(first: ChildSpec, o: SuperviseOptions = {}): Supervisor {
  const graceMs = o.graceMs ?? 10_000;
  let spec = first;
  let current: ResultPromise | undefined;
  let replacing: ResultPromise | undefined;
  let stopping = false;
  let restarts = 0;
  let pendingEnv: Record<string, string> | undefined;
  let restarting: Promise<void> | undefined;
  let settle!: { resolve(code: number): void; reject(e: unknown): void };
  const exited = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));

  const onSignal = (sig: NodeJS.Signals): void => {
    if (STOPPING.has(sig)) stopping = true;
    if (FROM_TERMINAL.has(sig) && process.stdin.isTTY) return;
    current?.kill(sig);
  };
  for (const sig of FORWARDED) process.on(sig, onSignal);

  let done = false;
  const finish = (outcome: { code: number } | { error: unknown }): void => {
    if (done) return;
    done = true;
    stopping = true;
    for (const sig of FORWARDED) process.off(sig, onSignal);
    if ("code" in outcome) settle.resolve(outcome.code);
    else settle.reject(outcome.error);
  };

  const start = (): void => {
    const child = execa(spec.command, spec.args, {
      stdin: "inherit",
      stdout: spec.stdout === "stderr" ? 2 : "inherit",
      stderr: "inherit",
      env: spec.env,
      extendEnv: false,
      cwd: spec.cwd,
      reject: false,
      // Our own grace period (restart) or the caller's (a forwarded SIGTERM) decides on SIGKILL.
      forceKillAfterDelay: false,
    });
    current = child;
    void child.then((r) => {
      if (child === replacing) return; // restart() waits for it
      if (r.exitCode === undefined && r.signal === undefined) finish({ error: notStarted(spec.command, r.code) });
      else finish({ code: exitCodeOf(r) });
    });
  };

  const restart = (env: Record<string, string>): Promise<void> => {
    if (stopping) return Promise.resolve();
    pendingEnv = env;
    restarting ??= (async () => {
      while (pendingEnv !== undefined && !stopping && current) {
        const next = pendingEnv;
        pendingEnv = undefined;
        const old = current;
        replacing = old;
        old.kill("SIGTERM");
        const kill = setTimeout(() => old.kill("SIGKILL"), graceMs);
        const r = await old;
        clearTimeout(kill);
        replacing = undefined;
        if (stopping) {
          // A SIGINT/SIGTERM came while it stopped: that is how we end, not with a new child.
          finish({ code: exitCodeOf(r) });
          return;
        }
        spec = { ...spec, env: next };
        start();
        restarts++;
        o.onRestart?.(restarts);
      }
    })().finally(() => {
      restarting = undefined;
    });
    return restarting;
  };

  try {
    start();
  } catch (e) {
    // execa throws at once for options Node refuses (a NUL byte in an argument, say).
    finish({ error: e });
  }
  return {
    restart,
    signal: (sig) => void current?.kill(sig),
    get restarts() {
      return restarts;
    },
    exited,
  };
}

/** Runs a command to its end as {@link superviseChild} does, and returns the exit code to leave with. */
export function runChild(spec: ChildSpec): Promise<number> {
  return superviseChild(spec).exited;
}

function exitCodeOf(r: { exitCode?: number; signal?: string }): number {
  if (r.exitCode !== undefined) return r.exitCode;
  const n = r.signal ? constants.signals[r.signal as NodeJS.Signals] : undefined;
  return n === undefined ? 1 : 128 + n;
}

function notStarted(command: string, code: string | undefined): BootMetaError {
  if (code === "ENOENT") {
    return new BootMetaError("RUN_COMMAND_NOT_FOUND", `cannot run ${command}: no such file, and none of that name on PATH`, ExitCode.CommandNotFound, {
      data: { command },
      suggestions: ["check the command after --, or give its full path"],
    });
  }
  return new BootMetaError("RUN_COMMAND_NOT_STARTED", `cannot run ${command}: ${code ?? "it could not be started"}${code === "EACCES" ? " (not executable, or a directory)" : ""}`, ExitCode.CommandNotStarted, {
    data: { command, cause: code },
    suggestions: code === "EACCES" ? [`make it executable: chmod +x ${command}`] : [],
  });
}
