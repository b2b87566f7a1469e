import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { BootMetaError, ExitCode } from "../errors.js";
import { decodeRecord } from "./codec.js";
import { getRelease } from "./releases.js";
import { parseOpenSshPrivateKey, parseSshPublicKey, sshSign, sshVerify } from "./sshsig.js";
import { commitRecords, namesIn, nowIso, type Reader, readRecord, recordExists, recordNotFound, recordPath, requireProject, whoAmI, withReader, type WriteOpts, writeRecord } from "./store.js";
import type { BinaryRecord, Channel, Release, Signature } from "./types.js";

/** Trusted signers live in the meta repo, reviewed like everything else. */
export const SIGNERS_DIR = "keys/signers";

/** SHA-256 and size of a file, streamed (binaries can be large). */
export async function digestFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      h.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (e) {
    throw new BootMetaError("FILE_NOT_FOUND", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, ExitCode.FileNotFound, { data: { file: path } });
  }
  return { sha256: h.digest("hex"), size };
}

const URL_RE = /^(s3|https?|file|gs):\/\/\S+$/;

export interface AddBinaryOptions extends WriteOpts {
  release: string;
  os: string;
  arch: string;
  urls: string[];
  /** An unencrypted OpenSSH ed25519 private key file to sign the binary with. */
  signKey?: string;
  /** The signer's name (its public key must be in keys/signers/<name>.pub to be trusted). */
  signer?: string;
  now?: string;
}

/** `boot-meta binary add`: records a built file by its digest (immutable), optionally signed. */
export async function addBinary(repoDir: string, project: string, file: string, o: AddBinaryOptions) {
  for (const u of o.urls) if (!URL_RE.test(u)) throw new BootMetaError("INVALID_ARGUMENT", `--url ${JSON.stringify(u)} must be an s3://, https://, http://, gs:// or file:// URL`, ExitCode.InvalidArgument);
  if (!/^[a-z0-9_]+$/.test(o.os) || !/^[a-z0-9_]+$/.test(o.arch)) throw new BootMetaError("INVALID_ARGUMENT", "--os and --arch are lower-case words like linux and amd64", ExitCode.InvalidArgument);
  const { sha256, size } = await digestFile(file);
  const signatures: Signature[] = [];
  if (o.signKey) {
    const key = parseOpenSshPrivateKey(await readFile(o.signKey, "utf8"), o.signKey);
    signatures.push({ format: "sshsig", signer: o.signer, publicKey: key.publicLine, signature: sshSign(key, await readFile(file)) });
  }
  const createdBy = await whoAmI(repoDir, o.author);
  return commitRecords(repoDir, o, `binary: ${project} ${o.os}/${o.arch} ${sha256.slice(0, 12)} for ${o.release}`, async (tx) => {
    await requireProject(tx, project);
    const release = await getRelease(tx, project, o.release);
    const path = recordPath.binary(project, sha256);
    if ((await tx.read(path)) || (await tx.read(recordPath.binaryIndex(sha256)))) throw recordExists(`binary ${sha256}`, path);
    const rec: BinaryRecord = { sha256, size: String(size), os: o.os, arch: o.arch, project, releaseId: release.id, urls: o.urls, signatures, createdBy, createdAt: o.now ?? nowIso() };
    writeRecord(tx, "Binary", path, rec);
    writeRecord(tx, "BinaryIndex", recordPath.binaryIndex(sha256), { sha256, project });
    return rec;
  });
}

async function binaryByDigest(r: Reader, sha256: string): Promise<BinaryRecord> {
  const idx = await readRecord<{ sha256: string; project: string }>(r, "BinaryIndex", recordPath.binaryIndex(sha256));
  if (!idx) throw recordNotFound(`a binary with sha256 ${sha256}`, "record it with `boot-meta binary add`");
  const rec = await readRecord<BinaryRecord>(r, "Binary", recordPath.binary(idx.value.project, sha256));
  if (!rec) throw recordNotFound(`the record of binary ${sha256} in ${idx.value.project}`);
  return rec.value;
}

async function digestOf(fileOrDigest: string): Promise<string> {
  if (/^[0-9a-f]{64}$/i.test(fileOrDigest) && !existsSync(fileOrDigest)) return fileOrDigest.toLowerCase();
  return (await digestFile(fileOrDigest)).sha256;
}

export interface Provenance {
  commit: string;
  binary: BinaryRecord;
  release: Release;
  /** channels whose current release is this binary's */
  channels: string[];
}

/** `boot-meta binary which FILE|DIGEST`: from a binary back to its release and every repo + commit. */
export async function binaryWhich(repoDir: string, fileOrDigest: string): Promise<Provenance> {
  const sha256 = await digestOf(fileOrDigest);
  return withReader(repoDir, undefined, async (r) => {
    const binary = await binaryByDigest(r, sha256);
    const release = await getRelease(r, binary.project, binary.releaseId);
    const names = (await namesIn(r, `${binary.project}/channels`)).filter((n) => n.endsWith(".json"));
    const files = await r.readMany(names.map((n) => `${binary.project}/channels/${n}`));
    const channels = names
      .filter((n) => {
        const b = files.get(`${binary.project}/channels/${n}`);
        return b && decodeRecord<Channel>("Channel", b, n).value.releaseId === release.id;
      })
      .map((n) => n.replace(/\.json$/, ""));
    return { commit: r.commit, binary, release, channels };
  });
}

export interface VerifyResult {
  file: string;
  sha256: string;
  recorded: boolean;
  signatures: { signer: string | null; trusted: boolean; valid: boolean }[];
  ok: boolean;
}

/** `boot-meta binary verify FILE`: the digest is recorded and a trusted signer signed these bytes. */
export async function binaryVerify(repoDir: string, file: string): Promise<VerifyResult> {
  const { sha256 } = await digestFile(file);
  const { binary, trusted } = await withReader(repoDir, undefined, async (r) => {
    const binary = await binaryByDigest(r, sha256).catch((e: unknown) => {
      if (e instanceof BootMetaError && e.code === "RECORD_NOT_FOUND") return undefined;
      throw e;
    });
    const trusted = new Map<string, string>();
    for (const n of (await namesIn(r, SIGNERS_DIR)).filter((x) => x.endsWith(".pub"))) {
      const line = Buffer.from((await r.read(`${SIGNERS_DIR}/${n}`)) ?? new Uint8Array()).toString("utf8");
      try {
        trusted.set(parseSshPublicKey(line).toString("hex"), n.replace(/\.pub$/, ""));
      } catch {
        /* not an ed25519 key: not trusted */
      }
    }
    return { binary, trusted };
  });
  const bytes = await readFile(file);
  const signatures = (binary?.signatures ?? []).map((s) => {
    const v = sshVerify(s.signature, bytes);
    const signer = trusted.get(v.publicKey.toString("hex"));
    return { signer: signer ?? s.signer ?? null, trusted: signer !== undefined, valid: v.valid };
  });
  return { file, sha256, recorded: binary !== undefined, signatures, ok: binary !== undefined && signatures.some((s) => s.valid && s.trusted) };
}
