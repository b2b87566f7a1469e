import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { listKeys, type Principal } from "../../meta/repo.js";

export default class KeysList extends BaseCommand {
  static override summary = "List principals, their public keys and groups.";
  static override examples = ["<%= config.bin %> keys list", "<%= config.bin %> keys list --json"];
  static override flags = { ...repoFlags };

  async run(): Promise<{ principals: Principal[] }> {
    const { flags } = await this.parse(KeysList);
    const principals = await listKeys(await repoOf(flags));
    for (const p of principals) this.log(`${p.name.padEnd(20)} ${(p.groups.join(",") || "-").padEnd(24)} ${p.recipients.map((r) => `${r.slice(0, 16)}…`).join(" ") || "(no key)"}`);
    return { principals };
  }
}
