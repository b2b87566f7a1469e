import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { BootMetaError, ExitCode } from "../errors.js";
import { validateName } from "../meta/layout.js";
import type { CommitResult, Tx } from "../meta/commit.js";
import type { IdentitySet } from "../sops/identities.js";
import type { SelectionRule } from "../sops/selection.js";
import { decodeRecord, encodeRecord } from "./codec.js";
import { getRelease } from "./releases.js";
import { readChannels, readInstances, rollouts } from "./fleet.js";
import { type Digests, parseOpenSshPrivateKey, parseSshPublicKey, sshFingerprint, sshSign, sshVerify } from "../ssh/sshsig.js";
import { commitRecords, decodeAt, namesIn, nowIso, type Reader, readFiles, readRecord, recordExists, recordNotFound, recordPath, requireProject, withReader, type WriteOpts, writeRecord } from "./files.js";
import type { BinaryRecord, Release, Signature } from "./types.js";

/** Trusted signers live in the meta repo, reviewed like everything else. */
export const SIGNERS_DIR = "keys/signers";

/**
 * The ed25519 keys of one signer: each `ssh-ed25519 AAAA…` line of keys/signers/<name>.pub
 * (several while a key is being replaced; `#` comments and other key types are skipped).
 * undefined when there is no such signer.
 */
async function signerKeys(r: Reader, name: string): Promise<Buffer[] | undefined> {
  const bytes = await r.read(`${SIGNERS_DIR}/${name}.pub`);
  if (!bytes) return undefined;
  const keys: Buffer[] = [];
  for (const line of Buffer.from(bytes).toString("utf8").split("\n")) {
    if (!line.trim() || line.trim().startsWith("#")) continue;
    try {
      keys.push(parseSshPublicKey(line));
    } catch {
      /* not an ed25519 key: it signs nothing here */
    }
  }
  return keys;
}

/** Every trusted signing key (hex) with the names of the signers that hold it. */
export async function trustedSigners(r: Reader): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const n of (await namesIn(r, SIGNERS_DIR)).filter((x) => x.endsWith(".pub"))) {
    const name = n.slice(0, -".pub".length);
    for (const k of (await signerKeys(r, name)) ?? []) out.set(k.toString("hex"), [...(out.get(k.toString("hex")) ?? []), name]);
  }
  return out;
}

/** A signature names a signer only when it is made with one of that signer's keys. */
async function checkSigner(r: Reader, name: string, key: Buffer, keyFile: string): Promise<void> {
  const keys = await signerKeys(r, name);
  const file = `${SIGNERS_DIR}/${name}.pub`;
  if (keys === undefined) {
    throw new BootMetaError("SIGNER_UNKNOWN", `--signer ${name}: there is no such signer (${file} does not exist), so a signature cannot be attributed to it`, ExitCode.General, {
      data: { signer: name, file },
      suggestions: [`commit the signer's public key as ${file} first (the key in ${keyFile} is ${sshFingerprint(key)})`, "or leave out --signer: `binary verify` then names the signer by its key"],
    });
  }
  if (!keys.some((k) => k.equals(key))) {
    throw new BootMetaError("SIGNER_KEY_MISMATCH", `--signer ${name}: the key in ${keyFile} (${sshFingerprint(key)}) is not ${name}'s; ${file} holds ${keys.map(sshFingerprint).join(", ") || "no ed25519 key"}`, ExitCode.InvalidArgument, {
      data: { signer: name, file, key: sshFingerprint(key) },
      suggestions: [`sign with ${name}'s key, or name the signer whose key this is`],
    });
  }
}

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
export async function addBinary(repoDir: string, project: string, file: string, o: AddBinaryOptions): Promise<CommitResult<BinaryRecord>> {
  if (o.urls.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "a binary needs at least one storage URL (--url): a record of where it is not stored leads nowhere", ExitCode.InvalidArgument);
  for (const u of o.urls) if (!URL_RE.test(u)) throw new BootMetaError("INVALID_ARGUMENT", `--url ${JSON.stringify(u)} must be an s3://, https://, http://, gs:// or file:// URL`, ExitCode.InvalidArgument);
  if (!/^[a-z0-9_]+$/.test(o.os) || !/^[a-z0-9_]+$/.test(o.arch)) throw new BootMetaError("INVALID_ARGUMENT", "--os and --arch are lower-case words like linux and amd64", ExitCode.InvalidArgument);
  const { sha256, size, digests } = await digestFile(file);
  if (o.signer !== undefined) {
    validateName("principal", o.signer);
    if (!o.signKey) throw new BootMetaError("INVALID_ARGUMENT", `--signer ${o.signer} names who signs the binary; give the key to sign with as --sign-key`, ExitCode.InvalidArgument);
  }
  const signatures: Signature[] = [];
  const key = o.signKey ? parseOpenSshPrivateKey(await readFile(o.signKey, "utf8"), o.signKey) : undefined;
  if (key) signatures.push({ format: "sshsig", signer: o.signer, publicKey: key.publicLine, signature: sshSign(key, digests) });
  return commitRecords(repoDir, o, `binary: ${project} ${o.os}/${o.arch} ${sha256.slice(0, 12)} for ${o.release}`, async (tx) => {
    await requireProject(tx, project);
    const release = await getRelease(tx, project, o.release);
    if (key && o.signer !== undefined) await checkSigner(tx, o.signer, key.publicKey, o.signKey as string);
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
  const [{ readState }, { recipientsOf, sealedReaders }, { encryptBytes }, { withBinding }] = await Promise.all([
    import("../meta/state.js"),
    import("../meta/model.js"),
    import("../sops/engine.js"),
    import("../meta/binding.js"),
  ]);
  const state = await readState(tx);
  const env = rec.sealedEnv;
  const readers = sealedReaders(state.config, env);
  const { recipients } = recipientsOf(state, readers);
  if (recipients.length === 0) {
    throw new BootMetaError("META_NO_READERS", `nobody with a key may read the storage details of this binary: the rules name ${readers.join(", ") || "no one"}${env ? ` for ${env}` : ""}, and none of them has a key in keys/`, ExitCode.General, {
      suggestions: ["add keys first: `boot-meta keys add NAME --key age1… --group admins`"],
    });
  }
  // Bound to its path under its MAC, beside the env that decides its readers: neither can be
  // changed or removed by someone who cannot open it without the MAC failing.
  return encryptBytes(encodeRecord("Binary", rec, {}, path), { format: "json", keyGroups: [recipients], selection: SEALED, path, transform: (tree) => withBinding(tree, path) });
}

/** A binary's record as stored. */
export interface StoredBinary {
  record: BinaryRecord;
  path: string;
  /** The file's bytes, as committed. */
  bytes: Uint8Array;
  /** Its URLs are SOPS-encrypted (a `.sops.json` file): `record.urls` hold ENC[…] values. */
  sealed: boolean;
}

/** The binary with that digest in a project, plain or sealed; undefined when there is none. */
export async function readBinary(r: Reader, project: string, sha256: string): Promise<StoredBinary | undefined> {
  validateName("project", project);
  for (const path of [recordPath.binary(project, sha256), recordPath.sealedBinary(project, sha256)]) {
    const bytes = await r.read(path);
    if (bytes) return storedBinary(bytes, path, { sha256, project });
  }
  return undefined;
}

function storedBinary(bytes: Uint8Array, path: string, at: Record<string, string>): StoredBinary {
  const rec = decodeAt<BinaryRecord>("Binary", bytes, path, at);
  return { record: rec.value, path, bytes, sealed: "sops" in rec.unknown };
}

/** Every binary of a project (plain and sealed), read in one pipelined pass over its shards. */
export async function readBinaries(r: Reader, project: string): Promise<StoredBinary[]> {
  validateName("project", project);
  const root = `${project}/binaries`;
  const paths: { path: string; sha256: string }[] = [];
  for (const path of await r.list(root)) {
    const sha256 = /^[0-9a-f]{2}\/([0-9a-f]{64})/.exec(path.slice(root.length + 1))?.[1];
    if (sha256 && (path === recordPath.binary(project, sha256) || path === recordPath.sealedBinary(project, sha256))) paths.push({ path, sha256 });
  }
  const files = await readFiles(r, paths.map((p) => p.path));
  return paths.map((p) => storedBinary(files.get(p.path) as Uint8Array, p.path, { sha256: p.sha256, project }));
}

/**
 * The binary of a release for one platform. A release may have been given several binaries
 * for the same os/arch (a rebuild has another digest, and records are never rewritten): the
 * newest record (its createdAt; the digest breaks a tie) is the one that counts.
 */
export function binaryFor<T extends { record: BinaryRecord }>(binaries: readonly T[], releaseId: string, os: string, arch: string): T | undefined {
  let best: T | undefined;
  for (const b of binaries) {
    const x = b.record;
    if (x.releaseId !== releaseId || x.os !== os || x.arch !== arch) continue;
    const y = best?.record;
    if (!y || x.createdAt > y.createdAt || (x.createdAt === y.createdAt && x.sha256 > y.sha256)) best = b;
  }
  return best;
}

/** A binary's record by digest alone, through the top-level index; `sealed` holds the file's bytes when its URLs are SOPS-encrypted. */
async function binaryByDigest(r: Reader, sha256: string): Promise<{ record: BinaryRecord; path: string; sealed?: Uint8Array }> {
  const idx = await readRecord<{ sha256: string; project: string }>(r, "BinaryIndex", recordPath.binaryIndex(sha256), { sha256 });
  if (!idx) throw recordNotFound(`a binary with sha256 ${sha256}`, "record it with `boot-meta binary add`");
  const found = await readBinary(r, idx.value.project, sha256);
  if (!found) throw recordNotFound(`the record of binary ${sha256} in ${idx.value.project}`);
  return { record: found.record, path: found.path, sealed: found.sealed ? found.bytes : undefined };
}

/**
 * The URLs of a sealed record, when this reader's identities open it; undefined when they do
 * not (the record is still shown, without its storage details). Tampering is an error.
 */
export async function unsealUrls(bytes: Uint8Array, path: string, o: ReadOptions): Promise<string[] | undefined> {
  const [{ loadIdentities }, { openBytes }, { bindingMismatch, openedBinding }, { storeFor }] = await Promise.all([
    import("../sops/identities.js"),
    import("../sops/engine.js"),
    import("../meta/binding.js"),
    import("../sops/formats/index.js"),
  ]);
  const identities = o.identities ?? (await loadIdentities({ env: o.env }));
  try {
    const f = await openBytes(bytes, { format: "json", identities, path, pgp: false });
    const bound = openedBinding(f);
    if (bound !== undefined && bound !== path) throw bindingMismatch(path, bound);
    return decodeRecord<BinaryRecord>("Binary", storeFor("json").emitPlain(f.tree), path).value.urls ?? [];
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
  /** per channel in `channels`: the percentage of its instances that are to run this release */
  shares: Record<string, number>;
  /** per channel with recorded instances: how many of them are to run this release, of how many */
  counts: Record<string, { instances: number; of: number }>;
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
    // The same decision the instances get (rollout.ts): counted over each channel's recorded
    // fleet; a channel with no recorded instance yet has its percentage.
    const shares: Record<string, number> = Object.create(null);
    const counts: Record<string, { instances: number; of: number }> = Object.create(null);
    for (const [name, ro] of rollouts(await readChannels(r, binary.project), await readInstances(r, binary.project))) {
      if (ro.fleet > 0) {
        const k = ro.countOf(release.id);
        if (k === 0) continue;
        shares[name] = Math.round((k * 10_000) / ro.fleet) / 100;
        counts[name] = { instances: k, of: ro.fleet };
      } else {
        const share = release.id === ro.releaseId ? ro.percent : release.id === ro.previousReleaseId ? 100 - ro.percent : 0;
        if (share > 0) shares[name] = share;
      }
    }
    const channels = Object.keys(shares);
    return { commit: r.commit, binary, release, channels, shares, counts, ...(found.sealed ? { sealed: urls ? ("opened" as const) : ("no-key" as const) } : {}) };
  });
}

export interface VerifyResult {
  file: string;
  sha256: string;
  recorded: boolean;
  /**
   * Each recorded signature: `signer` is the name the record gives, else the signer whose key
   * made it; `trusted` when that key is in keys/signers/ and is the named signer's; `problem`
   * says why a signature that names a signer is not trusted.
   */
  signatures: { signer: string | null; trusted: boolean; valid: boolean; problem?: string }[];
  ok: boolean;
}

/** `boot-meta binary verify FILE`: the digest is recorded and a trusted signer signed these bytes. */
export async function binaryVerify(repoDir: string, file: string): Promise<VerifyResult> {
  const { sha256, digests } = await digestFile(file);
  const { binary, trusted, named } = await withReader(repoDir, undefined, async (r) => {
    const binary = await binaryByDigest(r, sha256).then((b) => b.record, (e: unknown) => {
      if (e instanceof BootMetaError && e.code === "RECORD_NOT_FOUND") return undefined;
      throw e;
    });
    const named = new Map<string, Buffer[] | undefined>();
    for (const s of binary?.signatures ?? []) {
      if (!s.signer || named.has(s.signer)) continue;
      // A name that could not be a signer's file (a path, say) is simply no signer.
      const valid = (() => {
        try {
          return validateName("principal", s.signer) === s.signer;
        } catch {
          return false;
        }
      })();
      named.set(s.signer, valid ? await signerKeys(r, s.signer) : undefined);
    }
    return { binary, trusted: await trustedSigners(r), named };
  });
  const signatures = (binary?.signatures ?? []).map((s) => {
    const v = sshVerify(s.signature, digests);
    const holders = trusted.get(v.publicKey.toString("hex")) ?? [];
    let problem: string | undefined;
    if (s.signer) {
      const keys = named.get(s.signer);
      if (keys === undefined) problem = `it names ${s.signer}, who is not a signer (no ${SIGNERS_DIR}/${s.signer}.pub)`;
      else if (!keys.some((k) => k.equals(v.publicKey))) problem = `it names ${s.signer}, but was made with ${sshFingerprint(v.publicKey)}, which is not ${s.signer}'s key (${SIGNERS_DIR}/${s.signer}.pub)`;
    }
    return { signer: s.signer ?? holders[0] ?? null, trusted: holders.length > 0 && problem === undefined, valid: v.valid, ...(problem ? { problem } : {}) };
  });
  return { file, sha256, recorded: binary !== undefined, signatures, ok: binary !== undefined && signatures.some((s) => s.valid && s.trusted) };
}
