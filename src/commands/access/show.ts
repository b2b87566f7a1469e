import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { accessMatrix } from "../../meta/repo.js";

export default class AccessShow extends BaseCommand {
  static override summary = "Show who can read what: principals × config files, from the rules.";
  static override examples = ["<%= config.bin %> access show", "<%= config.bin %> access show --json"];
  static override flags = { ...repoFlags };

  async run() {
    const { flags } = await this.parse(AccessShow);
    const m = await accessMatrix(await repoOf(flags));
    const width = Math.max(4, ...m.files.map((f) => f.path.length));
    this.log(`${"file".padEnd(width)}  ${m.principals.join("  ")}`);
    for (const f of m.files) {
      const cells = m.principals.map((p) => (f.readers.includes(p) ? (f.missingKeys.includes(p) ? "?" : "✓") : "·").padEnd(p.length));
      this.log(`${f.path.padEnd(width)}  ${cells.join("  ")}`);
    }
    if (m.files.some((f) => f.missingKeys.length)) this.log("\n? = allowed by the rules but has no key in keys/ yet");
    return m;
  }
}
