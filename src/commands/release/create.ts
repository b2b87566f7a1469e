import { Args, Flags } from "@oclif/core";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { RecordCommand, recordFormatFlag } from "../../cli/records-output.js";
import { resolveSettings } from "../../config/bootstrap.js";
import { importsForRelease } from "../../records/imports.js";
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
    imports: Flags.string({ description: "record the modules this build imported: the project's import pins on this channel, resolved now (see `imports resolve`)" }),
  };

  async run() {
    const { args, flags } = await this.parse(ReleaseCreate);
    const repos = [...(await Promise.all((flags.repo ?? []).map((p) => repoRefOf(p, { allowDirty: flags["allow-dirty"] })))), ...(flags.commit ?? []).map(parseCommitSpec)];
    const meta = await repoOf(flags);
    const imports = flags.imports === undefined ? undefined : await importsForRelease(meta, args.project, flags.imports, { trustRoot: (await resolveSettings({})).trustRoot });
    const r = await createRelease(meta, args.project, { version: flags.version, repos, notes: flags.notes, author: flags.author, push: flags.push, imports });
    if (this.writeProto(flags, "Release", r.value)) return r.value;
    this.log(r.value.id);
    for (const x of r.value.repos) this.note(`  ${x.name} ${x.commit}${x.ref ? ` (${x.ref})` : ""}${x.dirty ? " dirty" : ""}`);
    for (const i of r.value.imports ?? []) this.note(`  imports ${i.module} ${i.commit}${i.releaseId ? ` (${i.project} ${i.releaseId})` : ""}`);
    return { ...r.value, commit: r.commit ?? null };
  }
}
