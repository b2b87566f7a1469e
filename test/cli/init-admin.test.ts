import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

const cli = cliWith();

/** An ed25519 key made here (test-only): its file and its public line. */
function sshKey(name: string) {
  const keyFile = join(tempDir("boot-meta-ssh-"), "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@test (test-only key)`, "-f", keyFile]);
  return { keyFile, line: readFileSync(`${keyFile}.pub`, "utf8").trim() };
}

describe("init --admin: the first admin in the initial commit, and the trust root", () => {
  it("with an ssh-ed25519 key, the initial commit is the trust root that verify checks every later commit from", async () => {
    const root = tempDir();
    const meta = join(root, "meta");
    const age = await ageKeyFile(root);
    const ssh = sshKey("admin");
    const r = await cli(["init", meta, "--admin", "admin", "--key", age.recipient, "--key", ssh.line, "--json"]);
    expect(r.exitCode, err(r)).toBe(0);
    const j = JSON.parse(out(r));
    const head = git(meta, "rev-parse", "HEAD");
    expect(j).toMatchObject({ commit: head, trustRoot: head, admin: { name: "admin", group: "admins" } });
    expect(git(meta, "rev-list", "--count", "HEAD")).toBe("1");
    expect(readFileSync(join(meta, "keys/admin.txt"), "utf8")).toContain(ssh.line);
    expect(readFileSync(join(meta, "keys/admin.txt"), "utf8")).toContain(age.recipient);
    expect(readFileSync(join(meta, ".boot-meta.yaml"), "utf8")).toMatch(/admins:\n\s+- admin\n/);
    expect(git(meta, "status", "--porcelain")).toBe("");
    // The admin signs what follows (boot-meta's commits through commit.gpgSign): it verifies from the root.
    for (const [k, v] of [["gpg.format", "ssh"], ["user.signingkey", ssh.keyFile], ["commit.gpgsign", "true"]]) git(meta, "config", k as string, v as string);
    const asAdmin = { env: { SOPS_AGE_KEY_FILE: age.file } };
    expect((await cli(["project", "create", "shop", "--meta", meta], asAdmin)).exitCode).toBe(0);
    expect((await cli(["env", "create", "shop", "prod", "--meta", meta], asAdmin)).exitCode).toBe(0);
    const ok = await cli(["verify", "--from", j.trustRoot, "--meta", meta, "--json"]);
    expect(ok.exitCode, out(ok)).toBe(0);
    expect(JSON.parse(out(ok))).toMatchObject({ ok: true, checked: 2 });
    // …and a commit signed by a key that is not in keys/ is refused from it.
    writeFileSync(join(meta, "shop/envs/prod/config.sops.yaml"), "database: evil.example\n");
    const stranger = sshKey("stranger");
    git(meta, "-c", `user.signingkey=${stranger.keyFile}`, "commit", "-qam", "not an admin");
    const bad = await cli(["verify", "--from", j.trustRoot, "--meta", meta, "--json"]);
    expect(bad.exitCode).toBe(1);
    expect(JSON.parse(out(bad)).error.data).toMatchObject({ reason: "unknown-signer", commit: git(meta, "rev-parse", "HEAD") });
  });

  it("says the trust root on stderr for people", async () => {
    const root = tempDir();
    const r = await cli(["init", join(root, "meta"), "--admin", "admin", "--key", (await ageKeyFile(root)).recipient, "--key", sshKey("admin").line]);
    expect(r.exitCode, err(r)).toBe(0);
    expect(out(r)).toBe("");
    expect(err(r)).toContain(`trust root: ${git(join(root, "meta"), "rev-parse", "HEAD")}`);
  });

  it("without a signing key there is no trust root yet, and the note says how to get one", async () => {
    const root = tempDir();
    const ageOnly = await cli(["init", join(root, "a"), "--admin", "admin", "--key", (await ageKeyFile(root)).recipient, "--json"]);
    expect(ageOnly.exitCode, err(ageOnly)).toBe(0);
    expect(JSON.parse(out(ageOnly))).toMatchObject({ trustRoot: null, admin: { name: "admin", group: "admins" } });
    const plain = await cli(["init", join(root, "b")]);
    expect(plain.exitCode).toBe(0);
    expect(err(plain)).toMatch(/no trust root yet: readers verify history from a commit whose keys\/ holds an admin's signing key/);
    expect(err(plain)).toContain('--key "ssh-ed25519 …" --group admins');
    const j = JSON.parse(out(await cli(["init", join(root, "c"), "--json"])));
    expect(j).toMatchObject({ admin: null, trustRoot: null });
  });

  it("refuses a bad admin before creating anything", async () => {
    const root = tempDir();
    const cases: [string[], string, number][] = [
      [["--admin", "../x", "--key", (await ageKeyFile(root)).recipient], "META_INVALID_NAME", 2],
      [["--admin", "admin", "--key", `AGE-SECRET-${"KEY-1"}${"Q".repeat(58)}` /* built, so the repository holds no key-shaped line */], "META_PRIVATE_KEY_REFUSED", 2],
      [["--admin", "admin", "--key", "ssh-ed25519 notbase64"], "SOPS_INVALID_RECIPIENT", 2],
      [["--admin", "admin"], "INVALID_ARGUMENT", 2],
    ];
    for (const [args, code, exit] of cases) {
      const dir = join(root, `m-${code}`);
      const r = await cli(["init", dir, ...args, "--json"]);
      expect(r.exitCode, `${args.join(" ")}: ${out(r)}`).toBe(exit);
      const e = JSON.parse(out(r)).error;
      expect(e.code).toBe(code);
      expect(e.message).not.toContain("QQQQQQQQQQ");
      expect(existsSync(dir), args.join(" ")).toBe(false);
    }
    const orphanKey = await cli(["init", join(root, "k"), "--key", (await ageKeyFile(root)).recipient]);
    expect(orphanKey.exitCode).toBe(2);
    expect(err(orphanKey)).toMatch(/--admin/);
    expect(existsSync(join(root, "k"))).toBe(false);
  });
});
