import { Flags } from "@oclif/core";
import { stringify } from "yaml";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags } from "../../cli/meta-flags.js";
import { loadConfig, type LoadedConfig } from "../../config/loader.js";
import { getDotted } from "../../config/merge.js";

export default class ConfigShow extends BaseCommand {
  static override summary = "Show the merged config of a project and env (defaults ← env ← developer).";
  static override examples = ["<%= config.bin %> config show -p maintemplatev2 -e dev/alice", "<%= config.bin %> config show --origin", "<%= config.bin %> config show --json"];
  static override flags = { ...repoFlags, ...targetFlags, ...identityFlag, origin: Flags.boolean({ description: "say which layer each value came from" }), at: Flags.string({ description: "read at this commit or ref" }) };

  async run(): Promise<LoadedConfig> {
    const { flags } = await this.parse(ConfigShow);
    const c = await loadConfig({ repo: await repoOf(flags), project: flags.project, env: flags.env, identities: await identitiesOf(flags), onWarning: this.warning, at: flags.at });
    if (flags.origin) {
      for (const [k, layer] of Object.entries(c.origins).sort()) {
        const v = getDotted(c.config, k);
        this.log(`${k} = ${JSON.stringify(v)}  # ${layer}: ${c.layers.find((l) => l.name === layer)?.path}`);
      }
    } else this.log(stringify(c.config, { lineWidth: 0 }).trimEnd());
    this.note(`# ${c.project} ${c.env} at ${c.commit.slice(0, 12)}; layers: ${c.layers.map((l) => `${l.name}${l.found ? "" : " (none)"}`).join(" ← ")}`);
    return c;
  }
}
