import { Args } from "@oclif/core";
import { stringify } from "yaml";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, targetFlags } from "../../cli/meta-flags.js";
import { loadConfig } from "../../config/loader.js";
import { getDotted } from "../../config/merge.js";
import { BootMetaError, ExitCode } from "../../errors.js";

export default class ConfigGet extends BaseCommand {
  static override summary = "Print one value of the merged config (a dotted key).";
  static override examples = ["<%= config.bin %> config get database.url -p maintemplatev2 -e prod", "<%= config.bin %> config get flags.new_checkout --json"];
  static override args = { key: Args.string({ description: "dotted key, e.g. database.url", required: true }) };
  static override flags = { ...repoFlags, ...targetFlags, ...identityFlag };

  async run() {
    const { args, flags } = await this.parse(ConfigGet);
    const c = await loadConfig({ repo: await repoOf(flags), project: flags.project, env: flags.env, identities: await identitiesOf(flags), onWarning: this.warning });
    const value = getDotted(c.config, args.key);
    if (value === undefined) throw new BootMetaError("CONFIG_KEY_NOT_FOUND", `${args.key} is not set for ${c.project} ${c.env}`, ExitCode.General, { data: { key: args.key } });
    this.log(typeof value === "object" ? stringify(value).trimEnd() : String(value));
    const origin = Object.entries(c.origins).find(([k]) => k === args.key || k.startsWith(`${args.key}.`))?.[1] ?? null;
    return { key: args.key, value, origin, commit: c.commit };
  }
}
