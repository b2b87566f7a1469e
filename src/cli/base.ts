import { Command, Flags } from "@oclif/core";
import { BootMetaError, internalError } from "../errors.js";

/**
 * The base of every boot-meta command: `--json` (oclif's: the value `run()` returns is
 * printed as JSON), errors from the library turned into a clear message and the error's
 * exit code, no stack trace for expected failures.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  /** Prints a line for people; silent under --json (oclif's `log` already is). */
  protected say(line: string): void {
    this.log(line);
  }

  /** Progress and notes go to stderr so stdout carries only the result. */
  protected note(line: string): void {
    if (!this.jsonEnabled()) process.stderr.write(`${line}\n`);
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    const known = err instanceof BootMetaError ? err : isOclifUsageError(err) ? undefined : internalError(err);
    if (known === undefined) return super.catch(err);
    if (this.jsonEnabled()) {
      process.stdout.write(`${JSON.stringify({ error: known.toJSON() }, null, 2)}\n`);
    } else {
      const lines = [`Error [${known.code}]: ${known.message}`];
      for (const s of known.suggestions) lines.push(`  → ${s}`);
      if (known.code === "INTERNAL" && err.stack && process.env.DEBUG) lines.push(err.stack);
      process.stderr.write(`${lines.join("\n")}\n`);
    }
    process.exitCode = known.exitCode;
    this.exit(known.exitCode);
  }
}

function isOclifUsageError(err: unknown): boolean {
  // oclif's parse errors (unknown flag, missing arg) carry `oclif.exit` and already say what to do.
  return typeof err === "object" && err !== null && "oclif" in err;
}

/** Flags shared by commands that read a file through the SOPS engine. */
export const sopsFileFlags = {
  "input-type": Flags.string({ description: "format of the input: yaml, json, dotenv, ini or binary (default: from the file extension)", options: ["yaml", "json", "dotenv", "ini", "binary"] }),
  "output-type": Flags.string({ description: "format of the output (default: the input format)", options: ["yaml", "json", "dotenv", "ini", "binary"] }),
};
