import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { mergeFileVerb } from "../../cli/git-driver-verbs.js";
import type { MergeFileResult } from "../../meta/git-drivers.js";

export default class GitMergeFile extends BaseCommand {
  static override hidden = true;
  static override summary = "git's merge driver for SOPS files (merge.boot-meta.driver): a value-wise three-way merge.";
  static override description = `Run by git as \`git merge-file %O %A %B %P\`; writes the result into OURS. Merges the decrypted documents value by value: values unchanged keep their ciphertext, mac and lastmodified are recomputed, recipients come from the access rules. A value both sides changed holds git's conflict markers (encrypted like any value) and the exit code is 1. When a side does not open with your identity, or the file is not a SOPS file, git's own \`git merge-file\` merges the bytes (a normal conflict), never writing plaintext.`;
  static override examples = ["<%= config.bin %> git merge-file .merge_file_base .merge_file_ours .merge_file_theirs shop/envs/prod/config.sops.yaml"];
  static override args = {
    base: Args.string({ description: "the common ancestor's version (%O)", required: true }),
    ours: Args.string({ description: "our version (%A); the result is written here", required: true }),
    theirs: Args.string({ description: "their version (%B)", required: true }),
    path: Args.string({ description: "the file's path in the repository (%P)", required: true }),
  };

  async run(): Promise<MergeFileResult> {
    const { args } = await this.parse(GitMergeFile);
    const r = await mergeFileVerb(args.base, args.ours, args.theirs, args.path, (line) => this.note(line));
    // git reads a conflict from the exit code; --json still prints the result first.
    if (r.exitCode !== 0) {
      if (!this.jsonEnabled()) this.exit(r.exitCode);
      process.exitCode = r.exitCode;
    }
    return r;
  }
}
