import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { importsTargetFlags, importsTargetOf } from "../../cli/imports-flags.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { unsetImport } from "../../records/imports.js";

export default class ImportsUnset extends BaseCommand {
  static override summary = "Remove a module's pin from a project's channel.";
  static override examples = ["<%= config.bin %> imports unset -p shop --channel stable github.com/org/shared-lib"];
  static override args = { module: Args.string({ description: "the pinned module", required: true }) };
  static override flags = { ...repoFlags, ...writeFlags, ...importsTargetFlags };

  async run() {
    const { args, flags } = await this.parse(ImportsUnset);
    const { project, channel } = await importsTargetOf(flags);
    const r = await unsetImport(await repoOf(flags), project, channel, args.module, { author: flags.author, push: flags.push });
    this.log(`${project}/${channel} no longer pins ${args.module}`);
    return { ...r.value, commit: r.commit ?? null };
  }
}
