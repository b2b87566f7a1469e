import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { LIMIT_SPECS } from "../limits.js";
import { redactSecrets } from "../redact.js";
import { type DecryptFlags, decryptVerb } from "./decrypt-verb.js";
// Imported statically: a dynamic import would split decrypt's own modules out of fast.cjs into
// shared chunks (three files read instead of one); the drivers add ~60 KB that V8 only pre-parses.
import { mergeFileVerb, textconvVerb } from "./git-driver-verbs.js";
import { applyLimitFlags, reportFailure } from "./report.js";

/**
 * `boot-meta decrypt FILE` without loading oclif (README "Start-up"): starting oclif alone takes
 * a process past 2.5× a bare `node`, and decrypt is the verb typed most. The fast path reads
 * argv with node:util's parseArgs into the flags oclif would give (commands/decrypt.ts), then
 * does what the command does — the same {@link decryptVerb}, the same limit flags and failure
 * report (report.ts) — and prints what oclif would print. Whatever it does not understand
 * exactly goes to oclif: an unknown or repeated flag, a short flag other than `-i`, `--help`,
 * `--`, a value that starts with `-` or is empty, a value oclif would refuse (a format not in
 * the list, an indent that is not a whole number), not exactly one FILE, and the environment
 * that changes what oclif does (DEBUG, any oclif variable: BOOT_META_* beyond boot-meta's own,
 * OCLIF_*). `--json` is taken only where oclif would print plain JSON: no colours, no theme.
 * test/cli/fast-path.int.test.ts runs both paths on the same arguments and compares every byte.
 */

const FORMATS = ["yaml", "json", "dotenv", "ini", "binary"];

/** The decrypt command's flags (commands/decrypt.ts, with BaseCommand's --json and limits), as parseArgs reads them. */
export const FAST_DECRYPT_OPTIONS = {
  "input-type": { type: "string" },
  "output-type": { type: "string" },
  config: { type: "string" },
  "ignore-mac": { type: "boolean" },
  "in-place": { type: "boolean", short: "i" },
  output: { type: "string" },
  extract: { type: "string" },
  indent: { type: "string" },
  json: { type: "boolean" },
  ...Object.fromEntries(LIMIT_SPECS.map((s) => [s.flag, { type: "string" }])),
} satisfies NonNullable<ParseArgsConfig["options"]>;

/** Of the flags above, those oclif checks against a list of values. */
export const FAST_DECRYPT_CHOICES: Readonly<Record<string, readonly string[]>> = { "input-type": FORMATS, "output-type": FORMATS };

/** boot-meta's own variables under the prefix oclif reads its settings from (BOOT_META_DEBUG, …_CONTENT_TYPE, …). */
const OWN_VARIABLES = new Set(["BOOT_META_REPO", "BOOT_META_PROJECT", "BOOT_META_ENV", "BOOT_META_REF", "BOOT_META_TRUST_ROOT", "BOOT_META_WEBHOOK_SECRET", ...LIMIT_SPECS.map((s) => s.env)]);

export interface FastDecrypt {
  file: string;
  /** The flags as oclif would give them to the command, the limit flags as strings among them. */
  flags: DecryptFlags & Record<string, string | number | boolean | undefined>;
  json: boolean;
}

/**
 * The command and flags oclif would run for `argv`, when the fast path can run it exactly as
 * oclif would; `undefined` when it must go to oclif.
 */
export function parseFastDecrypt(argv: readonly string[], env: NodeJS.ProcessEnv, o: { stdoutIsTTY: () => boolean }): FastDecrypt | undefined {
  if (argv[0] !== "decrypt" || oclifReadsEnvironment(env)) return undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), options: FAST_DECRYPT_OPTIONS, allowPositionals: true, strict: true, tokens: true });
  } catch {
    return undefined; // unknown flag, a value that starts with "-", a value given to a boolean
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind === "option-terminator") return undefined;
    if (t.kind === "positional" && (t.value === "" || t.value.startsWith("-"))) return undefined;
    if (t.kind !== "option") continue;
    // oclif refuses a repeated option flag and reads `-i…` as several short flags.
    if (seen.has(t.name) || (t.rawName.startsWith("-") && !t.rawName.startsWith("--") && t.rawName !== "-i")) return undefined;
    seen.add(t.name);
    if (typeof t.value === "string" && (t.value === "" || t.value.startsWith("-"))) return undefined;
  }
  if (parsed.positionals.length !== 1) return undefined;
  const v = parsed.values as Record<string, string | boolean | undefined>;
  for (const [name, choices] of Object.entries(FAST_DECRYPT_CHOICES)) if (typeof v[name] === "string" && !choices.includes(v[name])) return undefined;
  const { indent, json, ...rest } = v;
  if (typeof indent === "string" && !/^\d{1,6}$/.test(indent)) return undefined;
  // oclif prints --json through its JSON colouriser, which writes JSON.stringify's text unless
  // colours are on (supports-color: stdout a TTY, or FORCE_COLOR) and a theme is set.
  if (json && ("FORCE_COLOR" in env || o.stdoutIsTTY())) return undefined;
  const flags: FastDecrypt["flags"] = {};
  for (const [k, val] of Object.entries(rest)) if (val !== undefined) flags[k] = val;
  if (indent !== undefined) flags.indent = Number.parseInt(indent as string, 10);
  return { file: parsed.positionals[0] as string, flags, json: json === true };
}

/** Whether the environment changes what oclif does (or turns the fast path off): then oclif runs the command. */
function oclifReadsEnvironment(env: NodeJS.ProcessEnv): boolean {
  if (env.BOOT_META_NO_FAST_PATH || "DEBUG" in env) return true;
  return Object.keys(env).some((k) => (k.startsWith("BOOT_META_") && !OWN_VARIABLES.has(k)) || k.startsWith("OCLIF_"));
}

/**
 * The git drivers as git runs them (`git textconv FILE`, `git merge-file %O %A %B %P`, written
 * by `boot-meta git setup`): once per file of a diff or merge, so oclif's start-up would be most
 * of their time. Exactly those argument counts, no flag, no empty argument; anything else goes
 * to oclif (commands/git/), which runs the same verbs (git-driver-verbs.ts).
 */
export function parseFastGitDriver(argv: readonly string[], env: NodeJS.ProcessEnv): { verb: "textconv"; file: string } | { verb: "merge-file"; files: [string, string, string, string] } | undefined {
  if (argv[0] !== "git" || oclifReadsEnvironment(env)) return undefined;
  const rest = argv.slice(2);
  if (rest.some((a) => a === "" || a.startsWith("-"))) return undefined;
  if (argv[1] === "textconv" && rest.length === 1) return { verb: "textconv", file: rest[0] as string };
  if (argv[1] === "merge-file" && rest.length === 4) return { verb: "merge-file", files: rest as [string, string, string, string] };
  return undefined;
}

/** bin/run.js's entry for the git drivers: runs `argv` and returns true, or returns false for oclif to run it. */
export async function gitDriverFastPath(argv: readonly string[], root: string): Promise<boolean> {
  const p = parseFastGitDriver(argv, process.env);
  if (p === undefined || !oclifRunsNothingElse(root)) return false;
  if (p.verb === "textconv") await textconvVerb(p.file, (b) => process.stdout.write(b));
  else process.exitCode = (await mergeFileVerb(...p.files, (line) => process.stderr.write(`${redactSecrets(line)}\n`))).exitCode;
  return true;
}

/** Runs a decrypt that {@link parseFastDecrypt} accepted, as the oclif command would; the exit code of a failure, else undefined. */
export async function runFastDecrypt(p: FastDecrypt): Promise<number | undefined> {
  try {
    applyLimitFlags(p.flags);
    const result = await decryptVerb(p.file, p.flags, { json: p.json, note: (line) => (p.json ? undefined : process.stderr.write(`${redactSecrets(line)}\n`)) });
    // oclif's logJson: its colouriser without colours prints JSON.stringify's text, through console.log.
    if (p.json) console.log(JSON.stringify(result, null, 2));
    return undefined;
  } catch (err) {
    return reportFailure(err as Error, p.json);
  }
}

/** bin/run.js's entry: runs `argv` and returns true, or returns false for oclif to run it. */
export async function fastPath(argv: readonly string[], root: string): Promise<boolean> {
  // process.stdout is a tty.WriteStream exactly when supports-color's isatty(1) is true.
  const p = parseFastDecrypt(argv, process.env, { stdoutIsTTY: () => process.stdout.isTTY === true });
  if (p === undefined || !oclifRunsNothingElse(root)) return false;
  const failed = await runFastDecrypt(p);
  // As oclif's error handler does after BaseCommand's report: leave at once with the code.
  if (failed !== undefined) {
    process.exitCode = failed;
    process.exit(failed);
  }
  return true;
}

/**
 * Whether oclif would run only the command: no hook but `command_not_found` (an `init` or
 * `prerun` hook runs before every command) and no plugin, whose hooks and flags it would load.
 */
function oclifRunsNothingElse(root: string): boolean {
  const { oclif } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { oclif?: { hooks?: object; plugins?: unknown[]; devPlugins?: unknown[] } };
  return Object.keys(oclif?.hooks ?? {}).every((h) => h === "command_not_found") && !oclif?.plugins?.length && !oclif?.devPlugins?.length;
}
