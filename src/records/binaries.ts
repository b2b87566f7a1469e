import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { BootMetaError, ExitCode } from "../errors.js";
import { validateName } from "../meta/layout.js";
import type { Tx } from "../meta/store.js";
import type { IdentitySet } from "../sops/identities.js";
import type { SelectionRule } from "../sops/selection.js";
import { decodeRecord, encodeRecord } from "./codec.js";
import { getRelease } from "./releases.js";
import { type Digests, parseOpenSshPrivateKey, parseSshPublicKey, sshSign, sshVerify } from "./sshsig.js";
import { commitRecords, decodeAt, namesIn, nowIso, type Reader, readRecord, recordExists, recordNotFound, recordPath, requireProject, withReader, type WriteOpts, writeRecord } from "./store.js";
import type { BinaryRecord, Channel, Release, Signature } from "./types.js";

/** Trusted signers live in the meta repo, reviewed like everything else. */
export const SIGNERS_DIR = "keys/signers";

/**
 * SHA-256 and size of a file, streamed (binaries can be large), with the digests an SSH
 * signature of it needs, from the same single read.
 */
export async function digestFile(path: string): Promise<{ sha256: string; size: number; digests: Digests }> {
  const h = createHash("sha256");
  const h512 = createHash("sha512");
  let size = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      h.update(chunk as Buffer);
      h512.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (e) {
    throw new BootMetaError("FILE_NOT_FOUND", `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, ExitCode.FileNotFound, { data: { file: path } });
  }
  const sha256 = h.digest();
  return { sha256: sha256.toString("hex"), size, digests: { sha256, sha512: h512.digest() } };
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
  /**
   * The storage URLs are secret: the record is written as a SOPS file whose `urls` are
   * encrypted (everything else stays readable) to the project's readers, or to the readers
   * of this env when a string is given.
   */
  secret?: boolean | string;
  now?: string;
}

/** `boot-meta binary add`: records a built file by its digest (immutable), optionally signed. */
export async function addBinary(repoDir: string, project: string, file: string, o: AddBinaryOptions) {
  for (const u of o.urls) if (!URL_RE.test(u)) throw new BootMetaError("INVALID_ARGUMENT", `--url ${JSON.stringify(u)} must be an s3://, https://, http://, gs:// or file:// URL`, ExitCode.InvalidArgument);
  if (!/^[a-z0-9_]+$/.test(o.os) || !/^[a-z0-9_]+$/.test(o.arch)) throw new BootMetaError("INVALID_ARGUMENT", "--os and --arch are lower-case words like linux and amd64", ExitCode.InvalidArgument);
  const { sha256, size, digests } = await digestFile(file);
  const signatures: Signature[] = [];
  if (o.signKey) {
    const key = parseOpenSshPrivateKey(await readFile(o.signKey, "utf8"), o.signKey);
    signatures.push({ format: "sshsig", signer: o.signer, publicKey: key.publicLine, signature: sshSign(key, digests) });
  }
  return commitRecords(repoDir, o, `binary: ${project} ${o.os}/${o.arch} ${sha256.slice(0, 12)} for ${o.release}`, async (tx) => {
    await requireProject(tx, project);
    const release = await getRelease(tx, project, o.release);
    const index = recordPath.binaryIndex(sha256);
    for (const p of [index, recordPath.binary(project, sha256), recordPath.sealedBinary(project, sha256)]) if (await tx.read(p)) throw recordExists(`binary ${sha256}`, p);
    const sealedEnv = typeof o.secret === "string" ? validateName("env", o.secret) : undefined;
    const rec: BinaryRecord = { sha256, size: String(size), os: o.os, arch: o.arch, project, releaseId: release.id, urls: o.urls, signatures, createdBy: tx.author, createdAt: o.now ?? nowIso(), sealedEnv };
    if (o.secret) {
      const path = recordPath.sealedBinary(project, sha256);
      tx.write(path, await sealBinary(tx, rec, path));
    } else writeRecord(tx, "Binary", recordPath.binary(project, sha256), rec);
    writeRecord(tx, "BinaryIndex", recordPath.binaryIndex(sha256), { sha256, project });
    return rec;
  });
}

/** Only the storage URLs are encrypted: the rest of a secret binary's record stays searchable. */
const SEALED: SelectionRule = { kind: "encrypted_regex", value: "^urls$" };

/** A binary record as a SOPS JSON file (the sops CLI opens it too) with its URLs encrypted. */
async function sealBinary(tx: Tx, rec: BinaryRecord, path: string): Promise<Uint8Array> {
  // The SOPS engine and the access model load only when a record is sealed or opened: most
  // lookups never need them, and they are most of a command's start-up.
  const [{ readState }, { recipientsOf, sealedReaders }, { encryptBytes }] = await Promise.all([import("../meta/repo.js"), import("../meta/model.js"), import("../sops/engine.js")]);
  const state = await readState(tx);
  const env = rec.sealedEnv;
  const readers = sealedReaders(state.config, env);
  const { recipients } = recipientsOf(state, readers);
  if (recipients.length === 0) {
    throw new BootMetaError("META_NO_READERS", `nobody with a key may read the storage details of this binary: the rules name ${readers.join(", ") || "no one"}${env ? ` for ${env}` : ""}, and none of them has a key in keys/`, ExitCode.General, {
      suggestions: ["add keys first: `boot-meta keys add NAME --key age1… --group admins`"],
    });
  }
  return encryptBytes(encodeRecord("Binary", rec, {}, path), { format: "json", keyGroups: [recipients], selection: SEALED, path });
}

/** A binary's record; `sealed` holds the file's bytes when its URLs are SOPS-encrypted. */
async function binaryByDigest(r: Reader, sha256: string): Promise<{ record: BinaryRecord; path: string; sealed?: Uint8Array }> {
  const idx = await readRecord<{ sha256: string; project: string }>(r, "BinaryIndex", recordPath.binaryIndex(sha256), { sha256 });
  if (!idx) throw recordNotFound(`a binary with sha256 ${sha256}`, "record it with `boot-meta binary add`");
  validateName("project", idx.value.project);
  let path = recordPath.binary(idx.value.project, sha256);
  let bytes = await r.read(path);
  if (!bytes) bytes = await r.read((path = recordPath.sealedBinary(idx.value.project, sha256)));
  if (!bytes) throw recordNotFound(`the record of binary ${sha256} in ${idx.value.project}`);
  const rec = decodeAt<BinaryRecord>("Binary", bytes, path, { sha256, project: idx.value.project });
  return { record: rec.value, path, sealed: "sops" in rec.unknown ? bytes : undefined };
}

/**
 * The URLs of a sealed record, when this reader's identities open it; undefined when they do
 * not (the record is still shown, without its storage details). Tampering is an error.
 */
async function unsealUrls(bytes: Uint8Array, path: string, o: ReadOptions): Promise<string[] | undefined> {
  const [{ loadIdentities }, { decryptBytes }] = await Promise.all([import("../sops/identities.js"), import("../sops/engine.js")]);
  const identities = o.identities ?? (await loadIdentities({ env: o.env }));
  try {
    const plain = await decryptBytes(bytes, { format: "json", identities, path, pgp: false });
    return decodeRecord<BinaryRecord>("Binary", plain, path).value.urls ?? [];
  } catch (e) {
    if (e instanceof BootMetaError && e.code === "SOPS_DATA_KEY_UNAVAILABLE") return undefined;
    throw e;
  }
}

export interface ReadOptions {
  /** Identities for sealed records (default: the sops lookup: SOPS_AGE_KEY_FILE, …). */
  identities?: IdentitySet;
  env?: NodeJS.ProcessEnv;
}

async function digestOf(fileOrDigest: string): Promise<string> {
  if (/^[0-9a-f]{64}$/i.test(fileOrDigest) && !existsSync(fileOrDigest)) return fileOrDigest.toLowerCase();
  return (await digestFile(fileOrDigest)).sha256;
}

export interface Provenance {
  commit: string;
  binary: BinaryRecord;
  release: Release;
  /** channels whose instances run this binary's release now (during a rollout, on either side of it) */
  channels: string[];
  /** per channel in `channels`: the percentage of its instances that run this release */
  shares: Record<string, number>;
  /** The storage URLs are encrypted in the meta repo: "opened" with your key, or "no-key". */
  sealed?: "opened" | "no-key";
}

/** `boot-meta binary which FILE|DIGEST`: from a binary back to its release and every repo + commit. */
export async function binaryWhich(repoDir: string, fileOrDigest: string, o: ReadOptions = {}): Promise<Provenance> {
  const sha256 = await digestOf(fileOrDigest);
  return withReader(repoDir, undefined, async (r) => {
    const found = await binaryByDigest(r, sha256);
    const urls = found.sealed ? await unsealUrls(found.sealed, found.path, o) : undefined;
    const binary = found.sealed ? { ...found.record, urls: urls ?? [] } : found.record;
    const release = await getRelease(r, binary.project, binary.releaseId);
    const names = (await namesIn(r, `${binary.project}/channels`)).filter((n) => n.endsWith(".json"));
    const files = await r.readMany(names.map((n) => `${binary.project}/channels/${n}`));
    // Channel names are file names (`__proto__` is a valid one): no inherited property may answer.
    const shares: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const n of names) {
      const path = `${binary.project}/channels/${n}`;
      const b = files.get(path);
      if (!b) continue;
      const c = decodeAt<Channel>("Channel", b, path, { project: binary.project, name: n.replace(/\.json$/, "") }).value;
      const pct = c.rollout?.previousReleaseId ? c.rollout.percent : 100;
      const share = c.releaseId === release.id ? pct : c.rollout?.previousReleaseId === release.id ? 100 - pct : 0;
      if (share > 0) shares[n.replace(/\.json$/, "")] = share;
    }
    const channels = Object.keys(shares);
    return { commit: r.commit, binary, release, channels, shares, ...(found.sealed ? { sealed: urls ? ("opened" as const) : ("no-key" as const) } : {}) };
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
  const { sha256, digests } = await digestFile(file);
  const { binary, trusted } = await withReader(repoDir, undefined, async (r) => {
    const binary = await binaryByDigest(r, sha256).then((b) => b.record, (e: unknown) => {
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
  const signatures = (binary?.signatures ?? []).map((s) => {
    const v = sshVerify(s.signature, digests);
    const signer = trusted.get(v.publicKey.toString("hex"));
    return { signer: signer ?? s.signer ?? null, trusted: signer !== undefined, valid: v.valid };
  });
  return { file, sha256, recorded: binary !== undefined, signatures, ok: binary !== undefined && signatures.some((s) => s.valid && s.trusted) };
}
