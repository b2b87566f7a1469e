import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { repoFlags, repoOf } from "../cli/meta-flags.js";
import { type CheckResult, checkRepo, findingsError } from "../meta/commit-check.js";

export default class Check extends BaseCommand {
  static override summary = "Refuse plaintext where the rules want ciphertext, private keys, and files encrypted to the wrong people; exits 1 when any is found.";
  static override description = `With --staged (the pre-commit hook \`boot-meta git setup\` installs), reads git's index — exactly what the commit will hold — and checks each file the commit adds or changes, against the rules as staged. Without it, checks every tracked file in the work tree.

Finds: a governed path (a project's config.sops.yaml, anything in its env folders, sealed records) that is not a SOPS file or has values in the clear that its rule encrypts; a private key (age, OpenSSH, PEM, PGP) anywhere, unless the file's first line is the test-only marker "# boot-meta: test-only key"; a governed file whose recipients or key entries differ from what the rules give it. Needs no key.`;
  static override examples = ["<%= config.bin %> check --staged", "<%= config.bin %> check", "<%= config.bin %> check --json"];
  static override flags = { ...repoFlags, staged: Flags.boolean({ description: "check the staged changes (git's index), not the work tree" }) };

  async run(): Promise<CheckResult> {
    const { flags } = await this.parse(Check);
    const r = await checkRepo(await repoOf(flags), { staged: flags.staged });
    if (r.findings.length) {
      if (!this.jsonEnabled()) for (const f of r.findings) process.stderr.write(`${f.path}: ${f.what}\n  fix: ${f.fix}\n`);
      throw findingsError(r);
    }
    this.note(`checked ${r.checked} ${flags.staged ? "staged " : ""}file(s): no plaintext where the rules want ciphertext, no private key, recipients as the rules say`);
    return r;
  }
}
