import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { chmod, link, open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BootMetaError, ExitCode } from "../errors.js";
import type { BinaryRecord } from "../records/types.js";
import { type Digests, sshFingerprint, sshVerify } from "../ssh/sshsig.js";
import { previousPath } from "./state.js";

/**
 * The steps of an install where a test may have the agent kill itself (`BOOT_META_AGENT_KILL_AT`):
 * each is a moment a power cut could come, and after each PATH must still run.
 */
export type KillPoint = "downloaded" | "verified" | "previous-linked" | "renamed";

function killPoint(at: KillPoint, env: NodeJS.ProcessEnv): void {
  if (env.BOOT_META_AGENT_KILL_AT === at) process.kill(process.pid, "SIGKILL");
}

/** A binary downloaded beside PATH, not yet trusted. */
export interface Downloaded {
  tmp: string;
  sha256: string;
  size: number;
  digests: Digests;
  /** The URL it came from (a sealed one is never shown: see `shownUrl`). */
  from: string;
}

/** How a URL may appear in a message: scheme and host only when it was sealed (it may hold a credential). */
export const shownUrl = (u: string, sealed: boolean): string => {
  if (!sealed) return u.replace(/\/\/[^/@]*@/, "//");
  try {
    const x = new URL(u);
    return `${x.protocol}//${x.host}/…`;
  } catch {
    return "(a sealed URL)";
  }
};

async function* bytesOf(url: string, timeoutMs: number): AsyncGenerator<Uint8Array> {
  if (/^https?:\/\//.test(url)) {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "follow" });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield chunk;
    return;
  }
  const path = url.startsWith("file://") ? fileURLToPath(url) : /^[a-z][a-z0-9+.-]*:\/\//.test(url) ? undefined : url;
  if (path === undefined) throw new Error(`the agent downloads http(s) and file URLs only, not ${url.slice(0, url.indexOf(":"))}://`);
  for await (const chunk of createReadStream(path)) yield chunk as Buffer;
}

/**
 * Fetches the first URL that answers into a new file IN THE DIRECTORY OF `install` (so the
 * final rename stays on one file system and is atomic), hashing while writing. Stops reading
 * once more bytes came than the record says: a wrong file never fills the disk. Throws
 * AGENT_DOWNLOAD_FAILED when no URL gives a file; nothing is left behind then.
 */
export async function download(rec: BinaryRecord, urls: string[], install: string, o: { sealed: boolean; timeoutMs?: number }): Promise<Downloaded> {
  const limit = Number(rec.size);
  const problems: string[] = [];
  for (const url of urls) {
    const tmp = join(dirname(install), `.${basename(install)}.boot-meta-${randomBytes(6).toString("hex")}.download`);
    const h256 = createHash("sha256");
    const h512 = createHash("sha512");
    let size = 0;
    const fh = await open(tmp, "wx", 0o600);
    let ok = false;
    try {
      for await (const chunk of bytesOf(url, o.timeoutMs ?? 300_000)) {
        size += chunk.length;
        if (Number.isFinite(limit) && size > limit) break;
        h256.update(chunk);
        h512.update(chunk);
        await fh.write(chunk);
      }
      await fh.sync();
      ok = true;
    } catch (e) {
      problems.push(`${shownUrl(url, o.sealed)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    } finally {
      await fh.close();
      if (!ok) await rm(tmp, { force: true });
    }
    if (!ok) continue;
    const sha256 = h256.digest();
    return { tmp, sha256: sha256.toString("hex"), size, digests: { sha256, sha512: h512.digest() }, from: url };
  }
  throw new BootMetaError("AGENT_DOWNLOAD_FAILED", `cannot download binary ${rec.sha256.slice(0, 12)} (release ${rec.releaseId}): ${problems.join("; ") || "it has no storage URL"}`, ExitCode.General, {
    data: { sha256: rec.sha256, release: rec.releaseId, problems },
    suggestions: ["check that the storage URLs answer from this machine; the agent keeps running what it runs and tries again"],
  });
}

/**
 * A downloaded file is what its record says (size and SHA-256), and at least one of the
 * record's signatures over those bytes is by a key in keys/signers/ (`signers`: key hex →
 * signer names; a signature that names a signer must be by one of that signer's keys).
 * Throws BINARY_DIGEST_MISMATCH / BINARY_SIGNATURE_INVALID; returns the trusted signer's name.
 */
export function checkDownloaded(d: Downloaded, rec: BinaryRecord, signers: ReadonlyMap<string, readonly string[]>): string {
  if (d.sha256 !== rec.sha256 || String(d.size) !== String(rec.size)) {
    // Nothing about what was read goes into the message (it becomes the instance's reported
    // lastError, which the meta repository's writers read): a record pointing at a local file
    // (file:///etc/…) must not turn the agent into an oracle for that file's size or hash.
    throw new BootMetaError("BINARY_DIGEST_MISMATCH", `the file downloaded for binary ${rec.sha256.slice(0, 12)} (release ${rec.releaseId}) is not that binary: its ${String(d.size) === String(rec.size) ? "SHA-256" : "size"} differs from the record's; it was not installed`, ExitCode.General, {
      data: { sha256: rec.sha256, size: rec.size, release: rec.releaseId },
      suggestions: ["the storage holds another file than the one recorded: upload the recorded build again, or record the new one (`boot-meta binary add`)"],
    });
  }
  const problems: string[] = [];
  for (const s of rec.signatures ?? []) {
    if (s.format && s.format !== "sshsig") {
      problems.push(`a ${s.format} signature (only sshsig is checked)`);
      continue;
    }
    try {
      const v = sshVerify(s.signature, d.digests);
      const holders = signers.get(v.publicKey.toString("hex")) ?? [];
      if (!v.valid) problems.push(`a signature by ${sshFingerprint(v.publicKey)} that does not match these bytes`);
      else if (holders.length === 0) problems.push(`a signature by ${sshFingerprint(v.publicKey)}, which is not a key in keys/signers/`);
      else if (s.signer && !holders.includes(s.signer)) problems.push(`a signature that names ${s.signer} but is by ${holders.join(", ")}'s key`);
      else return s.signer ?? (holders[0] as string);
    } catch {
      problems.push("a malformed signature");
    }
  }
  throw new BootMetaError("BINARY_SIGNATURE_INVALID", `binary ${rec.sha256.slice(0, 12)} (release ${rec.releaseId}) has no valid signature by a trusted signer: ${problems.length ? problems.join("; ") : "it is not signed"}; it was not installed`, ExitCode.General, {
    data: { sha256: rec.sha256, release: rec.releaseId, problems },
    suggestions: ["sign it when recording it (`boot-meta binary add … --sign-key KEY --signer NAME`), with a key committed as keys/signers/NAME.pub"],
  });
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Puts a verified download at PATH so that a kill -9 at any moment leaves a runnable PATH
 * (the old binary or the new one, never a part of one): the new file takes the old one's mode
 * (0755 when there is none) and is on disk (fsynced) before anything moves; the old one is
 * hard-linked to a temp name and renamed over PATH.previous (a rename replaces atomically;
 * PATH itself is never missing); then the new file is renamed over PATH and the directory
 * fsynced, so the rename itself survives a power cut.
 */
export async function installFile(d: Downloaded, install: string, env: NodeJS.ProcessEnv = process.env): Promise<{ hadPrevious: boolean }> {
  killPoint("downloaded", env);
  const old = await stat(install).catch(() => undefined);
  await chmod(d.tmp, old ? old.mode & 0o7777 : 0o755);
  killPoint("verified", env);
  if (old) {
    const keep = `${install}.boot-meta-${randomBytes(6).toString("hex")}.previous`;
    try {
      await link(install, keep);
      await rename(keep, previousPath(install));
    } finally {
      await rm(keep, { force: true });
    }
  }
  killPoint("previous-linked", env);
  await rename(d.tmp, install);
  killPoint("renamed", env);
  await fsyncDir(dirname(install));
  return { hadPrevious: old !== undefined };
}

/** Puts PATH.previous back at PATH (one rename), after a release failed; false when there was none to put back. */
export async function restorePrevious(install: string): Promise<boolean> {
  try {
    await rename(previousPath(install), install);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
  await fsyncDir(dirname(install));
  return true;
}

/** Removes a download that was refused (or not needed): refused bytes never stay on disk. */
export async function discard(d: Downloaded): Promise<void> {
  await rm(d.tmp, { force: true });
}
