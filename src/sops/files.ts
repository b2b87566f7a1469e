import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { extname, join, resolve } from "node:path";
import { BootMetaError, ExitCode } from "../errors.js";
import { readFileCapped, readUserFile, writeFileAtomic } from "../io.js";
import { decodeUtf8 } from "../limits.js";
import { withScratchDir } from "../scratch.js";
import { parseRecipients } from "./age.js";
import { valueToEnvString } from "./env-value.js";
import { decryptBytes, encryptBytes, fileStatus, openBytes, type OpenOptions, rotateBytes, sealBytes, updateKeysBytes } from "./engine.js";
import { type IdentitySet, loadIdentities } from "./identities.js";
import { findSopsConfig, matchCreationRule, parseSopsConfig, type SopsConfig } from "./sops-config.js";
import type { SelectionRule } from "./selection.js";
import { type Format, formatForPath, storeFor } from "./formats/index.js";
import { Branch, Comment, SopsTime, type Tree, type Value, fromPlain } from "./tree.js";
import { getPath, type PathPart, setPath, unsetPath } from "./tree-path.js";
import { shellSplit } from "./shell.js";

export { shellSplit };

/** Where a command runs: the cwd (sops looks for .sops.yaml from there) and the environment. */
export interface Context {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Identities to use instead of the sops lookup (library callers, tests). */
  identities?: IdentitySet;
  /** `--config` / SOPS_CONFIG. */
  configPath?: string;
}

export interface CreationOptions {
  /** `--age`: recipients replacing the config's keys. */
  age?: string[];
  selection?: SelectionRule;
  macOnlyEncrypted?: boolean;
  shamirThreshold?: number;
  indent?: number;
}

const envOf = (c: Context) => c.env ?? process.env;
const cwdOf = (c: Context) => c.cwd ?? process.cwd();

export async function identitiesFor(c: Context): Promise<IdentitySet> {
  return c.identities ?? loadIdentities({ env: envOf(c) });
}

export async function loadSopsConfig(c: Context): Promise<SopsConfig | undefined> {
  const path = await findSopsConfig(cwdOf(c), { explicitPath: c.configPath, env: envOf(c) });
  if (!path) return undefined;
  return parseSopsConfig(decodeUtf8(await readFileCapped(path), path), path);
}

/**
 * Decides recipients and rules for a new encryption of `file` as sops does: `--age` /
 * SOPS_AGE_RECIPIENTS replace the keys of the matching `.sops.yaml` creation rule; CLI
 * selection flags win over the rule's (cmd/sops/main.go:2112-2150, 2428-2517).
 */
export async function creationKeys(file: string, o: CreationOptions, c: Context): Promise<{ keyGroups: string[][]; shamirThreshold?: number; selection?: SelectionRule; macOnlyEncrypted?: boolean; indent?: number }> {
  const env = envOf(c);
  const cliAge = o.age?.length ? parseRecipients(o.age) : env.SOPS_AGE_RECIPIENTS ? parseRecipients(env.SOPS_AGE_RECIPIENTS) : undefined;
  const config = await loadSopsConfig(c);
  let rule;
  if (config) {
    try {
      rule = matchCreationRule(config, resolve(cwdOf(c), file));
    } catch (e) {
      if (!cliAge) throw e;
    }
  }
  const keyGroups = cliAge ? [cliAge] : rule?.keyGroups;
  if (!keyGroups || keyGroups.every((g) => g.length === 0)) {
    throw new BootMetaError("SOPS_NO_RECIPIENTS", `cannot encrypt ${file}: no recipients. Give --age age1…, set SOPS_AGE_RECIPIENTS, or add a creation rule for it to .sops.yaml`, ExitCode.NoMatchingCreationRules, {
      data: { file, config: config?.path },
    });
  }
  const format = formatForPath(file);
  const indent = o.indent ?? (format === "yaml" ? config?.stores.yaml?.indent : format === "json" ? config?.stores.json?.indent : undefined);
  return {
    keyGroups,
    shamirThreshold: o.shamirThreshold ?? rule?.shamirThreshold,
    selection: o.selection ?? rule?.selection,
    macOnlyEncrypted: o.macOnlyEncrypted ?? rule?.macOnlyEncrypted,
    indent,
  };
}

export interface FileIO {
  inputType?: Format;
  outputType?: Format;
}

/** sops `encrypt FILE`: the encrypted bytes (the caller writes them where asked). */
export async function encryptFile(file: string, o: CreationOptions & FileIO, c: Context = {}): Promise<Uint8Array> {
  const format = o.inputType ?? formatForPath(file);
  const plain = await readUserFile(resolve(cwdOf(c), file), file);
  const keys = await creationKeys(file, o, c);
  const bytes = await encryptBytes(plain, { format, ...keys, path: file });
  return o.outputType && o.outputType !== format ? convertEncrypted(bytes, format, o.outputType) : bytes;
}

function convertEncrypted(bytes: Uint8Array, from: Format, to: Format): Uint8Array {
  const loaded = storeFor(from).loadEncrypted(bytes);
  return storeFor(to).emitEncrypted(loaded.tree, loaded.metadata);
}

function openOptions(file: string, format: Format, identities: IdentitySet, ignoreMac?: boolean): OpenOptions {
  return { format, identities, ignoreMac, path: file };
}

/** sops `decrypt FILE [--extract PATH]`: plaintext bytes in the output format. */
export async function decryptFile(file: string, o: FileIO & { extract?: PathPart[]; ignoreMac?: boolean; indent?: number } = {}, c: Context = {}): Promise<Uint8Array> {
  const format = o.inputType ?? formatForPath(file);
  const bytes = await readUserFile(resolve(cwdOf(c), file), file);
  const identities = await identitiesFor(c);
  if (!o.extract) return decryptBytes(bytes, { ...openOptions(file, format, identities, o.ignoreMac), outputFormat: o.outputType, indent: o.indent });
  const f = await openBytes(bytes, openOptions(file, format, identities, o.ignoreMac));
  // --extract reads the first document only (cmd/sops/decrypt.go:219-242).
  const value = getPath(f.tree[0] ?? new Branch(), o.extract);
  if (typeof value === "string") return Buffer.from(value, "utf8");
  if (value instanceof Uint8Array) return value;
  const out = storeFor(o.outputType ?? format);
  return value instanceof Branch ? out.emitPlain([value], { indent: o.indent }) : out.emitValue(value, { indent: o.indent });
}

/** Result of a verb that may leave the file as it was. */
export interface Changed {
  changed: boolean;
}

/**
 * sops `set FILE PATH VALUE`: one value changed in place; every other value keeps its
 * ciphertext. `value` is JSON (as sops takes it).
 */
export async function setInFile(file: string, path: PathPart[], jsonValue: string, o: { inputType?: Format; idempotent?: boolean; ignoreMac?: boolean } = {}, c: Context = {}): Promise<Changed> {
  const abs = resolve(cwdOf(c), file);
  const format = o.inputType ?? formatForPath(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(jsonValue);
  } catch {
    throw new BootMetaError("INVALID_ARGUMENT", `the value is not valid JSON (strings need quotes: '"text"'); got ${jsonValue.length} characters`, ExitCode.InvalidArgument);
  }
  // cmd/sops/main.go:2557-2582: scalar JSON numbers become float64 in sops' set.
  const value = fromPlain(parsed, { integersAreFloats: true });
  const bytes = await readUserFile(abs, file);
  const f = await openBytes(bytes, openOptions(file, format, await identitiesFor(c), o.ignoreMac));
  const tree = cloneTree(f.tree);
  const root = tree[0] ?? new Branch();
  if (o.idempotent) {
    try {
      if (sameValue(getPath(root, path), value)) return { changed: false };
    } catch {
      /* not there yet: set it */
    }
  }
  setPath(root, path, value);
  await writeFileAtomic(abs, sealBytes(f, tree));
  return { changed: true };
}

/** sops `unset FILE PATH`. A missing path is an error unless `idempotent`. */
export async function unsetInFile(file: string, path: PathPart[], o: { inputType?: Format; idempotent?: boolean; ignoreMac?: boolean } = {}, c: Context = {}): Promise<Changed> {
  const abs = resolve(cwdOf(c), file);
  const format = o.inputType ?? formatForPath(file);
  const f = await openBytes(await readUserFile(abs, file), openOptions(file, format, await identitiesFor(c), o.ignoreMac));
  const tree = cloneTree(f.tree);
  if (!unsetPath(tree[0] ?? new Branch(), path)) {
    if (o.idempotent) return { changed: false };
    getPath(tree[0] ?? new Branch(), path); // throws TREE_PATH_NOT_FOUND naming where it stops
  }
  await writeFileAtomic(abs, sealBytes(f, tree));
  return { changed: true };
}

export interface EditOptions extends CreationOptions, FileIO {
  ignoreMac?: boolean;
  /** The editor command (default $SOPS_EDITOR, $EDITOR, then vi). Split like a shell would, file appended. */
  editor?: string;
  /** Called when the edited text does not parse; resolve true to re-open the editor. */
  onInvalid?: (error: BootMetaError) => Promise<boolean>;
}

/**
 * Opens `initial` in the editor on a private scratch file (0600 in a 0700 directory on a tmpfs
 * when there is one, removed afterwards whatever happens — see scratch.ts) and returns the
 * edited text and its tree, or undefined when the text is the same as `baseline` (default:
 * `initial`). Invalid text re-opens the editor when `onInvalid` says so.
 */
export async function editInEditor(
  initial: Uint8Array,
  format: Format,
  o: { editor?: string; env?: NodeJS.ProcessEnv; ext?: string; what: string; baseline?: Uint8Array; onInvalid?: (e: BootMetaError) => Promise<boolean> },
): Promise<{ tree: Tree; text: Uint8Array } | undefined> {
  const store = storeFor(format);
  const env = o.env ?? process.env;
  return withScratchDir(async (dir) => {
    const scratch = join(dir, `plaintext${o.ext ?? ""}`);
    await writeFile(scratch, initial, { mode: 0o600, flag: "wx" });
    for (;;) {
      await runEditor(o.editor ?? env.SOPS_EDITOR ?? env.EDITOR ?? "vi", scratch, env);
      const edited = await readFile(scratch);
      if (Buffer.compare(edited, Buffer.from(o.baseline ?? initial)) === 0) return undefined;
      try {
        const tree = store.loadPlain(edited, { file: o.what });
        if (store.hasMetadata(tree)) throw new BootMetaError("SOPS_INVALID_EDIT", "the edited file contains a top-level sops key, which is reserved for metadata", ExitCode.InvalidFormat);
        return { tree, text: new Uint8Array(edited) };
      } catch (e) {
        if (e instanceof BootMetaError && o.onInvalid && (await o.onInvalid(e))) continue;
        throw e instanceof BootMetaError
          ? new BootMetaError(e.code, `your edit of ${o.what} was not saved: ${e.message}`, e.exitCode, { data: e.data, suggestions: ["run the edit again; the encrypted file is unchanged"] })
          : e;
      }
    }
  });
}

/**
 * sops `edit FILE`: decrypts into the editor, and re-encrypts only when the content changed —
 * unchanged values keep their ciphertext. A new file is created with the creation rules'
 * recipients.
 */
export async function editFile(file: string, o: EditOptions = {}, c: Context = {}): Promise<Changed> {
  const abs = resolve(cwdOf(c), file);
  const format = o.inputType ?? formatForPath(file);
  const exists = existsSync(abs);
  const opened = exists ? await openBytes(await readUserFile(abs, file), openOptions(file, format, await identitiesFor(c), o.ignoreMac)) : undefined;
  const keys = exists ? undefined : await creationKeys(file, o, c);
  const original = opened ? storeFor(format).emitPlain(opened.tree) : new Uint8Array();
  const edit = await editInEditor(original, format, { editor: o.editor, env: envOf(c), ext: extname(file), what: file, onInvalid: o.onInvalid });
  if (!edit) return { changed: false };
  const { tree } = edit;
  const bytes = opened ? sealBytes(opened, tree, { bumpVersion: true }) : await encryptBytes(storeFor(format).emitPlain(tree), { format, ...(keys as NonNullable<typeof keys>), path: file });
  await writeFileAtomic(abs, bytes, exists ? {} : { mode: 0o644 });
  return { changed: true };
}

async function runEditor(editor: string, file: string, env: NodeJS.ProcessEnv): Promise<void> {
  const argv = shellSplit(editor);
  const [cmd, ...args] = argv;
  if (!cmd) throw new BootMetaError("EDITOR_NOT_SET", "no editor is set: set $EDITOR", ExitCode.InvalidArgument);
  const { execa } = await import("execa");
  const r = await execa(cmd, [...args, file], { stdio: "inherit", env, reject: false });
  if (r.failed) {
    throw new BootMetaError("EDITOR_FAILED", `the editor (${cmd}) ${r.exitCode !== undefined ? `exited with code ${r.exitCode}` : "could not be started"}; nothing was saved`, ExitCode.General, {
      suggestions: ["set $EDITOR to an editor that is installed, e.g. EDITOR=nano"],
    });
  }
}

export interface UpdateKeysReport extends Changed {
  file: string;
  added: string[];
  removed: string[];
}

/** sops `updatekeys FILE`: re-wrap the data key for the recipients `.sops.yaml` names now. */
export async function updateKeysFile(file: string, o: { inputType?: Format; shamirThreshold?: number } = {}, c: Context = {}): Promise<UpdateKeysReport> {
  const abs = resolve(cwdOf(c), file);
  const format = o.inputType ?? formatForPath(file);
  const config = await loadSopsConfig(c);
  if (!config) {
    throw new BootMetaError("SOPS_NO_CONFIG", `cannot update keys of ${file}: no .sops.yaml was found from ${cwdOf(c)} upward`, ExitCode.NoMatchingCreationRules, {
      suggestions: ["run it from inside the repository, or pass --config PATH"],
    });
  }
  const rule = matchCreationRule(config, abs);
  const r = await updateKeysBytes(await readUserFile(abs, file), { format, keyGroups: rule.keyGroups, shamirThreshold: o.shamirThreshold ?? rule.shamirThreshold, identities: await identitiesFor(c), path: file });
  if (r.changed) await writeFileAtomic(abs, r.bytes);
  return { file, changed: r.changed, added: r.added, removed: r.removed };
}

/** sops `rotate FILE [--add-age R] [--rm-age R]`: a new data key, every value re-encrypted. */
export async function rotateFile(file: string, o: { inputType?: Format; addAge?: string[]; rmAge?: string[]; ignoreMac?: boolean } = {}, c: Context = {}): Promise<Uint8Array> {
  const abs = resolve(cwdOf(c), file);
  const format = o.inputType ?? formatForPath(file);
  const bytes = await readUserFile(abs, file);
  const identities = await identitiesFor(c);
  let keyGroups: string[][] | undefined;
  if (o.addAge?.length || o.rmAge?.length) {
    const { readRecipients } = await import("./engine.js");
    const rm = new Set(parseRecipients(o.rmAge ?? []));
    // rotate.go: added keys go to the first group; removed ones leave every group.
    keyGroups = readRecipients(bytes, format, file).map((g, i) => [...g, ...(i === 0 ? parseRecipients(o.addAge ?? []) : [])].filter((r) => !rm.has(r)));
  }
  return rotateBytes(bytes, { format, identities, ignoreMac: o.ignoreMac, path: file, keyGroups });
}

/** sops `filestatus FILE`. */
export async function fileStatusOf(file: string, o: { inputType?: Format } = {}, c: Context = {}): Promise<{ encrypted: boolean }> {
  return fileStatus(await readUserFile(resolve(cwdOf(c), file), file), o.inputType ?? formatForPath(file));
}

/**
 * The environment `exec-env` gives the command: the top-level keys of the first document,
 * scalars as sops' ValToString writes them (stores/stores.go:589-607).
 */
export async function secretEnv(file: string, o: { inputType?: Format; ignoreMac?: boolean } = {}, c: Context = {}): Promise<Record<string, string>> {
  const format = o.inputType ?? formatForPath(file);
  const f = await openBytes(await readUserFile(resolve(cwdOf(c), file), file), openOptions(file, format, await identitiesFor(c), o.ignoreMac));
  const out: Record<string, string> = {};
  for (const item of f.tree[0]?.items ?? []) {
    if (!("key" in item)) continue;
    if (item.key.includes("=")) throw new BootMetaError("SOPS_INVALID_ENV", `cannot export ${JSON.stringify(item.key)}: environment variable names cannot contain "="`, ExitCode.General);
    out[item.key] = valueToEnvString(item.value, item.key);
  }
  return out;
}

/**
 * The variables that name or hold the reader's own age identity. `exec-env` keeps them from
 * the command unless asked: the command needs the file's values, not the key that opens every
 * file (sops, by contrast, passes its whole environment on).
 */
export const KEY_ENV_VARS = ["SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_SSH_PRIVATE_KEY_CMD"] as const;

/**
 * The environment sops `exec-env FILE COMMAND` gives the command: ours with the file's values
 * over it (or the file's alone, `pristine`), without the identity variables
 * ({@link KEY_ENV_VARS}) unless `keepKeyEnv`. A variable of that name that the file itself
 * holds is passed: it is the file's value. The command is run by src/cli/child.ts.
 */
export async function execEnvironment(file: string, o: { inputType?: Format; pristine?: boolean; ignoreMac?: boolean; keepKeyEnv?: boolean } = {}, c: Context = {}): Promise<Record<string, string>> {
  const vars = await secretEnv(file, o, c);
  if (o.pristine) return vars;
  const inherited: Record<string, string> = {};
  for (const [k, v] of Object.entries(envOf(c))) if (v !== undefined && (o.keepKeyEnv || !(KEY_ENV_VARS as readonly string[]).includes(k))) inherited[k] = v;
  return { ...inherited, ...vars };
}

function cloneTree(t: Tree): Tree {
  return t.map((b) => cloneValue(b) as Branch);
}

function cloneValue(v: Value): Value {
  if (v instanceof Branch) return new Branch(v.items.map((i) => ("key" in i ? { key: i.key, value: cloneValue(i.value) } : { comment: i.comment })));
  if (Array.isArray(v)) return v.map(cloneValue);
  return v;
}

function sameValue(a: Value, b: Value): boolean {
  if (a instanceof Branch || b instanceof Branch || Array.isArray(a) || Array.isArray(b)) return JSON.stringify(toComparable(a)) === JSON.stringify(toComparable(b));
  return Object.is(a, b) || (typeof a === typeof b && String(a) === String(b));
}

function toComparable(v: Value): unknown {
  if (v instanceof Branch) return v.items.map((i) => ("key" in i ? [i.key, toComparable(i.value)] : ["#", i.comment.text]));
  if (Array.isArray(v)) return v.map(toComparable);
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Comment) return `#${v.text}`;
  if (v instanceof SopsTime) return `t${v.text}`;
  if (v instanceof Uint8Array) return `b${Buffer.from(v).toString("base64")}`;
  return v;
}
