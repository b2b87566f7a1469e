import { accessSync, constants, rmSync, statSync } from "node:fs";
import { chmod, lstat, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Private scratch directories for plaintext a user asked to see in an editor.
 *
 * - On a tmpfs when there is one (`/dev/shm`, else `$XDG_RUNTIME_DIR`, else the temp dir), so
 *   the plaintext is in memory, not on a disk that keeps it after the file is removed.
 * - Mode 0700, named `boot-meta-edit-<pid>-<random>` after the process that owns it.
 * - Removed when the work is done, when the process exits, and on SIGINT, SIGTERM and SIGHUP
 *   (then the signal is raised again, so the process still ends as the signal says).
 * - One left by a process killed outright (SIGKILL, a power cut on a disk) is removed by the
 *   next one made in the same place: its owner's pid is no longer running.
 */

const PREFIX = "boot-meta-edit-";
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function writableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where scratch directories go: the first writable of `/dev/shm`, `$XDG_RUNTIME_DIR`, the temp dir. */
export function scratchRoot(env: NodeJS.ProcessEnv = process.env, shm = "/dev/shm"): string {
  for (const dir of [shm, env.XDG_RUNTIME_DIR]) if (dir && writableDir(dir)) return dir;
  return tmpdir();
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it runs, as someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the scratch directories in `root` whose owning process is gone: only real
 * directories (not symlinks) owned by this user, so another user's names in a shared
 * /dev/shm are never followed or touched. A pid reused by a live process keeps its
 * directory until that process ends too.
 */
export async function sweepScratch(root: string): Promise<string[]> {
  const uid = process.getuid?.();
  const removed: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const m = /^boot-meta-edit-(\d+)-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || running(pid)) continue;
    const path = join(root, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    // Two sweepers may race for the same leftover: whoever loses finds nothing to remove.
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
    removed.push(path);
  }
  return removed;
}

/**
 * Runs `fn` with a new private scratch directory that is removed afterwards, whatever
 * happens: when `fn` settles, and on SIGINT, SIGTERM or SIGHUP while it runs.
 */
export async function withScratchDir<T>(fn: (dir: string) => Promise<T>, o: { root?: string } = {}): Promise<T> {
  const root = o.root ?? scratchRoot();
  await sweepScratch(root);
  const dir = await mkdtemp(join(root, `${PREFIX}${process.pid}-`));
  await chmod(dir, 0o700);
  const handlers = SIGNALS.map((signal) => {
    const handler = () => {
      rmSync(dir, { recursive: true, force: true });
      uninstall();
      // Raised again with our handler gone: the default action (or execa's, which first
      // ends the editor) ends the process, and its exit status still names the signal.
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  // A process that ends with `fn` still pending (its last handle closed, process.exit
  // called elsewhere) never runs the finally below.
  const onExit = () => rmSync(dir, { recursive: true, force: true });
  process.on("exit", onExit);
  const uninstall = () => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
    process.removeListener("exit", onExit);
  };
  try {
    return await fn(dir);
  } finally {
    uninstall();
    await rm(dir, { recursive: true, force: true });
  }
}
