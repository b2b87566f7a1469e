import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { revokeToken } from "../../records/tokens.js";

export default class TokenRevoke extends BaseCommand {
  static override summary = "Revoke a token: the service refuses it from the first commit it serves with the revocation.";
  static override description = "The token's file stays in tokens/, marked revoked (by whom, when), so `token list` and `git log` keep its history. Revoking it again changes nothing. Push the commit (--push, or git config boot-meta.push) for the service to see it.";
  static override examples = ["<%= config.bin %> token revoke 3f9a0c6e1b2d4a58 --push"];
  static override args = { id: Args.string({ required: true, description: "the token's id (from `token list`)" }) };
  static override flags = { ...repoFlags, ...writeFlags };

  async run() {
    const { args, flags } = await this.parse(TokenRevoke);
    const r = await revokeToken(await repoOf(flags), args.id, { author: flags.author, push: flags.push });
    this.note(r.value.changed ? `revoked ${args.id} of ${r.value.info.principal}` : `${args.id} was already revoked; nothing written`);
    return { ...r.value.info, changed: r.value.changed, commit: r.commit ?? null, pushed: r.pushed };
  }
}
