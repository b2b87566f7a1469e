import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { rollbackChannel } from "../../records/channels.js";

export default class ChannelRollback extends BaseCommand {
  static override summary = "Point a channel back at the release it had before (recorded as a promotion).";
  static override examples = ["<%= config.bin %> channel rollback shop stable --push"];
  static override args = { project: Args.string({ required: true, description: "project" }), channel: Args.string({ required: true, description: "channel" }) };
  static override flags = { ...repoFlags, ...writeFlags };

  async run() {
    const { args, flags } = await this.parse(ChannelRollback);
    const r = await rollbackChannel(await repoOf(flags), args.project, args.channel, { author: flags.author, push: flags.push });
    this.note(`${args.project}/${args.channel}: ${r.value.from} → ${r.value.channel.releaseId}`);
    return { ...r.value, commit: r.commit ?? null };
  }
}
