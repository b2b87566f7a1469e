import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, open, readFile, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { BootMetaError, ExitCode } from "./errors.js";

/** Whether anything (a file, a directory) is at `path`; an unreadable path counts as absent. */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Replaces a file atomically: the bytes go to a sibling temp file that is fsynced and renamed
 * over the target, so a crash or a failed encryption never leaves a half-written file and
 * the original stays as it was until the last moment. Keeps the target's mode.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: { mode?: number } = {}): Promise<void> {
  const mode = opts.mode ?? (await stat(path).then((s) => s.mode & 0o7777).catch(() => 0o644));
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Reads a file the user named, with errors that say which file and why. */
export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new BootMetaError("FILE_NOT_FOUND", `${path} does not exist`, ExitCode.FileNotFound, { data: { file: path } });
    if (code === "EISDIR") throw new BootMetaError("FILE_NOT_FOUND", `${path} is a directory, not a file`, ExitCode.FileNotFound, { data: { file: path } });
    if (code === "EACCES") throw new BootMetaError("FILE_NOT_READABLE", `${path} cannot be read: permission denied`, ExitCode.General, { data: { file: path } });
    throw e;
  }
}

/**
 * A private scratch directory (0700) for plaintext the user asked to see in an editor;
 * `dispose` removes it and everything in it.
 */
export async function privateTempDir(): Promise<{ dir: string; dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "boot-meta-"));
  await chmod(dir, 0o700);
  return { dir, dispose: () => rm(dir, { recursive: true, force: true }) };
}
