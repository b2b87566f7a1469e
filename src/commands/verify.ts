import { Flags } from "@oclif/core";
import { BaseCommand } from "../cli/base.js";
import { repoFlags, repoOf } from "../cli/meta-flags.js";
import { withProgress } from "../cli/progress.js";
import { resolveSettings } from "../config/bootstrap.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { verifyHistory } from "../meta/verify.js";

export default class Verify extends BaseCommand {
  static override summary = "Check that every commit since a trusted one was signed by someone allowed to make it.";
  static override description =
    "Walks history from the trust root to HEAD (or --to): every commit must carry an SSH signature (git config gpg.format ssh) by a key in keys/ at its parent, and every path it changes must be allowed to its signer by the write rules in .boot-meta.yaml at its parent (a change to the rules is judged by the old rules; a merge against each parent). Names the first commit that fails and why, exit 1. Verified commits are remembered in .git/boot-meta/, so the next run checks only new ones.";
  static override examples = [
    "<%= config.bin %> verify --from 4b73f7acbb393a5a94c2e1b789201bc02ae7ed0c",
    "BOOT_META_TRUST_ROOT=4b73f7a… <%= config.bin %> verify --json",
  ];
  static override flags = {
    ...repoFlags,
    from: Flags.string({ description: "the trust root: a commit trusted as it is (default: BOOT_META_TRUST_ROOT, or trust-root in the bootstrap file)" }),
    to: Flags.string({ description: "the commit to verify up to (default: HEAD)" }),
    "no-cache": Flags.boolean({ description: "check every commit again, ignoring those verified before" }),
  };

  async run(): Promise<{ ok: boolean; root: string; head: string; checked: number; verified: string }> {
    const { flags } = await this.parse(Verify);
    const s = await resolveSettings({ trustRoot: flags.from });
    if (!s.trustRoot) {
      throw new BootMetaError("VERIFY_NO_ROOT", "no trust root was given: verify needs a commit to trust as it is", ExitCode.InvalidArgument, {
        suggestions: ["pass --from COMMIT (`boot-meta init` printed the first), set BOOT_META_TRUST_ROOT, or add trust-root: to the bootstrap file"],
      });
    }
    const repo = await repoOf(flags);
    const root = s.trustRoot;
    const r = await withProgress(this, (update) => verifyHistory(repo, { root, head: flags.to, cache: !flags["no-cache"], onProgress: (done, total) => update(`verify: commit ${done + 1} of ${total}`) }));
    if (r.failure) {
      const f = r.failure;
      throw new BootMetaError("VERIFY_FAILED", f.message, ExitCode.General, {
        data: { ...f, root: r.root, head: r.head, verified: r.verified },
        suggestions: [
          `readers with this trust root keep using ${r.verified.slice(0, 12)}, the newest commit whose history verifies`,
          f.reason === "unsigned" || f.reason === "unsupported-signature"
            ? "sign commits with SSH: git config gpg.format ssh; git config user.signingkey ~/.ssh/id_ed25519.pub; git config commit.gpgsign true — and add the key's ssh-ed25519 line to keys/<you>.txt"
            : f.reason === "not-allowed"
              ? "have someone the rule allows make the change (or change the write rules, signed by an admin)"
              : "revert the commit with a signed commit, or have an admin add the signer's key to keys/",
        ],
      });
    }
    this.say(`verified ${r.checked} new commit${r.checked === 1 ? "" : "s"} from ${r.root.slice(0, 12)} to ${r.head.slice(0, 12)}: every one signed by someone allowed to make it`);
    return { ok: true, root: r.root, head: r.head, checked: r.checked, verified: r.verified };
  }
}
