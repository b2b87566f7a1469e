import { BootMetaError, ExitCode } from "../errors.js";
import { writeFileAtomic } from "../io.js";
import type { Context } from "../sops/files.js";
import { parseFormat, type Format } from "../sops/formats/index.js";

// The parts of the sops verbs that need no oclif (sops-flags.ts holds their flag
// definitions), so that the fast path for `decrypt` (fast-path.ts) runs them too.

export function formatFlag(v: string | undefined): Format | undefined {
  return v === undefined ? undefined : parseFormat(v);
}

export function contextFrom(flags: { config?: string }): Context {
  return { configPath: flags.config };
}

/** Writes a verb's output where the user asked: over the input, to --output, or to stdout. */
export async function emitOutput(bytes: Uint8Array, file: string, flags: { "in-place"?: boolean; output?: string }): Promise<string | undefined> {
  if (flags["in-place"] && flags.output) throw new BootMetaError("INVALID_ARGUMENT", "give either --in-place or --output, not both", ExitCode.InvalidArgument);
  const target = flags["in-place"] ? file : flags.output;
  if (target) {
    await writeFileAtomic(target, bytes, flags["in-place"] ? {} : { mode: 0o600 });
    return target;
  }
  process.stdout.write(bytes);
  return undefined;
}
