import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { BootMetaError } from "../../errors.js";
import { binaryVerify } from "../../records/binaries.js";

export default class BinaryVerify extends BaseCommand {
  static override summary = "Check a file: its digest is recorded and a trusted signer (keys/signers/) signed these bytes.";
  static override description = "A signature that names a signer counts only when it was made with one of the keys in keys/signers/<name>.pub; one made with any other key is refused, even a trusted one.";
  static override examples = ["<%= config.bin %> binary verify ./shop"];
  static override args = { file: Args.string({ required: true, description: "the binary" }) };
  static override flags = { ...repoFlags };

  async run() {
    const { args, flags } = await this.parse(BinaryVerify);
    const r = await binaryVerify(await repoOf(flags), args.file);
    for (const s of r.signatures) this.log(`${s.valid ? "valid" : "INVALID"} signature by ${s.signer ?? "unknown"} (${s.trusted ? "trusted" : s.problem ? `refused: ${s.problem}` : "not trusted"})`);
    if (!r.ok) {
      const problems = r.signatures.flatMap((s) => (s.problem ? [s.problem] : []));
      throw new BootMetaError("BINARY_UNVERIFIED", r.recorded ? `${args.file} (${r.sha256.slice(0, 12)}) has no valid signature by a trusted signer${problems.length ? `: ${problems.join("; ")}` : ""}` : `${args.file} (${r.sha256.slice(0, 12)}) is not a recorded binary: it was not built by a recorded release, or it was altered`, 1, { data: r as unknown as Record<string, unknown> });
    }
    this.note(`ok: ${r.sha256}`);
    return r;
  }
}
