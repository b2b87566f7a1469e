import { randomBytes } from "node:crypto";
// node:fs/promises through node:fs's `promises`, read where it is called: loading it costs a
// service's import ~1 ms, and a config load, which reads synchronously, never needs it
// (README "Start-up").
import { closeSync, promises as fsp, fstatSync, openSync, readSync, type Stats, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { BootMetaError, ExitCode } from "./errors.js";
import { checkSize, formatBytes, limitExceeded, limits } from "./limits.js";

/**
 * Whether anything (a file, a directory) is at `path`; an unreadable path counts as absent.
 * A stat answers from the kernel's cache at once: asked synchronously, it costs no trip
 * through libuv's thread pool and no error object when nothing is there (README "Start-up").
 */
export async function exists(path: string): Promise<boolean> {
  return statOrNothing(path) !== undefined;
}

/** `stat` of `path`, asked synchronously (see {@link exists}); undefined when nothing is there or it cannot be looked at. */
export function statOrNothing(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * Replaces a file atomically: the bytes go to a sibling temp file that is fsynced and renamed
 * over the target, so a crash or a failed encryption never leaves a half-written file and
 * the original stays as it was until the last moment. Keeps the target's mode.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: { mode?: number } = {}): Promise<void> {
  const mode = opts.mode ?? (await fsp.stat(path).then((s) => s.mode & 0o7777).catch(() => 0o644));
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  let written = false;
  try {
    const fh = await fsp.open(tmp, "wx", mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.chmod(tmp, mode);
    await fsp.rename(tmp, path);
    written = true;
  } catch (e) {
    throw notWritable(path, e);
  } finally {
    // Whatever failed (the disk full mid-write, the rename refused), no temp file stays behind.
    if (!written) await fsp.rm(tmp, { force: true });
  }
}

const WHY: Record<string, string> = {
  ENOENT: "its folder does not exist",
  ENOTDIR: "a part of its path is a file, not a folder",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EISDIR: "it is a folder",
  ENOSPC: "the disk is full",
  EDQUOT: "the disk quota is used up",
  EROFS: "the file system is read-only",
};

/** FILE_NOT_WRITABLE naming the path and the file system's reason; the file is as it was. */
function notWritable(path: string, e: unknown): BootMetaError {
  const code = (e as NodeJS.ErrnoException).code ?? "";
  return new BootMetaError("FILE_NOT_WRITABLE", `cannot write ${path}: ${WHY[code] ?? (e instanceof Error ? e.message : String(e))}; nothing was written`, ExitCode.General, {
    data: { path, errno: code || undefined },
    suggestions: code === "ENOENT" ? [`create the folder first (mkdir -p ${dirname(path)}), or write elsewhere`] : ["check the path and its permissions"],
    cause: e,
  });
}

/**
 * Reads a whole file, but never more than the file-size limit (src/limits.ts): a regular
 * file's size is checked before anything is read, and anything else (a FIFO, a device, a
 * file growing meanwhile) is read until the limit is passed and then refused. Errors other
 * than INPUT_TOO_LARGE are the file system's own.
 *
 * A regular file is read synchronously: the files read this way are keys, bootstrap files and
 * documents of a few KiB, where each of the four steps (open, stat, read, close) costs more as
 * a trip through libuv's thread pool than as the system call itself — a config load reads
 * several (README "Start-up"). Anything else (a FIFO, `/dev/stdin`) may block until a writer
 * comes, so it is read asynchronously.
 */
export async function readFileCapped(path: string, what: string = path): Promise<Buffer> {
  const max = limits().maxFileBytes;
  if (statOrNothing(path)?.isFile()) {
    const fd = openSync(path, "r");
    try {
      const st = fstatSync(fd);
      if (st.isFile()) {
        checkSize(st.size, what);
        return readCappedSync((buf) => readSync(fd, buf, 0, buf.length, null), st.size, max, what);
      }
    } finally {
      closeSync(fd);
    }
  }
  const fh = await fsp.open(path, "r");
  try {
    const st = await fh.stat();
    if (st.isFile()) checkSize(st.size, what);
    return await readCapped((buf) => fh.read(buf, 0, buf.length, null).then((r) => r.bytesRead), st.isFile() ? st.size : 0, max, what);
  } finally {
    await fh.close();
  }
}

/** Standard input, read up to the file-size limit (a value piped in by `set --value-stdin`). */
export async function readStdinCapped(what = "standard input", stdin: NodeJS.ReadableStream = process.stdin): Promise<Buffer> {
  const max = limits().maxFileBytes;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const c of stdin) {
    const chunk = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    total += chunk.length;
    if (total > max) {
      (stdin as { destroy?: () => void }).destroy?.();
      throw limitExceeded("maxFileBytes", what, `is more than ${formatBytes(max)}`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readCapped(read: (buf: Buffer) => Promise<number>, sizeHint: number, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(readSize(total, sizeHint, max));
    const n = await read(buf);
    if (n === 0) break;
    total = kept(chunks, buf, n, total, max, what);
  }
  return joined(chunks);
}

/** {@link readCapped} with a synchronous `read`. */
function readCappedSync(read: (buf: Buffer) => number, sizeHint: number, max: number, what: string): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const buf = Buffer.allocUnsafe(readSize(total, sizeHint, max));
    const n = read(buf);
    if (n === 0) break;
    total = kept(chunks, buf, n, total, max, what);
  }
  return joined(chunks);
}

/** One read for a regular file (its size, plus one byte to see the end); 64 KiB steps otherwise. */
function readSize(total: number, sizeHint: number, max: number): number {
  return Math.min(max + 1 - total, total === 0 && sizeHint > 0 ? sizeHint + 1 : 65536);
}

/** Keeps the `n` bytes read into `buf`; INPUT_TOO_LARGE once the total passes `max`. */
function kept(chunks: Buffer[], buf: Buffer, n: number, total: number, max: number, what: string): number {
  chunks.push(buf.subarray(0, n));
  if (total + n > max) throw limitExceeded("maxFileBytes", what, `is more than ${formatBytes(max)}`);
  return total + n;
}

function joined(chunks: Buffer[]): Buffer {
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** Reads a file the user named (`what`: as they named it), with errors that say which file and why. */
export async function readUserFile(path: string, what: string = path): Promise<Uint8Array> {
  try {
    return await readFileCapped(path, what);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new BootMetaError("FILE_NOT_FOUND", `${path} does not exist`, ExitCode.FileNotFound, { data: { file: path } });
    if (code === "EISDIR") throw new BootMetaError("FILE_NOT_FOUND", `${path} is a directory, not a file`, ExitCode.FileNotFound, { data: { file: path } });
    if (code === "EACCES") throw new BootMetaError("FILE_NOT_READABLE", `${path} cannot be read: permission denied`, ExitCode.General, { data: { file: path } });
    throw e;
  }
}
