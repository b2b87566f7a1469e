import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { canAsk, confirm } from "../../cli/confirm.js";
import { identitiesOf, identityFlag, repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { withProgress } from "../../cli/progress.js";
import { reportRefused } from "../../cli/rekey-report.js";
import { BootMetaError, ExitCode } from "../../errors.js";
import { checkKeyAdd, concernId, notConfirmed } from "../../meta/key-checks.js";
import { addKey } from "../../meta/repo.js";

export default class KeysAdd extends BaseCommand {
  static override summary = "Add a principal's public key; files it may now read are re-wrapped for it.";
  static override description =
    "Writes keys/NAME.txt (public keys only: a private key is refused), optionally adds NAME to a group, regenerates .sops.yaml and re-wraps the data key of every file the rules now let NAME read (values untouched), all in one commit. A file is re-wrapped only after its MAC and its path binding are checked: a ciphertext copied from another path is left as it is, listed, and the command exits 1. Needs your identity to open those files. Safe to run again. A group that .boot-meta.yaml does not have, or a key another principal already holds, is asked about on a terminal and refused elsewhere unless --yes.";
  static override examples = ["<%= config.bin %> keys add alice --key age1… --group developers", "<%= config.bin %> keys add prod-server --key age1… --group prod-servers --push", "<%= config.bin %> keys add qa --key age1… --group qa --yes   # a new group"];
  static override args = { name: Args.string({ description: "principal: a person, a machine group or CI", required: true }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    ...identityFlag,
    key: Flags.string({ description: "public age key (age1…); repeatable", required: true, multiple: true }),
    group: Flags.string({ description: "add the principal to this group" }),
    yes: Flags.boolean({ char: "y", description: "go ahead with a group that is not in .boot-meta.yaml yet, or a key another principal holds, without asking" }),
  };

  async run() {
    const { args, flags } = await this.parse(KeysAdd);
    const repo = await repoOf(flags);
    const concerns = await checkKeyAdd(repo, args.name, flags.key, flags.group);
    if (concerns.length > 0 && !flags.yes) {
      const asked = canAsk(this);
      if (asked) for (const c of concerns) this.note(`${c.message}: ${c.hint}`);
      if (!asked || !(await confirm(`add ${args.name} anyway?`))) throw notConfirmed(args.name, concerns);
    }
    // The write checks again, against the state it builds on: what was confirmed is exactly
    // what was shown.
    const identities = await identitiesOf(flags);
    const r = await withProgress(this, (onProgress) =>
      addKey(repo, args.name, flags.key, {
        group: flags.group,
        identities,
        author: flags.author,
        push: flags.push,
        onProgress,
        confirm: flags.yes ? "all" : concerns.map(concernId),
      }),
    );
    reportRefused(`added ${args.name}`, r.value, r.commit);
    this.note(`added ${args.name}${flags.group ? ` to ${flags.group}` : ""}; ${r.value.rewrapped.length} file(s) re-wrapped${r.value.bound.length ? `, ${r.value.bound.length} bound to their path` : ""}`);
    return { ...r.value, commit: r.commit ?? null, pushed: r.pushed };
  }
}
