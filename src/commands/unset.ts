import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, fileFlags, formatFlag, ignoreMacFlag } from "../cli/sops-flags.js";
import { unsetInFile } from "../sops/files.js";
import { parseTreePath } from "../sops/tree-path.js";

export default class Unset extends BaseCommand {
  static override summary = "Remove one value from an encrypted file.";
  static override examples = [`<%= config.bin %> unset secrets.yaml '["database"]["password"]'`];
  static override args = {
    file: Args.string({ description: "the encrypted file", required: true }),
    index: Args.string({ description: `what to remove, e.g. '["a"]["b"]'`, required: true }),
  };
  static override flags = { ...fileFlags, ...ignoreMacFlag, idempotent: Flags.boolean({ description: "exit 0 when the path is already absent" }) };

  async run(): Promise<{ file: string; path: string; changed: boolean }> {
    const { args, flags } = await this.parse(Unset);
    const r = await unsetInFile(args.file, parseTreePath(args.index), { inputType: formatFlag(flags["input-type"]), idempotent: flags.idempotent, ignoreMac: flags["ignore-mac"] }, contextFrom(flags));
    this.note(r.changed ? `removed ${args.index} from ${args.file}` : `${args.index} was not there; ${args.file} left as it was`);
    return { file: args.file, path: args.index, changed: r.changed };
  }
}
