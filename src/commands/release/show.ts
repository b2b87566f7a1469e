import { Args } from "@oclif/core";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { RecordCommand, recordFormatFlag } from "../../cli/records-output.js";
import { getRelease } from "../../records/releases.js";
import { recordPath, withReader } from "../../records/files.js";
import { describeSigner, lastChange } from "../../meta/verify.js";
import { importLines } from "../../records/imports.js";

export default class ReleaseShow extends RecordCommand {
  static override summary = "Show a release (by id or version) and every repo + commit it was built from.";
  static override description = "For people, also who wrote the record: the principal whose ssh-ed25519 key in keys/ signed the commit that wrote it (its created_by is only what the writer claimed). --json and --format print the record as stored.";
  static override examples = ["<%= config.bin %> release show shop 1.4.0", "<%= config.bin %> release show shop 20261125T101500Z-1.4.0 --format proto > release.pb"];
  static override args = { project: Args.string({ description: "project", required: true }), release: Args.string({ description: "release id or version", required: true }) };
  static override flags = { ...repoFlags, ...recordFormatFlag };

  async run() {
    const { args, flags } = await this.parse(ReleaseShow);
    const rel = await withReader(await repoOf(flags), undefined, (r) => getRelease(r, args.project, args.release));
    if (this.writeProto(flags, "Release", rel)) return rel;
    const repo = await repoOf(flags);
    this.log(`${rel.id}  ${rel.project} ${rel.version}  ${rel.createdAt}  ${rel.createdBy ?? ""}`);
    // created_by is what the writer claimed; the commit's signature says who wrote it.
    const w = await lastChange(repo, recordPath.release(rel.project, rel.id));
    if (w) this.log(`  written in ${w.commit.slice(0, 12)}, ${describeSigner(w.signer)}${w.signer.principal ? "" : ` (created_by and git's author say ${w.author})`}`);
    for (const x of rel.repos) this.log(`  ${x.name.padEnd(20)} ${x.commit}  ${x.ref ?? ""}${x.dirty ? " (dirty)" : ""}  ${x.url ?? ""}${x.module ? `  module ${x.module}` : ""}`);
    for (const line of importLines(rel)) this.log(line);
    return rel;
  }
}
