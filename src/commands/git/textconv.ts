import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { textconvVerb } from "../../cli/git-driver-verbs.js";

export default class GitTextconv extends BaseCommand {
  static override hidden = true;
  static override summary = "git's textconv for SOPS files (diff.boot-meta.textconv): the decrypted document, or whom it is encrypted to.";
  static override description = "Run by git, once per file version in a diff. Prints the decrypted document when your identity opens it; otherwise one line naming its recipients and you, then its structure with the values masked. A file that is not a SOPS file is printed as it is. Never fails.";
  static override examples = ["<%= config.bin %> git textconv prod/config.sops.yaml"];
  static override args = { file: Args.string({ description: "the file git hands over", required: true }) };

  async run(): Promise<{ file: string; content: string } | undefined> {
    const { args } = await this.parse(GitTextconv);
    const chunks: Uint8Array[] = [];
    await textconvVerb(args.file, (b) => (this.jsonEnabled() ? chunks.push(b) : process.stdout.write(b)));
    return this.jsonEnabled() ? { file: args.file, content: Buffer.concat(chunks).toString("utf8") } : undefined;
  }
}
