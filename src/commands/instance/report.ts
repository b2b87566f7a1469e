import { Args, Flags } from "@oclif/core";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { RecordCommand, recordFormatFlag } from "../../cli/records-output.js";
import { reportInstance } from "../../records/instances.js";

export default class InstanceReport extends RecordCommand {
  static override summary = "Record what an instance runs; writes only when something changed.";
  static override examples = ["<%= config.bin %> instance report shop web-1 --channel stable --release 1.4.0 --status running --push"];
  static override args = { project: Args.string({ required: true, description: "project" }), id: Args.string({ required: true, description: "instance id" }) };
  static override flags = { ...repoFlags, ...writeFlags, ...recordFormatFlag, channel: Flags.string({ description: "channel it follows" }), release: Flags.string({ required: true, description: "release id or version it runs" }), status: Flags.string({ description: "running, upgrading, failed, …" }) };

  async run() {
    const { args, flags } = await this.parse(InstanceReport);
    const r = await reportInstance(await repoOf(flags), args.project, args.id, { channel: flags.channel, release: flags.release, status: flags.status, author: flags.author, push: flags.push });
    this.note(r.value.changed ? `recorded ${args.id} on ${r.value.instance.releaseId}` : "no change; nothing written");
    this.writeProto(flags, "Instance", r.value.instance);
    return { ...r.value, commit: r.commit ?? null };
  }
}
