import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { identityToRecipient } from "age-encryption";
import { BootMetaError, ExitCode } from "../errors.js";
import { shellSplit } from "./shell.js";

export interface IdentitySource {
  kind: "SOPS_AGE_KEY" | "SOPS_AGE_KEY_FILE" | "SOPS_AGE_KEY_CMD" | "default-keys-file" | "explicit";
  where: string;
}

/** The identities a reader holds, with the recipients they open and where they were found. */
export interface IdentitySet {
  readonly identities: readonly string[];
  /** Parallel to `identities`. */
  readonly recipients: readonly string[];
  readonly searched: readonly { source: IdentitySource; found: number; error?: string }[];
}

function invalidIdentity(where: string, why: string): BootMetaError {
  // Never the offending line itself: it may be (part of) a secret key.
  return new BootMetaError("SOPS_INVALID_IDENTITY", `${where} is not a usable age identity file: ${why}`, ExitCode.CouldNotRetrieveKey, {
    data: { where },
    suggestions: ["an identity file holds lines starting with AGE-SECRET-KEY-1 (from age-keygen), with # comments"],
  });
}

/**
 * Parses an age identity file (sops age/keysource.go:527-573): blank lines and `#` lines
 * skipped, CRLF tolerated, a single bare line without a newline is fine.
 */
export function parseIdentityFile(text: string, where: string): string[] {
  if (text.startsWith("age-encryption") || text.startsWith("-----BEGIN AGE")) {
    throw invalidIdentity(where, "it is passphrase-protected, which boot-meta does not support; decrypt it with `age -d` into a file with mode 600");
  }
  const out: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "" || line.startsWith("#")) return;
    if (line.startsWith("AGE-PLUGIN-")) throw invalidIdentity(where, `line ${i + 1} is an age plugin identity, which boot-meta does not support`);
    if (!line.startsWith("AGE-SECRET-KEY-1") && !line.startsWith("AGE-SECRET-KEY-PQ-1")) throw invalidIdentity(where, `line ${i + 1} is not an age secret key`);
    out.push(...line.split(/\s+/).filter(Boolean));
  });
  return out;
}

async function recipientsFor(ids: string[], where: string): Promise<string[]> {
  return Promise.all(
    ids.map(async (id, i) => {
      try {
        return await identityToRecipient(id);
      } catch {
        throw invalidIdentity(where, `key ${i + 1} is malformed (bad encoding or checksum)`);
      }
    }),
  );
}

/** A set from literal identity strings (library callers, tests). */
export async function identitySetFrom(identities: string[], where = "the given identities"): Promise<IdentitySet> {
  const ids = identities.flatMap((s) => parseIdentityFile(s, where));
  return { identities: ids, recipients: await recipientsFor(ids, where), searched: [{ source: { kind: "explicit", where }, found: ids.length }] };
}

/** `<userConfigDir>/sops/age/keys.txt` as Go's os.UserConfigDir resolves it (keysource.go:393-400). */
export function defaultKeysFile(env: NodeJS.ProcessEnv, home: string, platform: NodeJS.Platform): string {
  if (platform === "win32") return join(env.AppData ?? join(home, "AppData", "Roaming"), "sops", "age", "keys.txt");
  if (platform === "darwin") return join(env.XDG_CONFIG_HOME ?? join(home, "Library", "Application Support"), "sops", "age", "keys.txt");
  return join(env.XDG_CONFIG_HOME || join(home, ".config"), "sops", "age", "keys.txt");
}

const run = promisify(execFile);

/**
 * Loads identities the way sops does (keysource.go:319-485): SOPS_AGE_KEY, SOPS_AGE_KEY_FILE,
 * SOPS_AGE_KEY_CMD and the default keys.txt are all read and combined. A missing default
 * file is not an error; a file that is not a key file is, naming the file and line.
 */
export async function loadIdentities(opts: { env?: NodeJS.ProcessEnv; homeDir?: string; platform?: NodeJS.Platform; extraIdentityFiles?: string[]; extraIdentities?: string[] } = {}): Promise<IdentitySet> {
  const env = opts.env ?? process.env;
  const home = opts.homeDir ?? env.HOME ?? homedir();
  const identities: string[] = [];
  const recipients: string[] = [];
  const searched: { source: IdentitySource; found: number; error?: string }[] = [];
  const add = async (source: IdentitySource, text: string) => {
    const ids = parseIdentityFile(text, source.kind === "SOPS_AGE_KEY" ? "SOPS_AGE_KEY" : source.where);
    const rs = await recipientsFor(ids, source.where);
    ids.forEach((id, i) => {
      if (!identities.includes(id)) {
        identities.push(id);
        recipients.push(rs[i] as string);
      }
    });
    searched.push({ source, found: ids.length });
  };
  const readKeyFile = async (source: IdentitySource, required: boolean) => {
    let text: string;
    try {
      text = await readFile(source.where, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (!required && code === "ENOENT") {
        searched.push({ source, found: 0, error: "missing" });
        return;
      }
      throw new BootMetaError("SOPS_INVALID_IDENTITY", `cannot read the identity file ${source.where} (from ${source.kind}): ${code === "ENOENT" ? "it does not exist" : code}`, ExitCode.CouldNotRetrieveKey, {
        data: { where: source.where },
      });
    }
    await add(source, text);
  };
  for (const id of opts.extraIdentities ?? []) await add({ kind: "explicit", where: "option" }, id);
  for (const f of opts.extraIdentityFiles ?? []) await readKeyFile({ kind: "explicit", where: f }, true);
  // sops 3.13 accepts several keys per line in SOPS_AGE_KEY, separated by whitespace.
  if (env.SOPS_AGE_KEY) await add({ kind: "SOPS_AGE_KEY", where: "SOPS_AGE_KEY" }, env.SOPS_AGE_KEY.split(/[ \t]+/).join("\n"));
  if (env.SOPS_AGE_KEY_FILE) await readKeyFile({ kind: "SOPS_AGE_KEY_FILE", where: env.SOPS_AGE_KEY_FILE }, true);
  if (env.SOPS_AGE_KEY_CMD) {
    const argv = shellSplit(env.SOPS_AGE_KEY_CMD);
    const source: IdentitySource = { kind: "SOPS_AGE_KEY_CMD", where: argv[0] ?? "" };
    let stdout: string;
    try {
      ({ stdout } = await run(argv[0] ?? "", argv.slice(1), { env, maxBuffer: 1 << 20 }));
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      throw new BootMetaError("SOPS_INVALID_IDENTITY", `SOPS_AGE_KEY_CMD (${argv[0]}) failed${typeof code === "number" ? ` with exit code ${code}` : `: ${String(code)}`}`, ExitCode.CouldNotRetrieveKey);
    }
    await add(source, stdout);
  }
  await readKeyFile({ kind: "default-keys-file", where: defaultKeysFile(env, home, opts.platform ?? process.platform) }, false);
  return { identities, recipients, searched };
}
