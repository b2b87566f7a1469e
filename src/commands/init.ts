import { Args } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { writeFlags } from "../cli/meta-flags.js";
import { initRepo } from "../meta/repo.js";

export default class Init extends BaseCommand {
  static override summary = "Create a meta repository: .boot-meta.yaml, keys/, a generated .sops.yaml, committed.";
  static override description = "Runs git init when DIR is not a repository yet. Default groups: admins, developers, prod-servers, ci; default rules: dev for developers and admins, dev/<name> for that developer and admins, stage for admins and ci, prod for admins and prod-servers.";
  static override examples = ["<%= config.bin %> init ./meta", "<%= config.bin %> init --json"];
  static override args = { dir: Args.string({ description: "where (default: the current directory)" }) };
  static override flags = { ...writeFlags };

  async run(): Promise<{ dir: string; commit: string | null }> {
    const { args, flags } = await this.parse(Init);
    const r = await initRepo(args.dir ?? ".", { author: flags.author, push: flags.push });
    this.note(`initialised ${r.value.dir} (${r.commit?.slice(0, 12)})\nnext: boot-meta keys add NAME --key age1… --group admins`);
    return { dir: r.value.dir, commit: r.commit ?? null };
  }
}
