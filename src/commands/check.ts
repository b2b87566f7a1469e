import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { identitiesOf, identityFlag, repoFlags, repoOf } from "../cli/meta-flags.js";
import { schemaCheck } from "../config/commit-schema.js";
import { isBootMetaError } from "../errors.js";
import { type CheckResult, checkRepo, findingsError } from "../meta/commit-check.js";

export default class Check extends BaseCommand {
  static override summary = "Refuse plaintext where the rules want ciphertext, private keys, and files encrypted to the wrong people; exits 1 when any is found.";
  static override description = `With --staged (the pre-commit hook \`boot-meta git setup\` installs), reads git's index — exactly what the commit will hold — and checks each file the commit adds or changes, against the rules as staged. Without it, checks every tracked file in the work tree.

Finds: a governed path (a project's config.sops.yaml, anything in its env folders, sealed records) that is not a SOPS file or has values in the clear that its rule encrypts; a private key (age, OpenSSH, PEM, PGP) anywhere, unless the file's first line is the test-only marker "# boot-meta: test-only key"; a governed file whose recipients or key entries differ from what the rules give it; a merged config that breaks its project's schema.json (for the projects whose schema or config layers are checked), naming the key and the layer, never the value. Only the schema check needs a key, your own (SOPS_AGE_KEY_FILE, … or --identity): an env with a layer your key does not open is skipped with a note, never refused.`;
  static override examples = ["<%= config.bin %> check --staged", "<%= config.bin %> check", "<%= config.bin %> check --json"];
  static override flags = { ...repoFlags, ...identityFlag, staged: Flags.boolean({ description: "check the staged changes (git's index), not the work tree" }) };

  async run(): Promise<CheckResult> {
    const { flags } = await this.parse(Check);
    // No usable key is no reason to refuse a commit: the schema check then says what it skipped.
    const identities = () => identitiesOf(flags).catch((e: unknown) => (isBootMetaError(e, "SOPS_INVALID_IDENTITY") && !flags.identity?.length ? undefined : Promise.reject(e)));
    const r = await checkRepo(await repoOf(flags), { staged: flags.staged, extensions: [schemaCheck(identities)] });
    if (!this.jsonEnabled()) for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
    if (r.findings.length) {
      if (!this.jsonEnabled()) for (const f of r.findings) process.stderr.write(`${f.path}: ${f.what}\n  fix: ${f.fix}\n`);
      throw findingsError(r);
    }
    this.note(`checked ${r.checked} ${flags.staged ? "staged " : ""}file(s): no plaintext where the rules want ciphertext, no private key, recipients as the rules say`);
    return r;
  }
}
