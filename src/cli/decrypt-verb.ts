import { decryptFile } from "../sops/files.js";
import { parseTreePath } from "../sops/tree-path.js";
import { contextFrom, emitOutput, formatFlag } from "./sops-output.js";

/** The flags of `boot-meta decrypt` as oclif parses them (commands/decrypt.ts), limits aside. */
export interface DecryptFlags {
  "input-type"?: string;
  "output-type"?: string;
  config?: string;
  "ignore-mac"?: boolean;
  "in-place"?: boolean;
  output?: string;
  extract?: string;
  indent?: number;
}

export interface DecryptResult {
  file: string;
  output: string | null;
  content?: string;
}

/**
 * What `boot-meta decrypt FILE` does once its flags are parsed: decrypt, then print the
 * plaintext or write it where --output/--in-place say. The oclif command and the fast path that
 * skips oclif (fast-path.ts) both run this, so they cannot differ in what they do.
 */
export async function decryptVerb(file: string, flags: DecryptFlags, out: { json: boolean; note: (line: string) => void }): Promise<DecryptResult> {
  const bytes = await decryptFile(
    file,
    {
      inputType: formatFlag(flags["input-type"]),
      outputType: formatFlag(flags["output-type"]),
      extract: flags.extract === undefined ? undefined : parseTreePath(flags.extract),
      ignoreMac: flags["ignore-mac"],
      indent: flags.indent,
    },
    contextFrom(flags),
  );
  if (out.json && !flags["in-place"] && !flags.output) return { file, output: null, content: Buffer.from(bytes).toString("utf8") };
  const output = await emitOutput(bytes, file, flags);
  if (output) out.note(`decrypted ${file} → ${output} (plaintext on disk: remove it when done)`);
  return { file, output: output ?? null };
}
