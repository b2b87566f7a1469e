import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, emitOutput, fileFlags, formatFlag, ignoreMacFlag, outputFlags } from "../cli/sops-flags.js";
import { decryptFile } from "../sops/files.js";
import { parseTreePath } from "../sops/tree-path.js";

export default class Decrypt extends BaseCommand {
  static override summary = "Decrypt a SOPS file and print the plaintext in the file's own format.";
  static override description =
    "The identity comes from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and ~/.config/sops/age/keys.txt, as sops looks it up. The MAC is checked: a file changed outside sops is refused unless --ignore-mac. Plaintext goes to stdout unless you ask for a file with --output or --in-place.";
  static override examples = [
    "<%= config.bin %> decrypt secrets.enc.yaml",
    `<%= config.bin %> decrypt --extract '["database"]["password"]' secrets.enc.yaml`,
    "SOPS_AGE_KEY_FILE=./key.txt <%= config.bin %> decrypt --output-type json secrets.enc.yaml",
  ];
  static override args = { file: Args.string({ description: "the encrypted file", required: true }) };
  static override flags = {
    ...fileFlags,
    ...outputFlags,
    ...ignoreMacFlag,
    extract: Flags.string({ description: `print only the value at this path, e.g. '["a"]["b"][0]' (first document)` }),
    indent: Flags.integer({ description: "indentation of YAML/JSON output" }),
  };

  async run(): Promise<{ file: string; output: string | null; content?: string }> {
    const { args, flags } = await this.parse(Decrypt);
    const bytes = await decryptFile(
      args.file,
      {
        inputType: formatFlag(flags["input-type"]),
        outputType: formatFlag(flags["output-type"]),
        extract: flags.extract === undefined ? undefined : parseTreePath(flags.extract),
        ignoreMac: flags["ignore-mac"],
        indent: flags.indent,
      },
      contextFrom(flags),
    );
    if (this.jsonEnabled() && !flags["in-place"] && !flags.output) return { file: args.file, output: null, content: Buffer.from(bytes).toString("utf8") };
    const output = await emitOutput(bytes, args.file, flags);
    if (output) this.note(`decrypted ${args.file} → ${output} (plaintext on disk: remove it when done)`);
    return { file: args.file, output: output ?? null };
  }
}
