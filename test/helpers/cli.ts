import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { format } from "node:util";
import { Config, type Command } from "@oclif/core";
import { Exit, handle } from "@oclif/core/handle";
import { execa } from "execa";
import { generateIdentity, identityToRecipient } from "age-encryption";
import { ensureBuilt } from "./build.js";
import { tempDir } from "./gitdir.js";

const ROOT = join(import.meta.dirname, "../..");
const COMMANDS = join(ROOT, "src/commands");
export const BIN = join(ROOT, "bin/run.js");

export interface CliResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

export interface Cli {
  (args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer }): Promise<CliResult>;
}

// As the test process began, before a command run in it replaced its environment.
const PATH = process.env.PATH;

/**
 * What a user's shell would give the CLI: a private HOME (so no real ~/.config/sops key
 * leaks in; `base.HOME` names one), TMPDIR, XDG_CONFIG_HOME and a git identity, and nothing
 * else of ours.
 */
function environment(base: NodeJS.ProcessEnv): (extra?: NodeJS.ProcessEnv) => NodeJS.ProcessEnv {
  const home = base.HOME ?? tempDir("boot-meta-home-");
  const tmp = join(home, "tmp");
  mkdirSync(tmp, { recursive: true });
  return (extra = {}) => ({
    PATH,
    HOME: home,
    TMPDIR: tmp,
    XDG_CONFIG_HOME: join(home, ".config"),
    GIT_AUTHOR_NAME: "Test Author",
    GIT_AUTHOR_EMAIL: "author@test.invalid",
    GIT_COMMITTER_NAME: "Test Author",
    GIT_COMMITTER_EMAIL: "author@test.invalid",
    NO_COLOR: "1",
    ...base,
    ...extra,
  });
}

/**
 * Runs `boot-meta ARGS` in this process against the TypeScript source (src/commands, through
 * vitest), as a user would run it: its own environment (see `environment`), working
 * directory and stdin, stdout and stderr captured, the exit code the process would have
 * had. Never throws on a non-zero exit: tests assert the exit code. Runs one command at a
 * time (the environment and working directory are the process's); commands that must run
 * side by side, racing each other, use `spawnCliWith`.
 *
 * Words that name no command in src/commands (`--version`, a mistyped command) go to the
 * built CLI as `spawnCliWith` does, since they are oclif's own paths; so does
 * `exec-env` and `run`, whose child writes to the process's own stdout, which only a pipe captures.
 */
export function cliWith(base: NodeJS.ProcessEnv = {}): Cli {
  const envOf = environment(base);
  const spawned = spawnWith(envOf);
  return async (args, opts = {}) => {
    const found = commandFor(args);
    if (!found) return serially(() => spawned(args, opts));
    return serially(() => runInProcess(found.id, found.argv, { args, cwd: opts.cwd, env: envOf(opts.env), input: opts.input }));
  };
}

/**
 * Runs the built CLI (`bin/run.js` → dist/) in a process of its own, as `cliWith` does in
 * this one. dist/ is rebuilt first when src/ changed since the last build, so this never
 * runs stale code. For the few smoke tests of the real entry point, and for commands that
 * race each other.
 */
export function spawnCliWith(base: NodeJS.ProcessEnv = {}): Cli {
  return spawnWith(environment(base));
}

/**
 * Like `spawnCliWith`, but hands back the running process itself (execa's), for tests that
 * signal it or read its pid while it runs.
 */
export function spawnCliProcess(base: NodeJS.ProcessEnv = {}) {
  const envOf = environment(base);
  return (args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}) => launch(envOf, args, opts);
}

function launch(envOf: (extra?: NodeJS.ProcessEnv) => NodeJS.ProcessEnv, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer }) {
  ensureBuilt();
  return execa(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    input: opts.input,
    reject: false,
    encoding: "buffer",
    stripFinalNewline: false,
    extendEnv: false,
    env: envOf(opts.env),
  });
}

function spawnWith(envOf: (extra?: NodeJS.ProcessEnv) => NodeJS.ProcessEnv): Cli {
  return async (args, opts = {}) => {
    const r = await launch(envOf, args, opts);
    return { exitCode: r.exitCode ?? 1, stdout: Buffer.from(r.stdout), stderr: Buffer.from(r.stderr) };
  };
}

export const out = (r: { stdout: unknown }) => Buffer.from(r.stdout as Uint8Array).toString("utf8");
export const err = (r: { stderr: unknown }) => Buffer.from(r.stderr as Uint8Array).toString("utf8");

/** A fresh age key pair, with the identity in a key file (mode 600) as sops expects. */
export async function ageKeyFile(dir = tempDir("boot-meta-key-")): Promise<{ identity: string; recipient: string; file: string }> {
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  const file = join(dir, `key-${recipient.slice(4, 12)}.txt`);
  writeFileSync(file, `# test-only key, generated by the test\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  return { identity, recipient, file };
}

// ---- in-process running -------------------------------------------------------------

/** Command ids as oclif derives them from src/commands: `config/get.ts` → `config:get`. */
const commandIds: Map<string, string> = new Map(
  readdirSync(COMMANDS, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => [f.slice(0, -3).split("/").join(":").replace(/:index$/, ""), join(COMMANDS, f)]),
);

/** Commands whose child process inherits stdout and stderr: they run in a process of their own. */
const SPAWNED = new Set(["exec-env", "run"]);

/** The longest run of leading words that names a command (topic separator: a space). */
function commandFor(args: string[]): { id: string; argv: string[] } | undefined {
  const words: string[] = [];
  for (const a of args) {
    if (a.startsWith("-")) break;
    words.push(a);
  }
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(":");
    if (commandIds.has(id)) return SPAWNED.has(id) ? undefined : { id, argv: args.slice(n) };
  }
  return undefined;
}

let config: Promise<Config> | undefined;
let queue: Promise<unknown> = Promise.resolve();

function serially<T>(f: () => Promise<T>): Promise<T> {
  const next = queue.then(f, f);
  queue = next.catch(() => undefined);
  return next;
}

type CommandClass = (new (argv: string[], config: Config) => Command) & { id?: string };

interface Run {
  /** The words after `boot-meta`, as process.argv.slice(2) holds them. */
  args: string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  input?: string | Buffer;
}

async function runInProcess(id: string, argv: string[], o: Run): Promise<CliResult> {
  config ??= Config.load({ root: ROOT }).then((c) => {
    // Where bin/run.js's `execute` leaves the config for oclif's error handler, which shows a
    // command's usage after a usage error. oclif exports no name for that cache.
    const require = createRequire(import.meta.url);
    const cache = require(join(dirname(require.resolve("@oclif/core")), "cache.js")) as { default: { getInstance(): Map<string, unknown> } };
    cache.default.getInstance().set("config", c);
    return c;
  });
  const cfg = await config;
  const C = ((await import(/* @vite-ignore */ commandIds.get(id) as string)) as { default: CommandClass }).default;
  C.id = id;

  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  const restore = takeOver(o, stdout, stderr);
  let exitCode: number | undefined;
  try {
    await (new C(argv, cfg) as unknown as { _run(): Promise<unknown> })._run();
  } catch (e) {
    exitCode = await exitCodeOf(e);
  } finally {
    exitCode ??= typeof process.exitCode === "number" ? process.exitCode : Number(process.exitCode ?? 0);
    restore();
  }
  return { exitCode, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) };
}

/**
 * What bin/run.js's `execute` does with an error a command throws: oclif's `handle` prints
 * it (not for an `ExitError`, which a command raises after printing its own) and exits
 * with its code. Here the exit is caught instead of ending the test process.
 */
async function exitCodeOf(e: unknown): Promise<number> {
  let code = 1;
  const exit = Exit.exit;
  Exit.exit = (c = 0) => {
    code = c;
    return undefined as never;
  };
  try {
    await handle(e as Error);
  } finally {
    Exit.exit = exit;
  }
  return code;
}

/**
 * Gives the process to one command: its environment (replacing ours, in place, so that
 * child processes and `os.homedir()`/`os.tmpdir()` see it too), argv, working directory,
 * stdin, and stdout/stderr (both the streams and `console`, which oclif prints through); not a
 * terminal, as under a pipe. Returns what puts ours back.
 */
function takeOver(o: Run, stdout: Buffer[], stderr: Buffer[]): () => void {
  const env = { ...process.env };
  const argv = process.argv;
  const cwd = process.cwd();
  const exitCode = process.exitCode;
  const stdin = Object.getOwnPropertyDescriptor(process, "stdin");
  const writes = [process.stdout.write, process.stderr.write] as const;
  const ttys = [process.stdout.isTTY, process.stderr.isTTY] as const;
  const con = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };

  // Vitest's own variables stay: the worker reads them while the command runs.
  for (const k of Object.keys(process.env)) if (!k.startsWith("VITEST")) delete process.env[k];
  for (const [k, v] of Object.entries(o.env)) if (v !== undefined) process.env[k] = v;
  if (o.cwd) process.chdir(o.cwd);
  process.argv = [process.execPath, BIN, ...o.args];
  process.exitCode = undefined;
  const input = Readable.from(o.input === undefined ? [] : [Buffer.from(o.input)]);
  Object.defineProperty(process, "stdin", { configurable: true, enumerable: true, get: () => input });
  const sink = (into: Buffer[]) =>
    function write(chunk: string | Uint8Array, encoding?: unknown, cb?: unknown): boolean {
      into.push(typeof chunk === "string" ? Buffer.from(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8") : Buffer.from(chunk));
      const done = typeof encoding === "function" ? encoding : cb;
      if (typeof done === "function") queueMicrotask(() => (done as () => void)());
      return true;
    };
  process.stdout.write = sink(stdout) as typeof process.stdout.write;
  process.stderr.write = sink(stderr) as typeof process.stderr.write;
  process.stdout.isTTY = false;
  process.stderr.isTTY = false;
  const line = (into: Buffer[]) => (...a: unknown[]) => void into.push(Buffer.from(`${format(...a)}\n`));
  console.log = console.info = console.debug = line(stdout);
  console.warn = console.error = line(stderr);

  return () => {
    Object.assign(console, con);
    [process.stdout.write, process.stderr.write] = writes;
    [process.stdout.isTTY, process.stderr.isTTY] = ttys;
    if (stdin) Object.defineProperty(process, "stdin", stdin);
    process.exitCode = exitCode;
    process.argv = argv;
    process.chdir(cwd);
    for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
    Object.assign(process.env, env);
  };
}
