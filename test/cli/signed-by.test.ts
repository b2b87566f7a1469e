import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { sourceRepo } from "../helpers/records.js";

import { sshKey } from "../helpers/ssh.js";

const cli = cliWith();

/** A meta repo whose admin and ci have signing keys; boot-meta's commits are signed as `signAs` says. */
async function repo() {
  const root = tempDir();
  const meta = join(root, "meta");
  const admin = { age: await ageKeyFile(root), ssh: sshKey("admin") };
  const ci = sshKey("ci");
  const env = { SOPS_AGE_KEY_FILE: admin.age.file };
  const ok = async (args: string[]) => {
    const r = await cli([...args, "--meta", meta], { env });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    return r;
  };
  expect((await cli(["init", meta, "--admin", "admin", "--key", admin.age.recipient, "--key", admin.ssh.line])).exitCode).toBe(0);
  git(meta, "config", "gpg.format", "ssh");
  const signAs = (keyFile: string | undefined) => {
    if (keyFile) {
      git(meta, "config", "user.signingkey", keyFile);
      git(meta, "config", "commit.gpgsign", "true");
    } else git(meta, "config", "commit.gpgsign", "false");
  };
  signAs(admin.ssh.keyFile);
  await ok(["keys", "add", "ci", "--key", ci.line, "--group", "ci"]);
  await ok(["project", "create", "shop"]);
  return { meta, admin, ci, ok, signAs };
}

describe("who wrote a record is its commit's signer, not the author it claims", () => {
  it("release show names the signer beside a created_by anyone could have set", async () => {
    const { meta, ci, ok, signAs } = await repo();
    signAs(ci.keyFile);
    const rel = JSON.parse(out(await ok(["release", "create", "shop", "--version", "1.0", "--repo", sourceRepo("shop"), "--author", "The Admin <admin@example.com>", "--json"])));
    expect(rel.createdBy).toBe("The Admin <admin@example.com>");
    const shown = out(await ok(["release", "show", "shop", "1.0"]));
    expect(shown).toContain("The Admin <admin@example.com>");
    expect(shown).toMatch(new RegExp(`written in ${git(meta, "rev-parse", "HEAD").slice(0, 12)}, signed by ci\\n`));
    // --json is the record as stored: nothing added to it.
    const record = JSON.parse(out(await ok(["release", "show", "shop", "1.0", "--json"])));
    expect(rel).toMatchObject(record);
    expect(Object.keys(record)).not.toContain("signedBy");
    signAs(undefined);
    await ok(["release", "create", "shop", "--version", "1.1", "--repo", sourceRepo("shop"), "--author", "CI <ci@example.com>"]);
    expect(out(await ok(["release", "show", "shop", "1.1"]))).toMatch(/written in [0-9a-f]{12}, unsigned \(created_by and git's author say CI <ci@example.com>\)/);
  });

  it("channel history says who signed each promotion, and when no principal did", async () => {
    const { meta, admin, ok, signAs } = await repo();
    signAs(admin.ssh.keyFile);
    await ok(["release", "create", "shop", "--version", "1.0", "--repo", sourceRepo("shop")]);
    await ok(["release", "create", "shop", "--version", "2.0", "--repo", sourceRepo("shop")]);
    await ok(["channel", "promote", "shop", "stable", "1.0", "--author", "Somebody Else <else@example.com>"]);
    signAs(sshKey("stranger").keyFile);
    await ok(["channel", "promote", "shop", "stable", "2.0", "--author", "The Admin <admin@example.com>"]);
    signAs(undefined);
    await ok(["channel", "rollback", "shop", "stable"]);
    const h = JSON.parse(out(await ok(["channel", "history", "shop", "stable", "--json"]))).history;
    expect(h.map((c: { signedBy: string | null; unsignedReason?: string; author: string }) => [c.signedBy, c.unsignedReason ?? null, c.author])).toEqual([
      [null, "unsigned", expect.any(String)],
      [null, "unknown-signer", "The Admin <admin@example.com>"],
      ["admin", null, "Somebody Else <else@example.com>"],
    ]);
    const human = out(await ok(["channel", "history", "shop", "stable"])).split("\n");
    expect(human[0]).toMatch(/\(unsigned\)$/);
    expect(human[1]).toMatch(/The Admin <admin@example.com> \(signed by a key not in keys\/\)$/);
    expect(human[2]).toMatch(/Somebody Else <else@example.com> \(signed by admin\)$/);
    expect(git(meta, "status", "--porcelain")).toBe("");
  });
});
