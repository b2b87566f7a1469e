// Processes the service benchmarks start (boot-meta serve, nginx, load generators, clients):
// every one is tracked and ended when the bench ends, fails, or is interrupted (Ctrl-C,
// SIGTERM, SIGHUP), and temporary directories go with them. Also: pinning to a core with
// taskset (DESIGN.md "Benchmarks on 2 cores") and the CPU time a process tree used.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const root = join(import.meta.dirname, "..");
const live = new Set();
const dirs = new Set();

function killAll(signal) {
  for (const c of live) {
    try {
      process.kill(c.pid, signal);
    } catch {
      /* already gone */
    }
  }
}
function removeDirs() {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.on("exit", () => {
  killAll("SIGKILL");
  removeDirs();
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`\n${sig}: stopping the processes this bench started`);
    // What was waiting on them now fails: that is expected, not worth a stack trace.
    process.on("unhandledRejection", () => process.exit(130));
    process.on("uncaughtException", () => process.exit(130));
    killAll("SIGTERM");
    // The exit handler SIGKILLs whatever did not stop and removes the temporary directories.
    setTimeout(() => process.exit(130), 300).unref();
  });
}

/** Removes `dir` when the bench exits, however it exits. */
export function tempDir(dir) {
  dirs.add(dir);
  return dir;
}

/** Spawns a process that is ended with the bench. */
export function start(file, args, options = {}) {
  const child = spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  live.add(child);
  child.on("exit", () => live.delete(child));
  return child;
}

/** Asks a process to stop (SIGTERM), then SIGKILLs it after `ms`; resolves when it has gone. */
export function stop(child, ms = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill("SIGKILL"), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** The first line a process prints on stdout (rejects, with its stderr, if it exits first). */
export function firstLine(child, what) {
  let err = "";
  child.stderr?.on("data", (d) => (err = (err + d).slice(-4000)));
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once("line", (l) => resolve(l));
    child.once("exit", (code, sig) => reject(new Error(`${what} exited (${code ?? sig}) before saying anything: ${err.trim()}`)));
  });
}

/** Runs a process to its end; resolves with its stdout, rejects with its stderr. */
export function finish(child, what) {
  let out = "";
  let err = "";
  child.stdout?.on("data", (d) => (out += d));
  child.stderr?.on("data", (d) => (err = (err + d).slice(-4000)));
  return new Promise((resolve, reject) =>
    // "close", not "exit": stdout has been read to its end.
    child.once("close", (code, sig) => (code === 0 ? resolve(out) : reject(new Error(`${what} failed (${code ?? sig}): ${err.trim()}`)))),
  );
}

/** Whether `taskset` (util-linux) is here and there are two cores to pin to (BENCH_PIN=0: do not pin). */
export const pinning = (() => {
  if (process.env.BENCH_PIN === "0") return { ok: false, why: "BENCH_PIN=0" };
  if (availableParallelism() < 2) return { ok: false, why: `only ${availableParallelism()} core` };
  try {
    execFileSync("taskset", ["-c", "0", "true"], { stdio: "ignore" });
    return { ok: true };
  } catch {
    return { ok: false, why: "taskset not found (Debian: apt-get install util-linux)" };
  }
})();

/** `[file, args]` that run `file args` on `core` when pinning is possible (taskset execs it: same pid). */
export function pinned(core, file, args) {
  return pinning.ok ? ["taskset", ["-c", String(core), file, ...args]] : [file, args];
}

/** A TCP port free right now on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const TICK_MS = 1000 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim() || 100);

function descendants(pid) {
  const out = [pid];
  const tasks = `/proc/${pid}/task`;
  if (!existsSync(tasks)) return out;
  for (const t of readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean)) out.push(...descendants(Number(t)));
  return out;
}

/** CPU time (user + system, ms) used so far by a process and its live descendants (Linux /proc). */
export function cpuMs(pid) {
  let ticks = 0;
  for (const p of descendants(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      /* it ended meanwhile */
    }
  }
  return ticks * TICK_MS;
}

/** Waits until something accepts connections at `url` (GET answers anything). */
export async function waitForHttp(url, ms = 10_000) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch (e) {
      if (Date.now() > until) throw new Error(`nothing answers at ${url} after ${ms} ms: ${e.cause?.code ?? e.message}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
