import { Args, Flags } from "@oclif/core";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { resolveSettings } from "../../config/bootstrap.js";
import { RecordCommand, recordFormatFlag } from "../../cli/records-output.js";
import { showChannel } from "../../records/channels.js";

export default class ChannelShow extends RecordCommand {
  static override summary = "Show the release a channel points at (and its rollout).";
  static override description =
    "During a rollout the channel's instances (those whose records name it) are ranked by a hash of the channel and their id, and the first ceil(percent × N / 100) of them (at least one) get the release; an instance with no record yet gets it when its own hash falls under the percent. `instance list` and `binary which` decide the same way.";
  static override examples = ["<%= config.bin %> channel show shop stable --json", "<%= config.bin %> channel show shop stable --instance web-7   # the release web-7 should run during a rollout", "<%= config.bin %> channel show shop stable --trust-root 4b825dc   # as allowed signers wrote it"];
  static override args = { project: Args.string({ required: true, description: "project" }), channel: Args.string({ required: true, description: "channel" }) };
  static override flags = {
    ...repoFlags,
    ...recordFormatFlag,
    instance: Flags.string({ description: "also say which release this instance should run (during a rollout: decided by its rank in the channel's fleet)" }),
    release: Flags.string({ description: "the release to judge the channel's promotion gates for (default: the one the gate's `after` channel runs)" }),
    "trust-root": Flags.string({ description: "read the channel, its fleet and its gates as allowed signers wrote them, verified from this commit: a change the rules do not allow is shown at its last trusted version (default: BOOT_META_TRUST_ROOT or the bootstrap file's trust-root)" }),
  };

  async run() {
    const { args, flags } = await this.parse(ChannelShow);
    const { trustRoot } = await resolveSettings({ trustRoot: flags["trust-root"] });
    const r = await showChannel(await repoOf(flags), args.project, args.channel, { instance: flags.instance, release: flags.release, trustRoot });
    for (const u of r.untrusted ?? []) this.note(`note: ${u.path} is shown at its last trusted version: ${u.message}`);
    if (this.writeProto(flags, "Channel", r.channel)) return r;
    const ro = r.channel.rollout;
    this.log(`${args.project}/${args.channel} → ${r.channel.releaseId}${ro ? ` (${ro.percent}%: ${r.fleet.onRelease} of ${r.fleet.instances} recorded instances; the others on ${ro.previousReleaseId})` : ""}  ${r.channel.updatedAt} ${r.channel.updatedBy ?? ""}`);
    if (r.instance) this.log(`instance ${r.instance.id} runs ${r.instance.releaseId}${r.instance.recorded ? "" : " (not recorded on this channel yet: placed by its hash)"}`);
    const g = r.gates;
    if (g) {
      this.log(`gates (${g.rule}) for ${g.releaseId}: ${g.met ? "met" : "not met"}`);
      if (g.approvals) this.log(`  approvals: ${g.approvals.by.length} of ${g.approvals.needed}${g.approvals.by.length ? ` (${g.approvals.by.join(", ")})` : ""} ${g.approvals.met ? "✓" : "✗"}`);
      if (g.soak) this.log(`  soak on ${g.soak.after}: ${g.soak.soaked}s of ${g.soak.seconds}s${g.soak.since ? ` since ${g.soak.since}` : " (never on all of it)"} ${g.soak.met ? "✓" : "✗"}`);
    }
    return r;
  }
}
