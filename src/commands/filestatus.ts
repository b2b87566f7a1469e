import { Args } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { fileFlags, formatFlag } from "../cli/sops-flags.js";
import { fileStatusOf } from "../sops/files.js";

export default class FileStatus extends BaseCommand {
  static override summary = "Tell whether a file is SOPS-encrypted (prints {\"encrypted\":true|false}, as sops).";
  static override examples = ["<%= config.bin %> filestatus prod/config.sops.yaml"];
  static override args = { file: Args.string({ description: "the file", required: true }) };
  static override flags = { "input-type": fileFlags["input-type"] };

  async run(): Promise<{ encrypted: boolean }> {
    const { args, flags } = await this.parse(FileStatus);
    const r = await fileStatusOf(args.file, { inputType: formatFlag(flags["input-type"]) });
    this.log(JSON.stringify(r));
    return r;
  }
}
