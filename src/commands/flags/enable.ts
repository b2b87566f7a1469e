import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags, targetOf, writeFlags } from "../../cli/meta-flags.js";
import { setFlagState } from "../../flags/write.js";

export default class FlagsEnable extends BaseCommand {
  static override summary = "Set a flag's state to ENABLED in the env's config layer (or --defaults), committed.";
  static override description = "An enabled flag is evaluated by its rules. In a layer that does not define the flag, only its state is written, over the definition of the layers below.";
  static override examples = ["<%= config.bin %> flags enable new_checkout -p shop -e prod", "<%= config.bin %> flags enable new_checkout -p shop --defaults"];
  static override args = { flag: Args.string({ description: "the flag's key", required: true }) };
  static override flags = { ...repoFlags, ...targetFlags, ...identityFlag, ...writeFlags, defaults: Flags.boolean({ description: "write the project's defaults layer instead of the env's" }) };

  async run() {
    const { args, flags } = await this.parse(FlagsEnable);
    const t = await targetOf(flags, { envRequired: !flags.defaults });
    const r = await setFlagState(await repoOf(flags), { project: t.project, env: flags.defaults ? undefined : t.env }, args.flag, "ENABLED", { identities: await identitiesOf(flags), author: flags.author, push: flags.push });
    this.note(`${r.commit ? "enabled" : "already ENABLED:"} ${args.flag} in ${r.value.path}${r.commit ? ` (${r.commit.slice(0, 12)})` : ""}`);
    return { key: args.flag, state: r.value.state, path: r.value.path, commit: r.commit ?? null, pushed: r.pushed };
  }
}
