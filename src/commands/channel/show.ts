import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { outputFlag, writeProto } from "../../cli/records-output.js";
import { validateName } from "../../meta/layout.js";
import { releaseFor, showChannel } from "../../records/channels.js";

export default class ChannelShow extends BaseCommand {
  static override summary = "Show the release a channel points at (and its rollout).";
  static override examples = ["<%= config.bin %> channel show shop stable --json", "<%= config.bin %> channel show shop stable --instance web-7   # the release web-7 should run during a rollout"];
  static override args = { project: Args.string({ required: true, description: "project" }), channel: Args.string({ required: true, description: "channel" }) };
  static override flags = { ...repoFlags, ...outputFlag, instance: Flags.string({ description: "also say which release this instance should run (during a rollout: decided by its id, the same answer every time)" }) };

  async run() {
    const { args, flags } = await this.parse(ChannelShow);
    const r = await showChannel(await repoOf(flags), args.project, args.channel);
    if (writeProto(flags, "Channel", r.channel)) return r;
    const forInstance = flags.instance === undefined ? undefined : { id: validateName("principal", flags.instance), releaseId: releaseFor(flags.instance, r.channel) };
    this.log(`${args.project}/${args.channel} → ${r.channel.releaseId}${r.channel.rollout ? ` (${r.channel.rollout.percent}%, others on ${r.channel.rollout.previousReleaseId})` : ""}  ${r.channel.updatedAt} ${r.channel.updatedBy ?? ""}`);
    if (forInstance) this.log(`instance ${forInstance.id} runs ${forInstance.releaseId}`);
    return { ...r, ...(forInstance ? { instance: forInstance } : {}) };
  }
}
