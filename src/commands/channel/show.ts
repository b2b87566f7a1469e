import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { outputFlag, writeProto } from "../../cli/records-output.js";
import { showChannel } from "../../records/channels.js";

export default class ChannelShow extends BaseCommand {
  static override summary = "Show the release a channel points at (and its rollout).";
  static override examples = ["<%= config.bin %> channel show shop stable --json"];
  static override args = { project: Args.string({ required: true, description: "project" }), channel: Args.string({ required: true, description: "channel" }) };
  static override flags = { ...repoFlags, ...outputFlag };

  async run() {
    const { args, flags } = await this.parse(ChannelShow);
    const r = await showChannel(await repoOf(flags), args.project, args.channel);
    if (writeProto(flags, "Channel", r.channel)) return r;
    this.log(`${args.project}/${args.channel} → ${r.channel.releaseId}${r.channel.rollout ? ` (${r.channel.rollout.percent}%, others on ${r.channel.rollout.previousReleaseId})` : ""}  ${r.channel.updatedAt} ${r.channel.updatedBy ?? ""}`);
    return r;
  }
}
