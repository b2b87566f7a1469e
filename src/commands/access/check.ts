import { Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf } from "../../cli/meta-flags.js";
import { BootMetaError } from "../../errors.js";
import { accessCheck } from "../../meta/repo.js";

export default class AccessCheck extends BaseCommand {
  static override summary = "Find every encrypted file that is not encrypted exactly as the rules say; exits 1 when any is not.";
  static override description = `Compares what each governed file is really encrypted to with the rules: recipients missing or extra, an entry whose age file holds more than one stanza or another kind of key than its label says, PGP or KMS keys no rule asks for, several key groups, and a path binding that is missing or names another path (a copied ciphertext). Needs no key. With --verify, each file your identity opens also has its MAC and binding checked.

Exits 1 on drift, and also when there is nothing to check or you have uncommitted edits to the rules, keys/ or a governed file (commit them first).`;
  static override examples = ["<%= config.bin %> access check", "<%= config.bin %> access check --verify", "<%= config.bin %> access check --json"];
  static override flags = { ...repoFlags, ...identityFlag, verify: Flags.boolean({ description: "also open every file your identity can, checking its MAC and its path binding" }) };

  async run() {
    const { flags } = await this.parse(AccessCheck);
    const r = await accessCheck(await repoOf(flags), { identities: flags.verify ? await identitiesOf(flags) : undefined });
    for (const d of r.drift) {
      const parts = [...(d.missing.length ? [`missing ${d.missing.join(", ")}`] : []), ...(d.extra.length ? [`extra ${d.extra.join(", ")}`] : []), ...d.problems];
      this.log(`${d.path}:\n${parts.map((p) => `  - ${p}`).join("\n")}`);
    }
    if (r.drift.length) {
      throw new BootMetaError("ACCESS_DRIFT", `${r.drift.length} of ${r.checked} encrypted file(s) are not encrypted as the rules say`, 1, {
        data: r as unknown as Record<string, unknown>,
        suggestions: ["run `boot-meta access sync` to re-key them (needs an identity that opens them); files it cannot vouch for need a review and `--accept PATH`, or re-creating"],
      });
    }
    this.note(`all ${r.checked} encrypted file(s) match the rules${flags.verify ? ` (${r.verified} opened and verified)` : ""} (${r.commit.slice(0, 12)})`);
    return r;
  }
}
