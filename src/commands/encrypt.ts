import { Args } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, creationFlags, emitOutput, fileFlags, formatFlag, outputFlags, selectionFrom } from "../cli/sops-flags.js";
import { encryptFile } from "../sops/files.js";

export default class Encrypt extends BaseCommand {
  static override summary = "Encrypt a file in the SOPS format (compatible with sops 3.x).";
  static override description =
    "Recipients come from --age, SOPS_AGE_RECIPIENTS, or the first creation rule in .sops.yaml (found from the current directory upward) whose path_regex matches the file. Keys stay readable; values are encrypted with AES-256-GCM under a data key wrapped for each age recipient. Prints to stdout unless --in-place or --output.";
  static override examples = [
    "<%= config.bin %> encrypt --age age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p secrets.yaml > secrets.enc.yaml",
    "<%= config.bin %> encrypt --in-place --encrypted-regex '^(data|stringData)$' k8s-secret.yaml",
  ];
  static override args = { file: Args.string({ description: "the plaintext file", required: true }) };
  static override flags = { ...fileFlags, ...outputFlags, ...creationFlags };

  async run(): Promise<{ file: string; output: string | null; content?: string }> {
    const { args, flags } = await this.parse(Encrypt);
    const bytes = await encryptFile(
      args.file,
      {
        inputType: formatFlag(flags["input-type"]),
        outputType: formatFlag(flags["output-type"]),
        age: flags.age === undefined ? undefined : [flags.age],
        selection: selectionFrom(flags),
        macOnlyEncrypted: flags["mac-only-encrypted"] || undefined,
        shamirThreshold: flags["shamir-secret-sharing-threshold"],
        indent: flags.indent,
      },
      contextFrom(flags),
    );
    if (this.jsonEnabled() && !flags["in-place"] && !flags.output) return { file: args.file, output: null, content: Buffer.from(bytes).toString("utf8") };
    const output = await emitOutput(bytes, args.file, flags);
    if (output) this.note(`encrypted ${args.file} → ${output}`);
    return { file: args.file, output: output ?? null };
  }
}
