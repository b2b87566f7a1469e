import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { describeSigner, type VerifyReason } from "../../meta/verify.js";
import { channelHistory } from "../../records/channels.js";

export default class ChannelHistory extends BaseCommand {
  static override summary = "Every promotion and rollback of a channel from git history: who, when, from what to what.";
  static override description = "Who is git's author field, which anyone can set, beside who signed the commit: the principal whose ssh-ed25519 key in keys/ signed it (signedBy), or why none did. Whether the signer was allowed to make the change is `boot-meta verify`'s check.";
  static override examples = ["<%= config.bin %> channel history shop stable", "<%= config.bin %> channel history shop stable --limit 10 --json"];
  static override args = { project: Args.string({ required: true, description: "project" }), channel: Args.string({ required: true, description: "channel" }) };
  static override flags = { ...repoFlags, limit: Flags.integer({ description: "only the newest N promotions" }) };

  async run() {
    const { args, flags } = await this.parse(ChannelHistory);
    const h = await channelHistory(await repoOf(flags), args.project, args.channel, { limit: flags.limit });
    for (const c of h) this.log(`#${String(c.generation).padEnd(4)} ${c.date}  ${c.commit.slice(0, 12)}  ${(c.from ?? "(new)").padEnd(32)} → ${c.to}${c.percent ? ` (${c.percent}%)` : ""}${c.restores ? ` (rollback to #${c.restores})` : ""}  ${c.author} (${describeSigner({ principal: c.signedBy, reason: c.unsignedReason as VerifyReason | undefined })})`);
    return { history: h };
  }
}
