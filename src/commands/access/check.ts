import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { BootMetaError } from "../../errors.js";
import { accessCheck } from "../../meta/repo.js";

export default class AccessCheck extends BaseCommand {
  static override summary = "Find every encrypted file whose recipients differ from the rules; exits 1 when any does.";
  static override examples = ["<%= config.bin %> access check", "<%= config.bin %> access check --json"];
  static override flags = { ...repoFlags };

  async run() {
    const { flags } = await this.parse(AccessCheck);
    const r = await accessCheck(await repoOf(flags));
    for (const d of r.drift) this.log(`${d.path}: ${d.missing.length ? `missing ${d.missing.join(", ")}` : ""}${d.missing.length && d.extra.length ? "; " : ""}${d.extra.length ? `extra ${d.extra.join(", ")}` : ""}`);
    if (r.drift.length) {
      throw new BootMetaError("ACCESS_DRIFT", `${r.drift.length} of ${r.checked} encrypted file(s) are not encrypted to who the rules say`, 1, {
        data: r as unknown as Record<string, unknown>,
        suggestions: ["run `boot-meta access sync` to re-key them (needs an identity that opens them)"],
      });
    }
    this.note(`all ${r.checked} encrypted file(s) match the rules (${r.commit.slice(0, 12)})`);
    return r;
  }
}
