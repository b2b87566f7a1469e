import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { contextFrom, emitOutput, fileFlags, formatFlag, ignoreMacFlag, outputFlags } from "../cli/sops-flags.js";
import { rotateFile } from "../sops/files.js";

export default class Rotate extends BaseCommand {
  static override summary = "Make a new data key and re-encrypt every value with it.";
  static override description =
    "After a rotation a recipient that was removed (with --rm-age, or from .sops.yaml before an updatekeys) can open nothing written from now on. Prints the rotated file unless --in-place or --output.";
  static override examples = ["<%= config.bin %> rotate --in-place prod/config.sops.yaml", "<%= config.bin %> rotate -i --rm-age age1old… --add-age age1new… secrets.yaml"];
  static override args = { file: Args.string({ description: "the encrypted file", required: true }) };
  static override flags = {
    ...fileFlags,
    ...outputFlags,
    ...ignoreMacFlag,
    "add-age": Flags.string({ description: "age recipients to add to the first key group (comma separated)" }),
    "rm-age": Flags.string({ description: "age recipients to remove from every key group (comma separated)" }),
  };

  async run(): Promise<{ file: string; output: string | null; content?: string }> {
    const { args, flags } = await this.parse(Rotate);
    const bytes = await rotateFile(args.file, { inputType: formatFlag(flags["input-type"]), addAge: flags["add-age"] === undefined ? undefined : [flags["add-age"]], rmAge: flags["rm-age"] === undefined ? undefined : [flags["rm-age"]], ignoreMac: flags["ignore-mac"] }, contextFrom(flags));
    if (this.jsonEnabled() && !flags["in-place"] && !flags.output) return { file: args.file, output: null, content: Buffer.from(bytes).toString("utf8") };
    const output = await emitOutput(bytes, args.file, flags);
    if (output) this.note(`rotated the data key of ${args.file}`);
    return { file: args.file, output: output ?? null };
  }
}
