import { join } from "node:path";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { gitSetup, type SetupResult } from "../../meta/git-setup.js";

export default class GitSetup extends BaseCommand {
  static override summary = "Make git show decrypted diffs, merge encrypted files value by value, and check every commit.";
  static override description = `Idempotent. Writes this clone's local git config (diff.boot-meta.textconv, merge.boot-meta.driver and .name), adds the governed SOPS paths to .gitattributes (keeping every line already there; commit it so every clone gets the attributes), and installs a pre-commit hook that runs \`boot-meta check --staged\` (an existing hook is kept and runs first).

Afterwards \`git diff\`, \`git log -p\` and \`git show\` show decrypted changes to whoever's key opens a file, and one line saying whom it is encrypted to to everyone else; \`git merge\` and \`git rebase\` merge encrypted files value by value. diff.boot-meta.cachetextconv is never set (it would keep plaintext in git notes) and is removed if found.`;
  static override examples = ["<%= config.bin %> git setup", "<%= config.bin %> git setup --meta ../meta --json"];
  static override flags = { ...repoFlags };

  async run(): Promise<SetupResult> {
    const { flags } = await this.parse(GitSetup);
    // git runs these commands from hooks and drivers with its own PATH: this boot-meta, by absolute path.
    const r = await gitSetup(await repoOf(flags), { command: [process.execPath, join(this.config.root, "bin", "run.js")] });
    if (r.removedCachetextconv) this.note("removed diff.boot-meta.cachetextconv: it would have kept decrypted text in git notes");
    if (r.gitattributes.added.length) this.note(`added ${r.gitattributes.added.length} line(s) to ${r.gitattributes.path}: commit it so every clone uses the drivers`);
    if (r.hook.chained) this.note(`the pre-commit hook that was there runs first (${r.hook.chained})`);
    this.say(r.changed ? `git in ${r.repo} now decrypts diffs, merges SOPS files value by value and checks every commit` : `git in ${r.repo} was already set up: nothing changed`);
    return r;
  }
}
