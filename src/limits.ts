import { BootMetaError, type ErrorCode, ExitCode } from "./errors.js";

/**
 * Bounds on the work boot-meta does for one input: every file read from the meta repo or
 * given to the CLI (SOPS files, `.boot-meta.yaml`, `.sops.yaml`, `keys/*.txt`, records,
 * `project.yaml`, the bootstrap file, identity files, standard input). Anyone who can push
 * can put a file in the repo, so its size and shape are hostile input: past a limit the
 * read stops with a typed error that names the file, the limit and how to raise it.
 *
 * The limits come from the defaults, then BOOT_META_MAX_* variables (read once), then the
 * CLI's `--max-*` flags or {@link setLimits}. Never from the repository: a file in it
 * cannot widen what reading it may cost.
 */
export interface Limits {
  /** Bytes in one file (checked before it is read into memory). */
  maxFileBytes: number;
  /** Levels of nesting of maps and lists in one file, the top level being 1. */
  maxDepth: number;
  /** YAML aliases (`*name`) in one file. */
  maxAliases: number;
  /** Values (map entries, list items, dotenv/INI lines) in one file, with every alias expanded. */
  maxNodes: number;
}

export interface LimitSpec {
  key: keyof Limits;
  /** The environment variable that sets it. */
  env: string;
  /** The CLI flag that sets it (without dashes). */
  flag: string;
  default: number;
  /** Smallest value accepted. */
  min: number;
  /** Largest value accepted (the depth cannot go past what the parsers' stacks hold). */
  max: number;
  /** What it counts, for messages and help. */
  what: string;
  /** Whether values are byte counts (accepting K/M/G suffixes, printed as KiB/MiB/GiB). */
  bytes?: boolean;
  /** The error code when it is exceeded. */
  code: ErrorCode;
}

const MiB = 1024 * 1024;

export const LIMIT_SPECS: readonly LimitSpec[] = [
  { key: "maxFileBytes", env: "BOOT_META_MAX_FILE_BYTES", flag: "max-file-bytes", default: 32 * MiB, min: 1, max: Number.MAX_SAFE_INTEGER, what: "bytes in one file", bytes: true, code: "INPUT_TOO_LARGE" },
  // sops config nests a few levels; the yaml package's composer runs out of stack near 800.
  { key: "maxDepth", env: "BOOT_META_MAX_DEPTH", flag: "max-depth", default: 100, min: 1, max: 400, what: "levels of nesting in one file", code: "INPUT_TOO_DEEP" },
  { key: "maxAliases", env: "BOOT_META_MAX_ALIASES", flag: "max-aliases", default: 100, min: 0, max: Number.MAX_SAFE_INTEGER, what: "YAML aliases (*name) in one file", code: "INPUT_TOO_MANY_ALIASES" },
  { key: "maxNodes", env: "BOOT_META_MAX_NODES", flag: "max-nodes", default: 1_000_000, min: 1, max: Number.MAX_SAFE_INTEGER, what: "values in one file (aliases expanded)", code: "INPUT_TOO_MANY_NODES" },
];

const specOf = (key: keyof Limits) => LIMIT_SPECS.find((s) => s.key === key) as LimitSpec;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze(Object.fromEntries(LIMIT_SPECS.map((s) => [s.key, s.default])) as unknown as Limits);

let fromEnv: Limits | undefined;
let overrides: Partial<Limits> = {};
let current: Limits | undefined;

/** The limits in force: defaults ← BOOT_META_MAX_* (read on first use) ← {@link setLimits}. */
export function limits(): Limits {
  if (current) return current;
  fromEnv ??= limitsFromEnv(process.env);
  current = { ...fromEnv, ...overrides };
  return current;
}

/**
 * Overrides limits for this process (the CLI's `--max-*` flags; a library caller's choice).
 * Throws `INVALID_ARGUMENT` for a value out of range. `undefined` leaves a limit as it is.
 */
export function setLimits(o: Partial<Limits>): void {
  const next = { ...overrides };
  for (const s of LIMIT_SPECS) {
    const v = o[s.key];
    if (v === undefined) continue;
    next[s.key] = checked(s, v, `${s.key}`);
  }
  overrides = next;
  current = undefined;
}

/** Drops every override and reads the environment again on next use (tests). */
export function resetLimits(): void {
  overrides = {};
  fromEnv = undefined;
  current = undefined;
}

/** Limits from BOOT_META_MAX_* variables over the defaults; `INVALID_ARGUMENT` naming a bad one. */
export function limitsFromEnv(env: NodeJS.ProcessEnv): Limits {
  const out = { ...DEFAULT_LIMITS };
  for (const s of LIMIT_SPECS) {
    const raw = env[s.env];
    if (raw !== undefined && raw.trim() !== "") out[s.key] = parseLimit(s, raw, s.env);
  }
  return out;
}

/** Parses a limit as given on the command line or in the environment: `1000`, `64MiB`, `512K`. */
export function parseLimit(s: LimitSpec, raw: string, where: string): number {
  const m = /^\s*(\d+)\s*(?:([kmg])(?:i?b)?)?\s*$/i.exec(raw);
  if (!m || (m[2] && !s.bytes)) {
    throw new BootMetaError("INVALID_ARGUMENT", `${where} is ${JSON.stringify(raw)}: expected ${s.bytes ? "a number of bytes, e.g. 67108864 or 64MiB" : "a whole number"}`, ExitCode.InvalidArgument, {
      data: { setting: where },
    });
  }
  const unit = { k: 1024, m: MiB, g: 1024 * MiB }[(m[2] ?? "").toLowerCase()] ?? 1;
  return checked(s, Number(m[1]) * unit, where);
}

function checked(s: LimitSpec, v: number, where: string): number {
  if (!Number.isSafeInteger(v) || v < s.min || v > s.max) {
    throw new BootMetaError("INVALID_ARGUMENT", `${where} is ${v}: the limit on ${s.what} must be a whole number from ${s.min} to ${s.max}`, ExitCode.InvalidArgument, {
      data: { setting: where, min: s.min, max: s.max },
    });
  }
  return v;
}

export function formatBytes(n: number): string {
  if (n >= MiB) return `${(n / MiB).toFixed(n % MiB === 0 ? 0 : 1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KiB`;
  return `${n} bytes`;
}

const shown = (s: LimitSpec, v: number) => (s.bytes ? formatBytes(v) : String(v));

/**
 * The error for an input past a limit: names the file, the limit and its value, and how to
 * raise it (a flag or a variable: never the repository). `found` says what was seen.
 */
export function limitExceeded(key: keyof Limits, file: string | undefined, found: string): BootMetaError {
  const s = specOf(key);
  const max = limits()[key];
  const name = file ?? "the input";
  return new BootMetaError(s.code, `${name} ${found}; the limit on ${s.what} is ${shown(s, max)}, so it was refused`, ExitCode.General, {
    data: { file, limit: s.key, max, env: s.env, flag: `--${s.flag}` },
    suggestions: [
      `if ${name} is meant to be like this, raise the limit for this run: --${s.flag} N or ${s.env}=N (a repository cannot raise it)`,
      "if you did not expect it, look at where it came from (`git log -p -- FILE`) before raising anything: it may be an attack",
    ],
  });
}

/** INPUT_TOO_LARGE unless `size` bytes are within the limit. */
export function checkSize(size: number, file: string | undefined): void {
  if (size > limits().maxFileBytes) throw limitExceeded("maxFileBytes", file, `is ${formatBytes(size)}`);
}

export function tooDeep(file: string | undefined): BootMetaError {
  return limitExceeded("maxDepth", file, `nests more than ${limits().maxDepth} levels deep`);
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * A text file's bytes as a string, refusing (INPUT_INVALID_UTF8) bytes that are not UTF-8
 * rather than turning them into U+FFFD: a value that decrypts or compares differently from
 * what was written is worse than an error. Also checks the size limit. A BOM is kept, as
 * Buffer#toString keeps it.
 */
export function decodeUtf8(bytes: Uint8Array, file: string | undefined): string {
  checkSize(bytes.length, file);
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw new BootMetaError("INPUT_INVALID_UTF8", `${file ?? "the input"} is not valid UTF-8 (the character at byte ${at}${lineOf(bytes, at)} is not UTF-8); YAML, JSON, dotenv and INI files must be UTF-8`, ExitCode.InvalidFormat, {
      data: { file, offset: at },
      suggestions: ["convert it to UTF-8 (e.g. `iconv -f LATIN1 -t UTF-8`)", "if it is binary data, encrypt it as a binary file: --input-type binary"],
    });
  }
}

function lineOf(bytes: Uint8Array, at: number): string {
  let line = 1;
  for (let i = 0; i < at; i++) if (bytes[i] === 10) line++;
  return `, line ${line}`;
}

/** Offset of the first byte that does not start or continue a well-formed UTF-8 sequence. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    if (c < 0x80) {
      i++;
      continue;
    }
    // Lead byte → number of continuation bytes and the range the second byte must be in
    // (excludes overlong forms and surrogates, as the Unicode table of well-formed sequences).
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined) return i;
      if (k === 1 ? d < lo || d > hi : d < 0x80 || d > 0xbf) return i;
    }
    i += n + 1;
  }
  return b.length;
}

/**
 * How deep a JSON text nests (objects and arrays, strings skipped), stopping as soon as it
 * passes the limit: JSON.parse itself copes with any depth, but what is done with the value
 * afterwards (JSON.stringify, a recursive walk) does not. INPUT_TOO_DEEP when past it.
 */
export function checkJsonDepth(text: string, file: string | undefined): void {
  const max = limits().maxDepth;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Skip a string: up to the next quote not escaped by a backslash.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) throw tooDeep(file);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}
