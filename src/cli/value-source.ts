import { BootMetaError, ExitCode } from "../errors.js";
import { readStdinCapped, readUserFile } from "../io.js";
import { decodeUtf8 } from "../limits.js";

/**
 * Where a command's value comes from. A secret given as an argument is in `ps` and the shell
 * history; from standard input (`--stdin`, or `-` as the value) or a file (`--value-file`)
 * it is in neither.
 */
export interface ValueSources {
  arg?: string;
  file?: string;
  stdin?: boolean;
}

/** The value, read from exactly one source; throws `INVALID_ARGUMENT` naming the flags otherwise. */
export async function readValue(s: ValueSources, names: { file: string; stdin: string }, stdin: NodeJS.ReadableStream = process.stdin): Promise<{ text: string; from: "argument" | "file" | "stdin" }> {
  const fromStdin = s.stdin === true || s.arg === "-";
  const given = [s.arg !== undefined && s.arg !== "-", s.file !== undefined, fromStdin].filter(Boolean).length;
  if (given !== 1 || (s.stdin === true && s.arg !== undefined)) {
    throw new BootMetaError("INVALID_ARGUMENT", `give the value exactly once: as an argument, with ${names.file} FILE, or on standard input (${names.stdin}, or - as the value)`, ExitCode.InvalidArgument, {
      suggestions: ["a secret is best not given as an argument (it shows in `ps` and the shell history): pipe it in, or name a file"],
    });
  }
  // Both within the size limit, and strict UTF-8: a value is text.
  if (s.file !== undefined) return { text: decodeUtf8(await readUserFile(s.file), s.file), from: "file" };
  if (fromStdin) {
    if ((stdin as { isTTY?: boolean }).isTTY) process.stderr.write("reading the value from standard input; end it with Ctrl-D\n");
    return { text: decodeUtf8(await readStdinCapped("standard input", stdin), "standard input"), from: "stdin" };
  }
  return { text: s.arg as string, from: "argument" };
}
