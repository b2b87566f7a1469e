import { Args, Flags } from "@oclif/core";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { RecordCommand, recordFormatFlag } from "../../cli/records-output.js";
import { createRelease, parseCommitSpec, repoRefOf } from "../../records/releases.js";

export default class ReleaseCreate extends RecordCommand {
  static override summary = "Record a release: the commit of every repo it was built from (immutable).";
  static override examples = [
    "<%= config.bin %> release create shop --version 1.4.0 --repo ../shop --repo ../shared-lib",
    "<%= config.bin %> release create shop --version 1.4.0 --commit app=https://github.com/org/app@3f2c1a9d0e4b",
  ];
  static override args = { project: Args.string({ description: "project", required: true }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    ...recordFormatFlag,
    version: Flags.string({ description: "the version being released", required: true }),
    repo: Flags.string({ description: "a local git repo built from (its HEAD is recorded); repeatable", multiple: true }),
    commit: Flags.string({ description: "a repo given explicitly as NAME=URL@HASH; repeatable", multiple: true }),
    "allow-dirty": Flags.boolean({ description: "record repos with uncommitted changes (marked dirty)" }),
    notes: Flags.string({ description: "release notes" }),
  };

  async run() {
    const { args, flags } = await this.parse(ReleaseCreate);
    const repos = [...(await Promise.all((flags.repo ?? []).map((p) => repoRefOf(p, { allowDirty: flags["allow-dirty"] })))), ...(flags.commit ?? []).map(parseCommitSpec)];
    const r = await createRelease(await repoOf(flags), args.project, { version: flags.version, repos, notes: flags.notes, author: flags.author, push: flags.push });
    if (this.writeProto(flags, "Release", r.value)) return r.value;
    this.log(r.value.id);
    for (const x of r.value.repos) this.note(`  ${x.name} ${x.commit}${x.ref ? ` (${x.ref})` : ""}${x.dirty ? " dirty" : ""}`);
    return { ...r.value, commit: r.commit ?? null };
  }
}
