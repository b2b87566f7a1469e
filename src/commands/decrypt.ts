import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { decryptVerb, type DecryptResult } from "../cli/decrypt-verb.js";
import { fileFlags, ignoreMacFlag, outputFlags } from "../cli/sops-flags.js";

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

  // bin/run.js runs the common forms of this command without oclif (cli/fast-path.ts): a flag
  // added here is one the fast path does not know, so it falls back to oclif until it learns it.
  async run(): Promise<DecryptResult> {
    const { args, flags } = await this.parse(Decrypt);
    return decryptVerb(args.file, flags, { json: this.jsonEnabled(), note: (line) => this.note(line) });
  }
}
