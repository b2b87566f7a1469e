import { Args, Flags } from "@oclif/core";
import { stringify } from "yaml";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags } from "../../cli/meta-flags.js";
import { BootMetaError, ExitCode } from "../../errors.js";
import { loadFlags } from "../../flags/load.js";

export default class FlagsGet extends BaseCommand {
  static override summary = "Print one flag's merged definition (flagd's format) and the layers it came from.";
  static override examples = ["<%= config.bin %> flags get new_checkout -p shop -e dev/alice", "<%= config.bin %> flags get new_checkout -p shop -e prod --json"];
  static override args = { flag: Args.string({ description: "the flag's key", required: true }) };
  static override flags = { ...repoFlags, ...targetFlags, ...identityFlag, at: Flags.string({ description: "read at this commit or ref" }) };

  async run() {
    const { args, flags } = await this.parse(FlagsGet);
    const set = await loadFlags({ repo: await repoOf(flags), project: flags.project, env: flags.env, identities: await identitiesOf(flags), onWarning: this.warning, at: flags.at });
    const e = set.get(args.flag);
    if (!e) {
      throw new BootMetaError("FLAGS_NOT_FOUND", `there is no flag ${args.flag} in ${set.project} ${set.env} at ${set.commit.slice(0, 12)}`, ExitCode.General, {
        data: { key: args.flag },
        suggestions: [`see which flags there are: \`boot-meta flags list -p ${set.project} -e ${set.env}\``],
      });
    }
    this.log(stringify(e.definition, { lineWidth: 0 }).trimEnd());
    if (e.errors.length) this.note(`warning: flag ${e.key} is not a valid flagd flag (it evaluates to ERROR): ${e.errors.join("; ")}`);
    this.note(`# ${e.key} from ${e.layers.join(" ← ")}, at ${set.commit.slice(0, 12)}`);
    return { key: e.key, definition: e.definition, layers: e.layers, valid: e.errors.length === 0, errors: e.errors, commit: set.commit };
  }
}
