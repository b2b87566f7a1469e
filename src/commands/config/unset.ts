import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags, targetOf, writeFlags } from "../../cli/meta-flags.js";
import { unsetConfigValue } from "../../config/edit.js";

export default class ConfigUnset extends BaseCommand {
  static override summary = "Remove a value from the env's config layer (or --defaults), committed.";
  static override examples = ["<%= config.bin %> config unset database.debug -e dev/alice"];
  static override args = { key: Args.string({ description: "dotted key", required: true }) };
  static override flags = { ...repoFlags, ...targetFlags, ...identityFlag, ...writeFlags, defaults: Flags.boolean({ description: "the project's defaults layer" }) };

  async run() {
    const { args, flags } = await this.parse(ConfigUnset);
    const t = await targetOf(flags, { envRequired: !flags.defaults });
    const r = await unsetConfigValue(await repoOf(flags), { project: t.project, env: flags.defaults ? undefined : t.env }, args.key, { identities: await identitiesOf(flags), author: flags.author, push: flags.push });
    this.note(`removed ${args.key} from ${r.value.path}`);
    return { key: args.key, path: r.value.path, commit: r.commit ?? null };
  }
}
