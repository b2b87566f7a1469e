
import { homedir } from "node:os";
import { join } from "node:path";
import { bech32 } from "@scure/base";
import { BootMetaError, ExitCode } from "../errors.js";
import { looksLikePrivateKey } from "../redact.js";
import { exists, readFileCapped } from "../io.js";
import { isSshPrivateKey } from "../ssh/keys.js";
import { parseSshIdentity } from "./age.js";
import { type NativeX25519Identity, nativeIdentity, parsedNatives } from "./age-x25519.js";
import { shellSplit } from "./shell.js";

/** Where identities were looked for: the sops source, and the file, variable or command. */
export interface IdentitySource {
  kind: "SOPS_AGE_KEY" | "SOPS_AGE_KEY_FILE" | "SOPS_AGE_KEY_CMD" | "default-keys-file" | "ssh" | "explicit";
  where: string;
}

/** The identities a reader holds, with the recipients they open and where they were found. */
export interface IdentitySet {
  /** age identities (AGE-SECRET-KEY-1…, AGE-SECRET-KEY-PQ-1…) and SSH private keys (PEM text). */
  readonly identities: readonly string[];
  /** Parallel to `identities`: the recipient each one opens (age1…, age1pq1…, `ssh-ed25519 AAAA…`). */
  readonly recipients: readonly string[];
  /** Every source consulted, in sops' order, with how many keys it gave or why it gave none. */
  readonly searched: readonly { source: IdentitySource; found: number; error?: string }[];
}

function invalidIdentity(where: string, why: string, suggestions: string[] = []): BootMetaError {
  // Never the offending line itself: it may be (part of) a secret key.
  return new BootMetaError("SOPS_INVALID_IDENTITY", `${where} is not a usable age identity file: ${why}`, ExitCode.CouldNotRetrieveKey, {
    data: { where },
    suggestions: [...suggestions, "an identity file holds lines starting with AGE-SECRET-KEY-1 (from age-keygen), blank lines and # comments"],
  });
}

const PASSPHRASE_HINT = "passphrase-protected identity files are not supported; decrypt it with `age -d` into a file with mode 600";

/** Checks one key's bech32 checksum and length, as age.ParseX25519Identity/ParseHybridIdentity do. */
function validKey(key: string): boolean {
  try {
    const { prefix, bytes } = bech32.decodeToBytes(key);
    const want = key.startsWith("AGE-SECRET-KEY-PQ-1") ? "age-secret-key-pq-" : "age-secret-key-";
    return key === key.toUpperCase() && prefix.toLowerCase() === want && bytes.length === 32;
  } catch {
    return false;
  }
}

/**
 * The keys of an identity file, as sops reads them (age/keysource.go:527-573): blank lines and
 * `#` lines skipped, CR of CRLF dropped, every other line one key (several, separated by
 * whitespace, when `manyPerLine`: SOPS_AGE_KEY since 3.13). age plugin identities
 * (AGE-PLUGIN-…) are counted and skipped: they need a plugin binary boot-meta does not run.
 */
function readKeys(text: string, where: string, manyPerLine: boolean): { keys: string[]; plugins: number } {
  // A passphrase-encrypted identity file starts like an age file (encrypted_keys.go:109-195).
  const head = text.replace(/^\s+/, "");
  if (head.startsWith("age-encryption") || head.startsWith("-----BEGIN AGE")) throw invalidIdentity(where, "it is passphrase-protected", [PASSPHRASE_HINT]);
  const keys: string[] = [];
  let plugins = 0;
  text.split("\n").forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "" || line.startsWith("#")) return;
    for (const word of manyPerLine ? line.split(/\s+/).filter(Boolean) : [line]) {
      if (word.startsWith("AGE-PLUGIN-")) {
        plugins++;
        continue;
      }
      if (!word.startsWith("AGE-SECRET-KEY-1") && !word.startsWith("AGE-SECRET-KEY-PQ-1")) {
        throw invalidIdentity(where, `line ${i + 1} is not an age secret key`, isSshPrivateKey(text) ? ["this looks like an SSH private key: use SOPS_AGE_SSH_PRIVATE_KEY_FILE for those"] : []);
      }
      if (!validKey(word)) throw invalidIdentity(where, `line ${i + 1} is a damaged age secret key (bad encoding or checksum)`);
      keys.push(word);
    }
  });
  return { keys, plugins };
}

/**
 * Parses an age identity file's text (sops age/keysource.go:527-573): `#` comments, blank
 * lines, CRLF and one bare line without a newline are fine; age plugin identities are
 * skipped. Throws `SOPS_INVALID_IDENTITY` naming `where` and the line number, never the line.
 */
export function parseIdentityFile(text: string, where: string): string[] {
  return readKeys(text, where, false).keys;
}

async function recipientOf(identity: string): Promise<{ recipient: string; native?: NativeX25519Identity }> {
  // The native X25519 path derives the public key a hundred times faster than pure JS.
  const native = nativeIdentity(identity);
  return native ? { recipient: bech32.encodeFromBytes("age", native.publicKey), native } : { recipient: await (await import("age-encryption")).identityToRecipient(identity) };
}

class Collector {
  readonly identities: string[] = [];
  readonly recipients: string[] = [];
  /** Each X25519 key as parsed for its recipient (see parsedNatives). */
  private readonly natives = new Map<string, NativeX25519Identity>();
  readonly searched: { source: IdentitySource; found: number; error?: string }[] = [];
  /** Failures of configured sources: fatal only if no source gave a key, as in sops. */
  readonly failures: BootMetaError[] = [];

  async addAge(source: IdentitySource, text: string, where: string, manyPerLine = false): Promise<void> {
    const { keys, plugins } = readKeys(text, where, manyPerLine);
    for (const k of keys) {
      const { recipient, native } = await recipientOf(k);
      this.push(k, recipient, native);
    }
    this.searched.push({ source, found: keys.length, ...(plugins ? { error: `${plugins} age plugin identit${plugins === 1 ? "y" : "ies"} skipped: plugins are not supported` } : {}) });
  }

  async addSsh(source: IdentitySource, text: string, where: string): Promise<void> {
    const id = parseSshIdentity(text, where);
    this.push(text.trim(), id.recipient);
    this.searched.push({ source, found: 1 });
  }

  /** An identity file the caller named: age keys or an SSH private key; any problem is fatal. */
  async addFile(file: string): Promise<void> {
    const text = await readSource(file, "the identity option");
    if (isSshPrivateKey(text)) await this.addSsh({ kind: "explicit", where: file }, text, file);
    else {
      await this.addAge({ kind: "explicit", where: file }, text, file);
      if (this.searched.at(-1)?.found === 0) throw invalidIdentity(file, "it holds no age secret key");
    }
  }

  /** Every identity of an already loaded set, with where it was found. */
  addSet(s: IdentitySet): void {
    const natives = parsedNatives.get(s);
    s.identities.forEach((id, i) => this.push(id, s.recipients[i] as string, natives?.get(id)));
    this.searched.push(...s.searched);
  }

  private push(identity: string, recipient: string, native?: NativeX25519Identity): void {
    if (this.identities.includes(identity)) return;
    this.identities.push(identity);
    this.recipients.push(recipient);
    if (native) this.natives.set(identity, native);
  }

  fail(source: IdentitySource, e: unknown): void {
    const err = e instanceof BootMetaError ? e : new BootMetaError("SOPS_INVALID_IDENTITY", `${source.where}: ${(e as Error).message}`, ExitCode.CouldNotRetrieveKey, { cause: e });
    this.failures.push(err);
    this.searched.push({ source, found: 0, error: err.message });
  }

  set(): IdentitySet {
    const set = { identities: this.identities, recipients: this.recipients, searched: this.searched };
    parsedNatives.set(set, this.natives);
    return set;
  }
}

/**
 * A set from literal identity strings (the library's `decrypt(text, { identities })`): each
 * string is one or more age keys (whole identity files, or keys separated by whitespace), or
 * an unencrypted SSH private key. Throws `SOPS_INVALID_IDENTITY`.
 */
export async function identitySetFrom(identities: string[], where = "the given identities"): Promise<IdentitySet> {
  const c = new Collector();
  for (const [i, text] of identities.entries()) {
    const label = identities.length > 1 ? `${where} (#${i + 1})` : where;
    if (isSshPrivateKey(text)) await c.addSsh({ kind: "explicit", where }, text, label);
    else await c.addAge({ kind: "explicit", where }, text, label, true);
  }
  return c.set();
}

/**
 * The identities in the given files and nothing else: what `--identity` means. The sops
 * lookup (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, SSH keys, the default keys.txt)
 * is not consulted, so an admin holding every key can still see the repository as one
 * principal does. Throws `SOPS_INVALID_IDENTITY` naming a file that is missing or holds no
 * usable identity (never its content).
 */
export async function identitiesFromFiles(files: readonly string[]): Promise<IdentitySet> {
  const c = new Collector();
  for (const f of files) await c.addFile(f);
  return c.set();
}

/** Several identity sets as one (each identity once, every source kept in `searched`). */
export function combineIdentitySets(...sets: IdentitySet[]): IdentitySet {
  const c = new Collector();
  for (const s of sets) c.addSet(s);
  return c.set();
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === "" ? undefined : v);

/**
 * `<userConfigDir>/sops/age/keys.txt` as sops resolves it (keysource.go:393-400 and Go's
 * os.UserConfigDir): Linux `$XDG_CONFIG_HOME` or `~/.config`; macOS `$XDG_CONFIG_HOME` if
 * set, else `~/Library/Application Support`; Windows `%AppData%`.
 */
export function defaultKeysFile(env: NodeJS.ProcessEnv, home: string, platform: NodeJS.Platform): string {
  let base: string;
  if (platform === "win32") base = nonEmpty(env.AppData) ?? nonEmpty(env.APPDATA) ?? join(home, "AppData", "Roaming");
  else if (platform === "darwin") base = nonEmpty(env.XDG_CONFIG_HOME) ?? join(home, "Library", "Application Support");
  else base = nonEmpty(env.XDG_CONFIG_HOME) ?? join(home, ".config");
  return join(base, "sops", "age", "keys.txt");
}

/**
 * Refuses a private key given where the path of a file holding one belongs (`--identity`,
 * SOPS_AGE_KEY_FILE, the bootstrap file's identity), without repeating it.
 */
export function requireIdentityPath(path: string, named: string): void {
  if (!looksLikePrivateKey(path)) return;
  throw new BootMetaError("SOPS_INVALID_IDENTITY", `${named} names a file holding an age identity, but was given a private key itself; it is not repeated here`, ExitCode.CouldNotRetrieveKey, {
    data: { where: named },
    suggestions: [
      "put the key in a file with mode 600 and give its path, or pass the key in SOPS_AGE_KEY",
      "if the key was typed on a command line, it is in your shell history: remove it there, or rotate the key",
    ],
  });
}

async function readSource(path: string, named: string): Promise<string> {
  requireIdentityPath(path, named);
  try {
    return (await readFileCapped(path)).toString("utf8");
  } catch (e) {
    if (e instanceof BootMetaError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "it does not exist" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : (code ?? "unreadable");
    throw new BootMetaError("SOPS_INVALID_IDENTITY", `cannot read the identity file ${path} named by ${named}: ${why}`, ExitCode.CouldNotRetrieveKey, {
      data: { where: path },
      suggestions: [`point ${named} at an existing key file, or unset it`],
    });
  }
}

/** Runs a key command the way sops does (shlex-split, no shell, stdout is the key file). */
async function runKeyCommand(command: string, named: string, env: NodeJS.ProcessEnv): Promise<string> {
  let argv: string[];
  try {
    argv = shellSplit(command);
  } catch {
    argv = [];
  }
  // The program's name only, never the rest of the line (or the whole line, which may be a
  // key pasted into the wrong variable).
  const program = argv[0] !== undefined && !looksLikePrivateKey(command) ? argv[0] : undefined;
  const fail = (why: string) =>
    new BootMetaError("SOPS_INVALID_IDENTITY", `${named}${program ? ` (${program})` : ""} ${why}`, ExitCode.CouldNotRetrieveKey, {
      data: { where: named, ...(program ? { command: program } : {}) },
      suggestions: [`run the command by hand to see why, or unset ${named}`],
    });
  if (looksLikePrivateKey(command)) throw fail("holds a private key, not a command line that prints one; put the key in SOPS_AGE_KEY or a key file");
  if (argv.length === 0) throw fail("is not a command line");
  // Its stderr is not repeated: a key command's diagnostics may echo what it handles.
  const { execa } = await import("execa");
  const r = await execa(argv[0] as string, argv.slice(1), { env, extendEnv: false, stdin: "ignore", reject: false, maxBuffer: 1 << 20 });
  if ((r as { code?: string }).code === "ENOENT") throw fail("failed: command not found");
  if (r.failed) throw fail(r.exitCode !== undefined ? `failed with exit code ${r.exitCode}` : `failed: ${r.signal ? `killed by ${r.signal}` : "could not run"}`);
  return r.stdout;
}

/**
 * Loads identities the way sops does (age/keysource.go:319-485), all sources combined:
 * SSH keys (SOPS_AGE_SSH_PRIVATE_KEY_FILE, SOPS_AGE_SSH_PRIVATE_KEY_CMD, ~/.ssh/id_ed25519,
 * ~/.ssh/id_rsa), SOPS_AGE_KEY (several keys per line), SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD
 * and the default `<userConfigDir>/sops/age/keys.txt`. `extraIdentities`/`extraIdentityFiles`
 * come first and must be valid. A missing default file is not an error. As in sops, a broken
 * source (a file that is not a key file, a missing SOPS_AGE_KEY_FILE, a failing command) is
 * recorded in `searched` and only fails the load (`SOPS_INVALID_IDENTITY`, naming the file and
 * line, never the line) when no source gave a key at all. Empty variables count as unset.
 */
export async function loadIdentities(
  opts: { env?: NodeJS.ProcessEnv; homeDir?: string; platform?: NodeJS.Platform; extraIdentityFiles?: string[]; extraIdentities?: string[] } = {},
): Promise<IdentitySet> {
  const env = opts.env ?? process.env;
  const home = opts.homeDir ?? nonEmpty(env.HOME) ?? nonEmpty(env.USERPROFILE) ?? homedir();
  const c = new Collector();

  // Explicitly given identities are the caller's own choice: any problem with them is fatal.
  for (const id of opts.extraIdentities ?? []) {
    if (isSshPrivateKey(id)) await c.addSsh({ kind: "explicit", where: "option" }, id, "the given identity");
    else await c.addAge({ kind: "explicit", where: "option" }, id, "the given identity", true);
  }
  for (const f of opts.extraIdentityFiles ?? []) await c.addFile(f);

  const attempt = async (source: IdentitySource, load: () => Promise<void>) => {
    try {
      await load();
    } catch (e) {
      c.fail(source, e);
    }
  };

  // SSH keys first, as loadAgeSSHIdentities runs before the age sources (3.10+).
  const sshFile = nonEmpty(env.SOPS_AGE_SSH_PRIVATE_KEY_FILE);
  if (sshFile) {
    const source: IdentitySource = { kind: "ssh", where: pathOrName(sshFile, "SOPS_AGE_SSH_PRIVATE_KEY_FILE") };
    await attempt(source, async () => c.addSsh(source, await readSource(sshFile, "SOPS_AGE_SSH_PRIVATE_KEY_FILE"), sshFile));
  }
  const sshCmd = nonEmpty(env.SOPS_AGE_SSH_PRIVATE_KEY_CMD);
  if (sshCmd) {
    const source: IdentitySource = { kind: "ssh", where: "SOPS_AGE_SSH_PRIVATE_KEY_CMD" };
    await attempt(source, async () => c.addSsh(source, await runKeyCommand(sshCmd, "SOPS_AGE_SSH_PRIVATE_KEY_CMD", env), "the output of SOPS_AGE_SSH_PRIVATE_KEY_CMD"));
  }
  for (const name of ["id_ed25519", "id_rsa"]) {
    const path = join(home, ".ssh", name);
    if (!(await exists(path))) continue;
    const source: IdentitySource = { kind: "ssh", where: path };
    await attempt(source, async () => c.addSsh(source, await readSource(path, "the default SSH key"), path));
  }

  const inline = nonEmpty(env.SOPS_AGE_KEY);
  if (inline) {
    const source: IdentitySource = { kind: "SOPS_AGE_KEY", where: "SOPS_AGE_KEY" };
    await attempt(source, () => c.addAge(source, inline, "SOPS_AGE_KEY", true));
  }
  const keyFile = nonEmpty(env.SOPS_AGE_KEY_FILE);
  if (keyFile) {
    const source: IdentitySource = { kind: "SOPS_AGE_KEY_FILE", where: pathOrName(keyFile, "SOPS_AGE_KEY_FILE") };
    await attempt(source, async () => c.addAge(source, await readSource(keyFile, "SOPS_AGE_KEY_FILE"), keyFile));
  }
  const keyCmd = nonEmpty(env.SOPS_AGE_KEY_CMD);
  if (keyCmd) {
    // sops passes SOPS_AGE_RECIPIENT per master key; a bulk load has no single recipient.
    const source: IdentitySource = { kind: "SOPS_AGE_KEY_CMD", where: looksLikePrivateKey(keyCmd) ? "SOPS_AGE_KEY_CMD" : (shellSplitSafe(keyCmd)[0] ?? keyCmd) };
    await attempt(source, async () => c.addAge(source, await runKeyCommand(keyCmd, "SOPS_AGE_KEY_CMD", env), "the output of SOPS_AGE_KEY_CMD"));
  }
  const defaultFile = defaultKeysFile(env, home, opts.platform ?? process.platform);
  const source: IdentitySource = { kind: "default-keys-file", where: defaultFile };
  let text: string | undefined;
  // Most readers name their key another way: a missing default file is told without the error
  // object a failed open makes (README "Start-up").
  if (!(await exists(defaultFile))) c.searched.push({ source, found: 0, error: "missing" });
  else {
    try {
      text = (await readFileCapped(defaultFile)).toString("utf8");
    } catch (e) {
      if (e instanceof BootMetaError) c.fail(source, e);
      else if ((e as NodeJS.ErrnoException).code === "ENOENT") c.searched.push({ source, found: 0, error: "missing" });
      else c.fail(source, new BootMetaError("SOPS_INVALID_IDENTITY", `cannot read the default identity file ${defaultFile}: ${(e as NodeJS.ErrnoException).code}`, ExitCode.CouldNotRetrieveKey, { data: { where: defaultFile } }));
    }
  }
  if (text !== undefined) await attempt(source, () => c.addAge(source, text, defaultFile));

  if (c.identities.length === 0 && c.failures.length > 0) {
    const [first] = c.failures;
    if (c.failures.length === 1 && first) throw first;
    throw new BootMetaError("SOPS_INVALID_IDENTITY", `no age identity could be loaded: ${c.failures.map((f) => f.message).join("; ")}`, ExitCode.CouldNotRetrieveKey, {
      data: { searched: c.searched },
      suggestions: c.failures.flatMap((f) => f.suggestions).filter((s, i, all) => all.indexOf(s) === i),
    });
  }
  return c.set();
}

/** The path a variable names, or the variable's name when it holds a key instead of a path. */
const pathOrName = (path: string, name: string) => (looksLikePrivateKey(path) ? name : path);

function shellSplitSafe(s: string): string[] {
  try {
    return shellSplit(s);
  } catch {
    return [];
  }
}
