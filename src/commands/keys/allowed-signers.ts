import { Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { type AllowedSignersResult, allowedSigners } from "../../meta/signers.js";

export default class KeysAllowedSigners extends BaseCommand {
  static override summary = "Print git's allowed_signers file made from the ssh-ed25519 keys in keys/, or install it in this clone.";
  static override description =
    'One line per ssh-ed25519 key in keys/<principal>.txt at HEAD: the principal\'s name, namespaces="git", the key. With --write it goes to .git/boot-meta/allowed_signers (never committed) and the clone\'s own git config gets gpg.ssh.allowedSignersFile, so `git log --show-signature` and `git verify-commit` name the principal who signed each commit. git checks who signed, not whether they were allowed to change what they changed: `boot-meta verify` checks that. Run it again after keys change.';
  static override examples = ["<%= config.bin %> keys allowed-signers", "<%= config.bin %> keys allowed-signers --write && git log --show-signature -3"];
  static override flags = {
    ...repoFlags,
    write: Flags.boolean({ description: "write it to .git/boot-meta/allowed_signers and set gpg.ssh.allowedSignersFile in the clone's git config, instead of printing it" }),
  };

  async run(): Promise<AllowedSignersResult> {
    const { flags } = await this.parse(KeysAllowedSigners);
    const r = await allowedSigners(await repoOf(flags), { write: flags.write });
    if (r.path === null) {
      if (!this.jsonEnabled()) process.stdout.write(r.text);
    } else {
      this.note(`wrote ${r.signers.length} signing key(s) to ${r.path}; gpg.ssh.allowedSignersFile now points at it`);
    }
    if (r.signers.length === 0) this.note("no principal has an ssh-ed25519 key in keys/ yet: add one with `boot-meta keys add NAME --key \"ssh-ed25519 AAAA…\"`");
    return r;
  }
}
