import { Args } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf } from "../../cli/meta-flags.js";
import { listTokens } from "../../records/tokens.js";

export default class TokenList extends BaseCommand {
  static override summary = "List the service's tokens (never their secrets): id, principal, scopes, projects, state.";
  static override examples = ["<%= config.bin %> token list", "<%= config.bin %> token list web-fleet --json"];
  static override args = { principal: Args.string({ description: "only this principal's tokens" }) };
  static override flags = { ...repoFlags };

  async run() {
    const { args, flags } = await this.parse(TokenList);
    const r = await listTokens(await repoOf(flags), args.principal);
    for (const t of r.tokens) this.log(`${t.id}  ${t.principal.padEnd(16)} ${t.state.padEnd(8)} ${t.scopes.join(",").padEnd(32)} ${t.projects.join(",").padEnd(16)} ${t.expiresAt ?? "never"}`);
    this.note(`${r.tokens.length} token(s) at ${r.commit.slice(0, 12)}`);
    return r;
  }
}
