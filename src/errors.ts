import { ERROR_CODES, type ErrorCode, ExitCode } from "./error-codes.js";
import { redactDeep, redactSecrets } from "./redact.js";

/**
 * One error family for the whole library, CLI and server.
 *
 * Every expected failure is a {@link BootMetaError} with a stable `code` that scripts and
 * tests match on, a message that names the thing, the value, the rule and the fix, and an
 * `exitCode` for the CLI (sops' own exit codes where sops has one). `toJSON()` is what
 * `--json` prints. Messages never carry secret material: call sites do not interpolate it,
 * and any private key that slips into a message, a suggestion or `data` is redacted here.
 */

export interface ErrorDetails {
  /** Structured context (paths, recipients, expected values): never secrets. */
  data?: Record<string, unknown>;
  /** What the user can do next, one line each. */
  suggestions?: string[];
  cause?: unknown;
}

export class BootMetaError extends Error {
  /** Stable machine-readable code, e.g. `SOPS_MAC_MISMATCH` (the catalogue: error-codes.ts). */
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly data: Record<string, unknown>;
  readonly suggestions: string[];

  /** `exitCode` defaults to the catalogue's for the code. */
  constructor(code: ErrorCode, message: string, exitCode: number = ERROR_CODES[code].exit, details: ErrorDetails = {}) {
    super(redactSecrets(message), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "BootMetaError";
    this.code = code;
    this.exitCode = exitCode;
    this.data = redactDeep(details.data ?? {});
    this.suggestions = (details.suggestions ?? []).map(redactSecrets);
  }

  toJSON(): { code: ErrorCode; message: string; data: Record<string, unknown>; suggestions: string[] } {
    // Again here: `data` is readonly, not frozen, and a caller may have added to it since.
    return redactDeep({ code: this.code, message: this.message, data: this.data, suggestions: this.suggestions });
  }
}

export { ERROR_CODES, type ErrorCode, ExitCode } from "./error-codes.js";

export function isBootMetaError(e: unknown, code?: ErrorCode): e is BootMetaError {
  return e instanceof BootMetaError && (code === undefined || e.code === code);
}

/** Wraps an unexpected failure so the CLI can say it is a bug and how to report it. */
export function internalError(cause: unknown): BootMetaError {
  const what = cause instanceof Error ? cause.message : String(cause);
  return new BootMetaError("INTERNAL", `internal error: ${what}. This is a bug in boot-meta; please report it with the command you ran and this message.`, ExitCode.Internal, { cause });
}
