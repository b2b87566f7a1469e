import { Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { importsTargetFlags, importsTargetOf } from "../../cli/imports-flags.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { describePin, showImports } from "../../records/imports.js";

export default class ImportsShow extends BaseCommand {
  static override summary = "Show a project's import pins on a channel, as recorded (imports resolve says where they lead).";
  static override examples = ["<%= config.bin %> imports show -p shop --channel stable", "<%= config.bin %> imports show -p shop --channel stable --json"];
  static override flags = { ...repoFlags, ...importsTargetFlags, at: Flags.string({ description: "read at this commit or ref" }) };

  async run() {
    const { flags } = await this.parse(ImportsShow);
    const { project, channel } = await importsTargetOf(flags);
    const r = await showImports(await repoOf(flags), project, channel, { at: flags.at });
    for (const p of r.pins) this.log(`${p.module.padEnd(40)} ${describePin(p)}`);
    this.note(`${r.pins.length} pin(s) of ${project} on ${channel} at ${r.commit.slice(0, 12)}`);
    return r;
  }
}
