import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { beforeEach, describe, expect, it } from "vitest";
import { ageKeyFile, BIN, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// `keys add NAME --group G` with a group .boot-meta.yaml does not have, or with a key another
// principal holds, is most likely a mistake: asked on a terminal, refused elsewhere unless --yes,
// and nothing is written until it is confirmed.
describe("keys add asks before a new group or a key another principal holds", () => {
  const cli = cliWith();
  let root: string;
  let meta: string;
  let admin: Awaited<ReturnType<typeof ageKeyFile>>;
  let bob: Awaited<ReturnType<typeof ageKeyFile>>;
  const asAdmin = () => ({ SOPS_AGE_KEY_FILE: admin.file });

  beforeEach(async () => {
    root = tempDir();
    meta = join(root, "meta");
    admin = await ageKeyFile(root);
    bob = await ageKeyFile(root);
    expect((await cli(["init", meta])).exitCode).toBe(0);
    expect((await cli(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta], { env: asAdmin() })).exitCode).toBe(0);
  });

  const unchanged = (head: string) => {
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    expect(git(meta, "status", "--porcelain")).toBe("");
    expect(existsSync(join(meta, "keys/bob.txt"))).toBe(false);
  };

  it("refuses an unknown group without a terminal, names it, suggests the near one, writes nothing", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const r = await cli(["keys", "add", "bob", "--key", bob.recipient, "--group", "developpers", "--meta", meta], { env: asAdmin() });
    expect(r.exitCode).toBe(1);
    expect(err(r)).toContain("Error [KEYS_ADD_NOT_CONFIRMED]: not adding bob: the group developpers is not in .boot-meta.yaml (its groups: admins, ci, developers, prod-servers). Nothing was written");
    expect(err(r)).toContain("→ did you mean --group developers?");
    expect(err(r)).toContain("→ if it is what you meant, run it again with --yes");
    unchanged(head);
    const j = await cli(["keys", "add", "bob", "--key", bob.recipient, "--group", "qa", "--meta", meta, "--json"], { env: asAdmin() });
    expect(j.exitCode).toBe(1);
    expect(JSON.parse(out(j)).error).toMatchObject({ code: "KEYS_ADD_NOT_CONFIRMED", data: { name: "bob", concerns: [{ kind: "unknown-group", group: "qa" }] } });
    expect(JSON.parse(out(j)).error.suggestions[0]).toMatch(/a new group reads nothing until an access rule in \.boot-meta\.yaml names it/);
    unchanged(head);
  });

  it("refuses a key another principal already holds, naming who", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const r = await cli(["keys", "add", "bob", "--key", admin.recipient, "--meta", meta, "--json"], { env: asAdmin() });
    expect(r.exitCode).toBe(1);
    const e = JSON.parse(out(r)).error;
    expect(e).toMatchObject({ code: "KEYS_ADD_NOT_CONFIRMED", data: { concerns: [{ kind: "key-held", recipient: admin.recipient, by: "admin" }] } });
    expect(e.message).toMatch(/the key age1\S+…\S+ is already admin's \(keys\/admin\.txt\)/);
    unchanged(head);
    // The principal's own key again is not a concern: keys add stays safe to re-run.
    const again = await cli(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta], { env: asAdmin() });
    expect(again.exitCode, err(again)).toBe(0);
  });

  it("--yes goes ahead: the new group is written to .boot-meta.yaml", async () => {
    const r = await cli(["keys", "add", "bob", "--key", bob.recipient, "--group", "qa", "--yes", "--meta", meta], { env: asAdmin() });
    expect(r.exitCode, err(r)).toBe(0);
    expect(readFileSync(join(meta, ".boot-meta.yaml"), "utf8")).toMatch(/qa:\n\s+- bob/);
    expect(git(meta, "log", "-1", "--format=%s")).toBe("keys: add bob to qa");
  });

  // A terminal through util-linux `script`: the question is asked, and only "y" goes ahead.
  const onTerminal = (answer: string) =>
    execa("script", ["-qec", `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} keys add bob --key ${bob.recipient} --group developpers --meta ${JSON.stringify(meta)}`, "/dev/null"], {
      input: answer,
      reject: false,
      env: { ...asAdmin(), HOME: root, GIT_AUTHOR_NAME: "T", GIT_AUTHOR_EMAIL: "t@test.invalid", GIT_COMMITTER_NAME: "T", GIT_COMMITTER_EMAIL: "t@test.invalid" },
    });

  it.runIf(existsSync("/usr/bin/script"))("on a terminal asks, and a no writes nothing", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const no = await onTerminal("n\n");
    expect(no.exitCode).toBe(1);
    expect(no.stdout).toContain("add bob anyway? [y/N]");
    expect(no.stdout).toContain("KEYS_ADD_NOT_CONFIRMED");
    unchanged(head);
    const yes = await onTerminal("y\n");
    expect(yes.exitCode, yes.stdout).toBe(0);
    expect(git(meta, "log", "-1", "--format=%s")).toBe("keys: add bob to developpers");
  });
});
