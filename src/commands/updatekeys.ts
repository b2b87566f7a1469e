import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, fileFlags, formatFlag } from "../cli/sops-flags.js";
import { updateKeysFile, type UpdateKeysReport } from "../sops/files.js";

export default class UpdateKeys extends BaseCommand {
  static override summary = "Re-wrap files' data keys for the recipients .sops.yaml names now.";
  static override description =
    "Values, the MAC and lastmodified are untouched: only the wrapped data keys change. A recipient removed here can still open the file's old versions in git history; use rotate to lock it out of future versions. Needs an identity that opens each file.";
  static override examples = ["<%= config.bin %> updatekeys prod/config.sops.yaml", "<%= config.bin %> updatekeys --json $(git ls-files '*.sops.yaml')"];
  static override strict = false;
  static override args = { file: Args.string({ description: "one or more encrypted files", required: true }) };
  static override flags = {
    ...fileFlags,
    yes: Flags.boolean({ char: "y", description: "accepted for sops compatibility; boot-meta never prompts" }),
    "shamir-secret-sharing-threshold": Flags.integer({ description: "threshold for files with several key groups" }),
  };

  async run(): Promise<{ files: UpdateKeysReport[] }> {
    const { argv, flags } = await this.parse(UpdateKeys);
    const files: UpdateKeysReport[] = [];
    for (const [i, file] of (argv as string[]).entries()) {
      const r = await updateKeysFile(file, { inputType: formatFlag(flags["input-type"]), shamirThreshold: flags["shamir-secret-sharing-threshold"] }, contextFrom(flags));
      files.push(r);
      const what = r.changed ? `updated (+${r.added.length} −${r.removed.length})` : "already up to date";
      this.note(`[${i + 1}/${argv.length}] ${file}: ${what}`);
      for (const a of r.added) this.note(`    + ${a}`);
      for (const a of r.removed) this.note(`    - ${a}`);
    }
    return { files };
  }
}
