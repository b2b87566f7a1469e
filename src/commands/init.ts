import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { writeFlags } from "../cli/meta-flags.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { initRepo } from "../meta/repo.js";
import type { InitResult } from "../meta/projects.js";

export default class Init extends BaseCommand {
  static override summary = "Create a meta repository: .boot-meta.yaml, keys/, a generated .sops.yaml, committed.";
  static override description =
    "Runs git init when DIR is not a repository yet. Default groups: admins, developers, prod-servers, ci; default rules: dev for developers and admins, dev/<name> for that developer and admins, stage for admins and ci, prod for admins and prod-servers. With --admin NAME --key age1… --key \"ssh-ed25519 …\" the first admin is in the initial commit; when one of its keys is an ssh-ed25519 key (to sign commits with), that commit is the trust root readers verify history from (README \"Signed history\"), printed as trustRoot.";
  static override examples = [
    "<%= config.bin %> init ./meta",
    '<%= config.bin %> init ./meta --admin alice --key age1… --key "$(cat ~/.ssh/id_ed25519.pub)"',
    "<%= config.bin %> init --json",
  ];
  static override args = { dir: Args.string({ description: "where (default: the current directory)" }) };
  static override flags = {
    ...writeFlags,
    admin: Flags.string({ description: "the first admin, added to the admins group in the initial commit (needs --key)" }),
    key: Flags.string({ description: "a public key of --admin: age1… to read with, ssh-ed25519 … to sign commits with (repeatable)", multiple: true, dependsOn: ["admin"] }),
  };

  async run(): Promise<{ dir: string; commit: string | null } & Omit<InitResult, "dir">> {
    const { args, flags } = await this.parse(Init);
    if (flags.admin !== undefined && !flags.key?.length) {
      throw new BootMetaError("INVALID_ARGUMENT", `--admin ${flags.admin} needs its public keys: --key age1… (to read) and --key "ssh-ed25519 …" (to sign commits)`, ExitCode.InvalidArgument, {
        suggestions: [`boot-meta init --admin ${flags.admin} --key "$(age-keygen -y key.txt)" --key "$(cat ~/.ssh/id_ed25519.pub)"`],
      });
    }
    const r = await initRepo(args.dir ?? ".", { author: flags.author, push: flags.push, admin: flags.admin ? { name: flags.admin, keys: flags.key ?? [] } : undefined });
    const v = r.value;
    const next = v.admin ? "next: boot-meta keys add NAME --key age1… --key \"ssh-ed25519 …\" --group developers" : "next: boot-meta keys add NAME --key age1… --key \"ssh-ed25519 …\" --group admins";
    const trust = v.trustRoot
      ? `trust root: ${v.trustRoot}\n  give it to readers (trust-root: in the bootstrap file, BOOT_META_TRUST_ROOT, or loadConfig's trustRoot); \`boot-meta verify --from ${v.trustRoot.slice(0, 12)}\` checks every commit after it`
      : `no trust root yet: readers verify history from a commit whose keys/ holds an admin's signing key. Add one (${v.admin ? `boot-meta keys add ${v.admin.name} --key age1… --key "ssh-ed25519 …" (all of ${v.admin.name}'s keys: the file is replaced)` : 'boot-meta keys add NAME --key age1… --key "ssh-ed25519 …" --group admins'}) and use that commit (git rev-parse HEAD), or run init with --admin NAME --key "ssh-ed25519 …"`;
    // Offered, not done: git setup writes this clone's git config and hooks, which a person chooses.
    const drivers = `then, in each clone: boot-meta git setup${args.dir ? ` --meta ${args.dir}` : ""} (decrypted git diffs, value-wise merges of encrypted files, a pre-commit check)`;
    this.note(`initialised ${v.dir} (${r.commit?.slice(0, 12)})${v.admin ? ` with ${v.admin.name} in ${v.admin.group}` : ""}\n${trust}\n${next}\n${drivers}`);
    return { dir: v.dir, commit: r.commit ?? null, admin: v.admin, trustRoot: v.trustRoot };
  }
}
