import { createHash } from "node:crypto";
import { mkdir, readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../io.js";
import { limits } from "../limits.js";
import { type ServedConfig, servedFrom } from "./remote.js";

/**
 * The last answer of the config service that this reader verified (every layer's MAC and
 * binding checked with its own key), kept on disk to start from when the service cannot be
 * reached. It is ciphertext, as the service sent it; still private to the user (0600 in a 0700
 * directory). Whoever can write the file is not trusted: a copy is used only after its layers
 * open again with the reader's key, MAC and binding checked.
 */

/** `<cacheDir>/<sha256(server, project, env)[0:16]>.json`; cacheDir defaults to $XDG_CACHE_HOME/boot-meta/server. */
export function cacheFileFor(o: { cacheDir?: string; environment: NodeJS.ProcessEnv }, server: string, project: string, env: string): string {
  const e = o.environment;
  const root = o.cacheDir ?? join(e.XDG_CACHE_HOME || join(e.HOME ?? homedir(), ".cache"), "boot-meta", "server");
  return join(root, `${createHash("sha256").update(`${server}\0${project}\0${env}`).digest("hex").slice(0, 16)}.json`);
}

/**
 * The cached answer, shape-checked; `missing` when there is none, `unusable` (with why) when
 * the file cannot be read as one. Whether its content is genuine is for the caller to find out
 * by decrypting it.
 */
export async function readCachedAnswer(file: string, project: string, env: string): Promise<{ answer: ServedConfig } | { missing: true } | { unusable: string }> {
  let text: string;
  try {
    // Three layers of at most the file-size limit each, as JSON strings: no more is read.
    const max = 8 * limits().maxFileBytes + 64 * 1024;
    if ((await stat(file)).size > max) return { unusable: `it is larger than ${max} bytes` };
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return { missing: true };
    return { unusable: code ?? (e instanceof Error ? e.message : String(e)) };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { unusable: "it is not JSON" };
  }
  const s = servedFrom(v, project, env);
  return "invalid" in s ? { unusable: s.invalid } : { answer: s };
}

/** Keeps a verified answer: written beside and renamed into place, so a reader never sees half of one. */
export async function writeCachedAnswer(file: string, answer: ServedConfig): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, `${JSON.stringify(answer)}\n`, { mode: 0o600 });
}
