import { BootMetaError, internalError } from "../errors.js";
import { redactSecrets } from "../redact.js";
import { LIMIT_SPECS, type Limits, parseLimit, resetLimits, setLimits } from "../limits.js";

// What every command does around its work, without oclif: the oclif commands (base.ts) and the
// fast path that runs `decrypt` without loading oclif (fast-path.ts) share it, so both report
// a failure and apply the limit flags the same way.

/**
 * How every failure reaches the user: `{ "error": { code, message, data, suggestions } }` on
 * stdout under --json, else the code, the message and what to do next on stderr. `stack` is
 * shown for an internal error when DEBUG is set.
 */
export function printError(known: BootMetaError, json: boolean, stack?: string): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ error: known.toJSON() }, null, 2)}\n`);
    return;
  }
  const lines = [`Error [${known.code}]: ${known.message}`];
  for (const s of known.suggestions) lines.push(`  → ${s}`);
  if (known.code === "INTERNAL" && stack && process.env.DEBUG) lines.push(redactSecrets(stack));
  process.stderr.write(`${lines.join("\n")}\n`);
}

/**
 * A failure of the command's own work (not of oclif's parsing) printed as {@link printError}
 * does, an unexpected one as an internal error; returns the exit code to leave with.
 */
export function reportFailure(err: Error, json: boolean): number {
  const known = err instanceof BootMetaError ? err : internalError(err);
  printError(known, json, err.stack);
  return known.exitCode;
}

/**
 * The `--max-*` flags (as strings, as given) applied before the command reads anything. A
 * command's limits are its environment's and its flags', never an earlier command's in the same
 * process (tests run many commands in one). Throws `INVALID_ARGUMENT` naming a bad value.
 */
export function applyLimitFlags(flags: Readonly<Record<string, unknown>>): void {
  const given: Partial<Limits> = {};
  for (const s of LIMIT_SPECS) {
    const v = flags[s.flag];
    if (typeof v === "string") given[s.key] = parseLimit(s, v, `--${s.flag}`);
  }
  resetLimits();
  setLimits(given);
}
