import { Args } from "@oclif/core";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { RecordCommand, recordFormatFlag } from "../../cli/records-output.js";
import { binaryWhich } from "../../records/binaries.js";
import { importLines } from "../../records/imports.js";

export default class BinaryWhich extends RecordCommand {
  static override summary = "From a binary (file or SHA-256) back to its project, release, channels and every repo + commit.";
  static override examples = ["<%= config.bin %> binary which ./shop", "<%= config.bin %> binary which 9f86d081884c7d65… --json", "<%= config.bin %> binary which ./shop --format proto > binary.pb   # the Binary record, protobuf-encoded"];
  static override args = { binary: Args.string({ required: true, description: "a file, or its sha256" }) };
  static override flags = { ...repoFlags, ...recordFormatFlag };

  async run() {
    const { args, flags } = await this.parse(BinaryWhich);
    const p = await binaryWhich(await repoOf(flags), args.binary, { env: process.env });
    if (this.writeProto(flags, "Binary", p.binary)) return p;
    this.log(`${p.binary.sha256}  ${p.binary.project} ${p.binary.os}/${p.binary.arch}`);
    this.log(`release  ${p.release.id} (${p.release.version})`);
    const share = (c: string) => {
      const n = p.counts[c];
      if (n) return n.instances === n.of ? `${c} (all ${n.of} of its instances)` : `${c} (${n.instances} of its ${n.of} instances)`;
      return p.shares[c] === 100 ? c : `${c} (${p.shares[c]}% of its instances)`;
    };
    this.log(`channels ${p.channels.map(share).join(", ") || "(none points at it now)"}`);
    if (p.sealed === "no-key") this.log("stored   (encrypted: your key does not open the storage details)");
    else for (const u of p.binary.urls ?? []) this.log(`stored   ${u}`);
    for (const r of p.release.repos) this.log(`  ${r.name.padEnd(20)} ${r.commit}  ${r.url ?? ""}`);
    for (const line of importLines(p.release)) this.log(line);
    return p;
  }
}
