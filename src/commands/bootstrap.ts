import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { writeBootstrap } from "../config/bootstrap.js";
import { validateName } from "../meta/layout.js";

export default class Bootstrap extends BaseCommand {
  static override summary = "Point an app checkout at the meta repo: writes .boot-meta.local.yaml and gitignores it.";
  static override description = "loadConfig() and every boot-meta command find this file from the working directory upward. BOOT_META_REPO, BOOT_META_PROJECT, BOOT_META_ENV, SOPS_AGE_KEY_FILE and SOPS_AGE_KEY override it.";
  static override examples = ["<%= config.bin %> bootstrap --meta ../meta --project maintemplatev2 --env dev/alice --identity ~/.config/sops/age/keys.txt"];
  static override flags = {
    meta: Flags.string({ description: "the meta repo: a local path (relative to DIR) or a git URL", required: true }),
    project: Flags.string({ description: "project", required: true }),
    env: Flags.string({ description: "environment, e.g. dev/alice", required: true }),
    identity: Flags.string({ description: "age identity file for this checkout" }),
    dir: Flags.string({ description: "the app checkout (default: current directory)", default: "." }),
  };

  async run() {
    const { flags } = await this.parse(Bootstrap);
    validateName("project", flags.project);
    validateName("env", flags.env);
    const r = await writeBootstrap(flags.dir, { repo: flags.meta, project: flags.project, env: flags.env, identity: flags.identity });
    this.note(`wrote ${r.file}${r.added ? ` and added it to ${r.gitignore}` : ""}`);
    // A hint, not an action: git setup changes the meta clone's git config and hooks.
    this.note(`in your clone of the meta repo, \`boot-meta git setup\` makes git diff show decrypted changes, merges encrypted files value by value and checks each commit`);
    return r;
  }
}
