import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "../../cli/base.js";
import { repoFlags, repoOf, writeFlags } from "../../cli/meta-flags.js";
import { createToken, TOKEN_SCOPES } from "../../records/tokens.js";

export default class TokenCreate extends BaseCommand {
  static override summary = "Make a bearer token for the service, bound to a principal, scopes and projects; it is shown once.";
  static override description =
    "Followers without git credentials use it with `boot-meta serve`: `Authorization: Bearer TOKEN`. The token is printed once, on stdout (under `token` with --json); the meta repo keeps only a SHA-256 of its secret, in tokens/PRINCIPAL/ID.json, so it cannot be shown again: store it where the follower reads it. Revoke it with `boot-meta token revoke ID`.";
  static override examples = [
    "<%= config.bin %> token create web-fleet --scope instances:report --project shop --expires 90d",
    "<%= config.bin %> token create ci --scope events:write --scope events:read --project '*' --expires never --push",
  ];
  static override args = { principal: Args.string({ required: true, description: "the principal it acts as (a name in keys/)" }) };
  static override flags = {
    ...repoFlags,
    ...writeFlags,
    scope: Flags.string({ required: true, multiple: true, options: [...TOKEN_SCOPES], description: "what it may do (repeatable)" }),
    project: Flags.string({ required: true, multiple: true, description: "a project it may act on, or '*' for every project (repeatable)" }),
    expires: Flags.string({ default: "90d", description: "how long it lasts: 30m, 12h, 90d, 2w, or never" }),
    description: Flags.string({ description: "what it is for (shown by `token list`)" }),
  };

  async run() {
    const { args, flags } = await this.parse(TokenCreate);
    const r = await createToken(await repoOf(flags), args.principal, { scopes: flags.scope, projects: flags.project, expires: flags.expires, description: flags.description, author: flags.author, push: flags.push });
    const { token, info } = r.value;
    // stdout carries the token alone, so `TOKEN=$(boot-meta token create …)` works; the rest is a note.
    this.log(token);
    this.note(`token ${info.id} for ${info.principal}: ${info.scopes.join(", ")} on ${info.projects.join(", ")}, ${info.expiresAt ? `until ${info.expiresAt}` : "never expires"}. It is shown only now: the meta repo keeps a hash of it.`);
    return { token, ...info, commit: r.commit ?? null, pushed: r.pushed };
  }
}
