import { Command, Flags, type Interfaces } from "@oclif/core";
import { BootMetaError, ExitCode } from "../errors.js";
import { redactError, redactSecrets } from "../redact.js";
import { DEFAULT_LIMITS, formatBytes, LIMIT_SPECS } from "../limits.js";
import { applyLimitFlags, reportFailure } from "./report.js";

export { printError } from "./report.js";

/**
 * `--max-file-bytes`, `--max-depth`, `--max-aliases`, `--max-nodes` on every command: the
 * limits on hostile input (src/limits.ts) for this run, over BOOT_META_MAX_* variables.
 */
export const limitFlags = Object.fromEntries(
  LIMIT_SPECS.map((s) => [
    s.flag,
    Flags.string({
      description: `most ${s.what} (default ${s.bytes ? formatBytes(DEFAULT_LIMITS[s.key]) : DEFAULT_LIMITS[s.key]}, or ${s.env})${s.bytes ? "; K, M, G suffixes" : ""}`,
      helpGroup: "LIMITS",
    }),
  ]),
) as Record<string, Interfaces.OptionFlag<string | undefined>>;

/**
 * The base of every boot-meta command: `--json` (oclif's: the value `run()` returns is
 * printed as JSON), errors from the library turned into a clear message and the error's
 * exit code, no stack trace for expected failures. Nothing printed here repeats a private
 * key, whatever the user passed where (see redact.ts).
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;
  static override baseFlags = limitFlags;

  /** oclif's parse, then the limit flags applied before the command reads anything. */
  protected override async parse<F extends Interfaces.OutputFlags<any>, B extends Interfaces.OutputFlags<any>, A extends Interfaces.OutputArgs<any>>(options?: Interfaces.Input<F, B, A>, argv?: string[]): Promise<Interfaces.ParserOutput<F, B, A>> {
    // oclif reads a piped stdin, all of it, into the first argument left out; no boot-meta
    // argument comes from stdin (`set --value-stdin` reads it itself, within the size limit).
    for (const a of Object.values((options ?? (this.ctor as unknown as Interfaces.Input<F, B, A>)).args ?? {})) (a as { ignoreStdin?: boolean }).ignoreStdin = true;
    const r = await super.parse(options, argv);
    applyLimitFlags(r.flags as Record<string, unknown>);
    return r;
  }

  /** Prints a line for people; silent under --json (oclif's `log` already is). */
  protected say(line: string): void {
    this.log(line);
  }

  /**
   * What the library wants a person to know (a stale copy served, a layer read at its last
   * trusted version): to stderr, also under --json, where stdout carries only the result.
   */
  protected warning = (w: { code: string; message: string }): void => {
    process.stderr.write(`warning: ${redactSecrets(w.message)} [${w.code}]\n`);
  };

  /** Progress and notes go to stderr so stdout carries only the result. */
  protected note(line: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${redactSecrets(line)}\n`);
  }

  protected override async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (isOclifError(err)) {
      // `this.exit(code)` from a command: not a failure to report.
      if ((err as { code?: unknown }).code === "EEXIT") return super.catch(err);
      redactError(err);
      if (!this.jsonEnabled()) return super.catch(err);
      // oclif's own --json form of a parse error dumps the whole parse context, argv included.
      const usage = new BootMetaError("INVALID_ARGUMENT", err.message.replace(/\nSee more help with --help$/, ""), err.oclif?.exit ?? ExitCode.InvalidArgument, {
        suggestions: [`see \`${this.config.bin} ${this.id?.replaceAll(":", " ") ?? ""} --help\``],
      });
      process.stdout.write(`${JSON.stringify({ error: usage.toJSON() }, null, 2)}\n`);
      process.exitCode = usage.exitCode;
      this.exit(usage.exitCode);
    }
    const exitCode = reportFailure(err, this.jsonEnabled());
    process.exitCode = exitCode;
    this.exit(exitCode);
  }
}

function isOclifError(err: unknown): boolean {
  // oclif's parse errors (unknown flag, missing arg) and exits carry `oclif.exit`; the former already say what to do.
  return typeof err === "object" && err !== null && "oclif" in err;
}

/** Flags shared by commands that read a file through the SOPS engine. */
export const sopsFileFlags = {
  "input-type": Flags.string({ description: "format of the input: yaml, json, dotenv, ini or binary (default: from the file extension)", options: ["yaml", "json", "dotenv", "ini", "binary"] }),
  "output-type": Flags.string({ description: "format of the output (default: the input format)", options: ["yaml", "json", "dotenv", "ini", "binary"] }),
};
