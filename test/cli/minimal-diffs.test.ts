import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// The README promises minimal git diffs. With real files through the CLI: `unset` removes the
// key's lines and nothing else (every remaining comment stays on its own line, every other
// line keeps its ciphertext), and `edit` that leaves a comment alone leaves its ciphertext.

// One plaintext line per encrypted line, in the form the YAML store writes (so it round-trips).
const FIXTURE = `# top of file
app:
    # the name of the app
    name: shop # inline name
    # the port
    port: 8080 # inline port
    tags:
        # first tag
        - web
        - api
        # after tags
    servers:
        - host: a # inline host
          port: 1
        - host: b
# database settings
db:
    host: localhost
    # the password
    password: hunter2 # inline password
    # after password
# a trailing comment
last: x # inline last
# end of file
`;
const lines = FIXTURE.split("\n");
const lineOf = (text: string) => {
  const i = lines.indexOf(text);
  if (i < 0) throw new Error(`not in the fixture: ${text}`);
  return i;
};
/** The encrypted file's lines with the two that every write changes (lastmodified, mac) masked. */
const masked = (text: string) => text.split("\n").map((l) => (/^    (lastmodified|mac):/.test(l) ? "<sops write stamp>" : l));

describe("minimal diffs", () => {
  const dir = tempDir();
  const cli = cliWith();
  let env: NodeJS.ProcessEnv;
  let original: string;

  beforeAll(async () => {
    const key = await ageKeyFile(dir);
    env = { SOPS_AGE_KEY_FILE: key.file };
    writeFileSync(join(dir, "plain.yaml"), FIXTURE);
    const r = await cli(["encrypt", "--age", key.recipient, "--output", join(dir, "secrets.enc.yaml"), join(dir, "plain.yaml")], { env });
    expect(r.exitCode, err(r)).toBe(0);
    original = readFileSync(join(dir, "secrets.enc.yaml"), "utf8");
    // The premise: one encrypted line per plaintext line, and the plaintext round-trips.
    expect(out(await cli(["decrypt", join(dir, "secrets.enc.yaml")], { env }))).toBe(FIXTURE);
  });

  const cases: [string, string[]][] = [
    ['["app"]["name"]', ["    name: shop # inline name"]],
    ['["app"]["port"]', ["    port: 8080 # inline port"]],
    ['["db"]["password"]', ["    password: hunter2 # inline password"]],
    ['["last"]', ["last: x # inline last"]],
    ['["app"]["tags"][0]', ["        - web"]],
    ['["app"]["servers"][1]', ["        - host: b"]],
    ['["db"]', ["db:", "    host: localhost", "    # the password", "    password: hunter2 # inline password", "    # after password"]],
  ];
  for (const [path, removed] of cases) {
    it(`unset ${path} removes its ${removed.length} line(s) and changes no other`, async () => {
      const file = join(dir, `unset-${cases.findIndex(([p]) => p === path)}.enc.yaml`);
      copyFileSync(join(dir, "secrets.enc.yaml"), file);
      const r = await cli(["unset", file, path], { env });
      expect(r.exitCode, err(r)).toBe(0);
      const gone = new Set(removed.map(lineOf));
      expect(out(await cli(["decrypt", file], { env }))).toBe(lines.filter((_, i) => !gone.has(i)).join("\n"));
      expect(masked(readFileSync(file, "utf8"))).toEqual(masked(original).filter((_, i) => !gone.has(i)));
    });
  }

  it("unset of a list map's first key moves the dash to the next key, and its comment stays on its own line", async () => {
    const file = join(dir, "unset-host.enc.yaml");
    copyFileSync(join(dir, "secrets.enc.yaml"), file);
    expect((await cli(["unset", file, '["app"]["servers"][0]["host"]'], { env })).exitCode).toBe(0);
    expect(out(await cli(["decrypt", file], { env }))).toContain("    servers:\n        - port: 1\n        - host: b\n# database settings\n");
  });

  it("edit that changes one value leaves every comment's ciphertext as it was", async () => {
    const file = join(dir, "edit-value.enc.yaml");
    copyFileSync(join(dir, "secrets.enc.yaml"), file);
    const r = await cli(["edit", file], { env: { ...env, EDITOR: "sed -i s/hunter2/hunter3/" } });
    expect(r.exitCode, err(r)).toBe(0);
    const after = masked(readFileSync(file, "utf8"));
    const before = masked(original);
    const changed = before.flatMap((l, i) => (l === after[i] ? [] : [i]));
    expect(changed).toEqual([lineOf("    password: hunter2 # inline password")]);
    // The line comment after the changed value keeps its ciphertext too.
    const commentOf = (l: string | undefined) => l?.slice(l.indexOf(" #ENC["));
    expect(commentOf(after[changed[0] as number])).toBe(commentOf(before[changed[0] as number]));
  });

  it("edit that changes one comment changes that comment's line only", async () => {
    const file = join(dir, "edit-comment.enc.yaml");
    copyFileSync(join(dir, "secrets.enc.yaml"), file);
    const r = await cli(["edit", file], { env: { ...env, EDITOR: "sed -i 's/inline port/the http port/'" } });
    expect(r.exitCode, err(r)).toBe(0);
    const after = masked(readFileSync(file, "utf8"));
    const changed = masked(original).flatMap((l, i) => (l === after[i] ? [] : [i]));
    expect(changed).toEqual([lineOf("    port: 8080 # inline port")]);
    expect(out(await cli(["decrypt", file], { env }))).toBe(FIXTURE.replace("# inline port", "# the http port"));
  });

  it("config unset and config edit in a meta repo: the commit's diff is the intended lines", async () => {
    const root = tempDir();
    const meta = join(root, "meta");
    const admin = await ageKeyFile(root);
    const asAdmin = { SOPS_AGE_KEY_FILE: admin.file };
    const ok = async (args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const r = await cli([...args, "--meta", meta], { env: { ...asAdmin, ...extra } });
      expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
    };
    expect((await cli(["init", meta])).exitCode).toBe(0);
    await ok(["keys", "add", "admin", "--key", admin.recipient, "--group", "admins"]);
    await ok(["project", "create", "shop"]);
    await ok(["env", "create", "shop", "dev"]);
    await ok(["config", "edit", "-p", "shop", "-e", "dev"], { EDITOR: `cp ${join(dir, "plain.yaml")}` });
    const file = "shop/envs/dev/config.sops.yaml";
    const diffLines = () =>
      git(meta, "diff", "--unified=0", "HEAD~1", "HEAD", "--", file)
        .split("\n")
        .filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l) && !/^[-+] {4}(lastmodified|mac):/.test(l));
    const plainOf = async () => out(await cli(["config", "show", "-p", "shop", "-e", "dev", "--meta", meta, "--json"], { env: asAdmin }));

    await ok(["config", "unset", "app.port", "-p", "shop", "-e", "dev"]);
    expect(diffLines()).toEqual([expect.stringMatching(/^- {4}port: ENC\[AES256_GCM,.*type:int\] #ENC\[AES256_GCM,.*type:comment\]$/)]);
    expect(JSON.parse(await plainOf()).config.app).toEqual({ name: "shop", tags: ["web", "api"], servers: [{ host: "a", port: 1 }, { host: "b" }] });

    await ok(["config", "edit", "-p", "shop", "-e", "dev"], { EDITOR: "sed -i s/localhost/db.internal/" });
    expect(diffLines()).toEqual([expect.stringMatching(/^- {4}host: ENC\[/), expect.stringMatching(/^\+ {4}host: ENC\[/)]);
  });
});
