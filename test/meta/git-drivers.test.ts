import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseFastGitDriver } from "../../src/cli/fast-path.js";
import { schemaCheck } from "../../src/config/commit-schema.js";
import { checkRepo } from "../../src/meta/commit-check.js";
import { conflictValue, mergeFile, mergeTrees, textconv } from "../../src/meta/git-drivers.js";
import { ATTRIBUTE_LINES, CHAINED_HOOK, gitSetup, HOOK_MARKER } from "../../src/meta/git-setup.js";
import { TEST_ONLY_KEY_MARKER } from "../../src/meta/layout.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { encryptBytes, openBytes, readRecipients, resealBytes, sealBytes } from "../../src/sops/engine.js";
import { parseDottedPath, setPath } from "../../src/sops/tree-path.js";
import { type IdentitySet, identitySetFrom } from "../../src/sops/identities.js";
import { yamlStore } from "../../src/sops/formats/yaml.js";
import { Branch } from "../../src/sops/tree.js";
import { cliWith, err, out } from "../helpers/cli.js";
import { driversRepo } from "../helpers/drivers.js";
import { git, tempDir } from "../helpers/gitdir.js";

type Key = Awaited<ReturnType<typeof generateAgeKey>>;
let admin: Key;
let alice: Key;
let server: Key;
let adminIds: IdentitySet;
let aliceIds: IdentitySet;
const PROD = "shop/envs/prod/config.sops.yaml";
const DEV = "shop/envs/dev/config.sops.yaml";
const noIds: IdentitySet = { identities: [], recipients: [], searched: [] };

/** A meta repo: admin (admins), alice (developers), prod-server (prod-servers); shop with prod and dev, prod holding three values. */
const metaRepo = () => driversRepo({ admin, alice, server, adminIds }, ["prod", "dev"]);

const plain = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");
const yaml = (text: string) => yamlStore.loadPlain(Buffer.from(text));

beforeAll(async () => {
  [admin, alice, server] = await Promise.all([generateAgeKey(), generateAgeKey(), generateAgeKey()]);
  adminIds = await identitySetFrom([admin.identity]);
  aliceIds = await identitySetFrom([alice.identity]);
});

describe("mergeTrees", () => {
  it("takes each side's change to a different key, keeps ours' order and appends their new keys", () => {
    const r = mergeTrees(yaml("a: 1\nb: x\nc: {d: 1, e: 2}\n"), yaml("a: 2\nb: x\nc: {d: 1, e: 2}\n"), yaml("a: 1\nb: y\nc: {d: 1, e: 3}\nz: new\n"), "yaml");
    expect(r?.conflicts).toEqual([]);
    expect(plain(yamlStore.emitPlain(r?.tree ?? []))).toBe("a: 2\nb: y\nc:\n    d: 1\n    e: 3\nz: new\n");
  });

  it("writes a value both sides changed as git's conflict markers inside the value, and deletes what one side deleted", () => {
    const r = mergeTrees(yaml("a: 1\nb: x\ngone: 1\n"), yaml("a: 2\nb: x\ngone: 1\n"), yaml("a: 3\nb: x\n"), "yaml");
    expect(r?.conflicts).toEqual(["a"]);
    expect(r?.tree[0]?.get("a")).toBe(conflictValue("2", "3"));
    expect(r?.tree[0]?.has("gone")).toBe(false);
  });

  it("tells an int from a string: 1 and \"1\" are a change", () => {
    const r = mergeTrees(yaml("a: 1\n"), yaml("a: '1'\n"), yaml("a: 2\n"), "yaml");
    expect(r?.conflicts).toEqual(["a"]);
  });

  it("has no value-wise answer when the sides hold different numbers of documents", () => {
    expect(mergeTrees([], [new Branch()], [new Branch(), new Branch()], "yaml")).toBeUndefined();
  });
});

describe("textconv", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await metaRepo();
  });

  it("shows a reader the decrypted document as stored", async () => {
    const bytes = readFileSync(join(dir, PROD));
    const text = plain(await textconv(bytes, PROD, { identities: adminIds, repoDir: dir }));
    expect(text).toContain("url: postgres://a");
    expect(text).toContain("token: s3cret-token");
    expect(text).not.toMatch(/ENC\[|sops:|mac:/);
  });

  it("tells anyone else whom it is encrypted to and who they are, with the structure and no value", async () => {
    const bytes = readFileSync(join(dir, PROD));
    const text = plain(await textconv(bytes, PROD, { identities: aliceIds, repoDir: dir }));
    const [first, ...rest] = text.split("\n");
    expect(first).toBe("# encrypted to admin, prod-server; you are alice (no key opens it)");
    expect(rest.join("\n")).toMatch(/db:\n {4}url: <encrypted [0-9a-f]{8}>\n {4}pool: <encrypted [0-9a-f]{8}>/);
    expect(text).not.toContain("postgres");
    expect(text).not.toContain("s3cret");
    const none = plain(await textconv(bytes, PROD, { identities: noIds, repoDir: dir }));
    expect(none.split("\n")[0]).toBe("# encrypted to admin, prod-server; you have no age identity (no key opens it)");
  });

  it("gives back a file that is not a SOPS file, or is malformed, as it is", async () => {
    for (const text of ["just: yaml\n", "{{{ not yaml", "sops: 3\n", ""]) {
      expect(plain(await textconv(Buffer.from(text), "x/envs/prod/a.yaml", { identities: adminIds, repoDir: dir }))).toBe(text);
    }
  });

  it("says a file whose MAC does not match did not open, and shows no value", async () => {
    const bytes = readFileSync(join(dir, PROD), "utf8").replace(/lastmodified: "[^"]+"/, 'lastmodified: "2000-01-01T00:00:00Z"');
    const text = plain(await textconv(Buffer.from(bytes), PROD, { identities: adminIds, repoDir: dir }));
    expect(text.split("\n")[0]).toBe("# encrypted to admin, prod-server; you are admin (it did not open: its MAC does not match)");
    expect(text).not.toContain("postgres");
  });
});

describe("mergeFile (the merge driver, on the files git hands it)", () => {
  let dir: string;
  let base: string;
  beforeAll(async () => {
    dir = await metaRepo();
    base = readFileSync(join(dir, PROD), "utf8");
  });

  /** ours and theirs as one config set each on top of `base`, in files as git would write them. */
  async function sides(ours: [string, string], theirs: [string, string]) {
    const work = tempDir("merge-");
    const files = { base: join(work, "base"), ours: join(work, "ours"), theirs: join(work, "theirs") };
    const f = await openBytes(Buffer.from(base), { format: "yaml", identities: adminIds, path: PROD });
    const edit = async ([k, v]: [string, string]) => {
      const copy = yamlStore.loadPlain(yamlStore.emitPlain(f.tree));
      setPath(copy[0] as Branch, parseDottedPath(k), v);
      return sealBytes(f, copy);
    };
    writeFileSync(files.base, base);
    writeFileSync(files.ours, await edit(ours));
    writeFileSync(files.theirs, await edit(theirs));
    return files;
  }

  it("merges changes to different keys cleanly; untouched values keep their ciphertext and it opens with both", async () => {
    const f = await sides(["db.url", "postgres://ours"], ["api.token", "theirs-token"]);
    const oursBefore = readFileSync(f.ours, "utf8");
    const r = await mergeFile(f.base, f.ours, f.theirs, PROD, { identities: adminIds, repoDir: dir });
    expect(r).toMatchObject({ how: "value-wise", conflicts: [], exitCode: 0 });
    const merged = readFileSync(f.ours, "utf8");
    const opened = await openBytes(Buffer.from(merged), { format: "yaml", identities: adminIds, path: PROD });
    expect(plain(yamlStore.emitPlain(opened.tree))).toContain("url: postgres://ours");
    expect(plain(yamlStore.emitPlain(opened.tree))).toContain("token: theirs-token");
    const line = (t: string, k: string) => t.split("\n").find((l) => l.trimStart().startsWith(`${k}:`));
    expect(line(merged, "pool")).toBe(line(base, "pool"));
    expect(line(merged, "url")).toBe(line(oursBefore, "url"));
    expect(merged).not.toContain("postgres");
  });

  it("writes a key both sides changed as conflict markers inside the encrypted value, and exits 1", async () => {
    const f = await sides(["db.url", "postgres://ours"], ["db.url", "postgres://theirs"]);
    const r = await mergeFile(f.base, f.ours, f.theirs, PROD, { identities: adminIds, repoDir: dir });
    expect(r).toMatchObject({ how: "value-wise", conflicts: ["db.url"], exitCode: 1 });
    const merged = readFileSync(f.ours, "utf8");
    expect(merged).not.toMatch(/<<<<<<<|postgres/);
    const opened = await openBytes(Buffer.from(merged), { format: "yaml", identities: adminIds, path: PROD });
    expect(((opened.tree[0]?.get("db") as Branch).get("url"))).toBe(conflictValue("postgres://ours", "postgres://theirs"));
  });

  it("seals to the rules' recipients with a new data key when ours is encrypted to someone else", async () => {
    const f = await sides(["db.url", "postgres://ours"], ["api.token", "theirs-token"]);
    const opened = await openBytes(readFileSync(f.ours), { format: "yaml", identities: adminIds, path: PROD });
    writeFileSync(f.ours, await resealBytes(opened, { keyGroups: [[admin.recipient, server.recipient, alice.recipient]] }));
    const r = await mergeFile(f.base, f.ours, f.theirs, PROD, { identities: adminIds, repoDir: dir });
    expect(r).toMatchObject({ how: "value-wise", exitCode: 0 });
    const merged = readFileSync(f.ours);
    expect(readRecipients(merged, "yaml", PROD).flat().sort()).toEqual([admin.recipient, server.recipient].sort());
    await expect(openBytes(merged, { format: "yaml", identities: aliceIds, path: PROD })).rejects.toMatchObject({ code: "SOPS_DATA_KEY_UNAVAILABLE" });
    const root = (await openBytes(merged, { format: "yaml", identities: adminIds, path: PROD })).tree[0] as Branch;
    expect([(root.get("db") as Branch).get("url"), (root.get("api") as Branch).get("token")]).toEqual(["postgres://ours", "theirs-token"]);
  });

  it("never re-keys a ciphertext written for another path: git's line merge instead", async () => {
    const f = await sides(["db.url", "postgres://ours"], ["api.token", "theirs-token"]);
    const other = "shop/envs/stage/config.sops.yaml"; // the rules give it admin only: a re-key
    const r = await mergeFile(f.base, f.ours, f.theirs, other, { identities: adminIds, repoDir: dir });
    expect(r.how).toBe("git");
    expect(r.reason).toContain(PROD);
    expect(readFileSync(f.ours, "utf8")).not.toMatch(/postgres|theirs-token/);
  });

  it("hands a non-reader's merge to git merge-file: a normal conflict of ciphertext lines, no plaintext", async () => {
    const f = await sides(["db.url", "postgres://ours"], ["api.token", "theirs-token"]);
    const r = await mergeFile(f.base, f.ours, f.theirs, PROD, { identities: aliceIds, repoDir: dir });
    expect(r.how).toBe("git");
    expect(r.reason).toBe("no identity of yours opens it");
    expect(r.exitCode).toBeGreaterThan(0);
    const merged = readFileSync(f.ours, "utf8");
    expect(merged).toContain("<<<<<<< ours");
    expect(merged).not.toMatch(/postgres|theirs-token|s3cret/);
  });

  it("merges a file that is not a SOPS file as git would", async () => {
    const work = tempDir("merge-plain-");
    const [b, o, t] = ["base", "ours", "theirs"].map((n) => join(work, n)) as [string, string, string];
    writeFileSync(b, "a: 1\nb: 1\nc: 1\nd: 1\n");
    writeFileSync(o, "a: 2\nb: 1\nc: 1\nd: 1\n");
    writeFileSync(t, "a: 1\nb: 1\nc: 1\nd: 2\n");
    const r = await mergeFile(b, o, t, "shop/envs/prod/notes.yaml", { identities: adminIds, repoDir: dir });
    expect(r).toMatchObject({ how: "git", exitCode: 0 });
    expect(readFileSync(o, "utf8")).toBe("a: 2\nb: 1\nc: 1\nd: 2\n");
  });
});

describe("git setup", () => {
  const command = ["/usr/bin/node", "/opt/boot meta/bin/run.js"];

  it("writes the drivers, the attributes and the hook, and a second run changes nothing", async () => {
    const dir = await metaRepo();
    const r = await gitSetup(dir, { command });
    expect(r.changed).toBe(true);
    expect(git(dir, "config", "--local", "diff.boot-meta.textconv")).toBe("'/usr/bin/node' '/opt/boot meta/bin/run.js' git textconv");
    expect(git(dir, "config", "--local", "merge.boot-meta.driver")).toBe("'/usr/bin/node' '/opt/boot meta/bin/run.js' git merge-file %O %A %B %P");
    expect(readFileSync(join(dir, ".gitattributes"), "utf8")).toBe(`${ATTRIBUTE_LINES.join("\n")}\n`);
    expect(git(dir, "check-attr", "diff", "merge", "--", PROD, "shop/config.sops.yaml", "keys/admin.txt")).toBe(
      [`${PROD}: diff: boot-meta`, `${PROD}: merge: boot-meta`, "shop/config.sops.yaml: diff: boot-meta", "shop/config.sops.yaml: merge: boot-meta", "keys/admin.txt: diff: unspecified", "keys/admin.txt: merge: unspecified"].join("\n"),
    );
    const hook = readFileSync(r.hook.path, "utf8");
    expect(hook.split("\n").slice(0, 2)).toEqual(["#!/bin/sh", HOOK_MARKER]);
    expect(hook).toContain("'/opt/boot meta/bin/run.js' check --staged");
    const again = await gitSetup(dir, { command });
    expect(again.changed).toBe(false);
    expect(again.gitattributes.added).toEqual([]);
    expect(readFileSync(join(dir, ".gitattributes"), "utf8")).toBe(`${ATTRIBUTE_LINES.join("\n")}\n`);
  });

  it("keeps every attribute line and an existing hook, which runs first; never sets cachetextconv and removes it", async () => {
    const dir = await metaRepo();
    writeFileSync(join(dir, ".gitattributes"), "*.png binary"); // no final newline
    const hooks = join(dir, ".git", "hooks");
    mkdirSync(hooks, { recursive: true });
    writeFileSync(join(hooks, "pre-commit"), "#!/bin/sh\necho mine\n", { mode: 0o755 });
    git(dir, "config", "--local", "diff.boot-meta.cachetextconv", "true");
    const r = await gitSetup(dir, { command });
    expect(r.removedCachetextconv).toBe(true);
    expect(() => git(dir, "config", "--local", "--get", "diff.boot-meta.cachetextconv")).toThrow();
    expect(readFileSync(join(dir, ".gitattributes"), "utf8")).toBe(`*.png binary\n${ATTRIBUTE_LINES.join("\n")}\n`);
    expect(r.hook.chained).toBe(CHAINED_HOOK);
    expect(readFileSync(join(hooks, CHAINED_HOOK), "utf8")).toBe("#!/bin/sh\necho mine\n");
    expect(readFileSync(join(hooks, "pre-commit"), "utf8")).toContain(`"$(dirname "$0")/${CHAINED_HOOK}" "$@" || exit $?`);
    const again = await gitSetup(dir, { command });
    expect(again.changed).toBe(false);
    expect(readFileSync(join(hooks, CHAINED_HOOK), "utf8")).toBe("#!/bin/sh\necho mine\n");
  });

  it("refuses a directory that is not a git repository, writing nothing there", async () => {
    const dir = tempDir("not-a-repo-");
    await expect(gitSetup(dir, { command })).rejects.toMatchObject({ code: "META_NOT_A_REPO" });
    await expect(checkRepo(dir, { staged: true })).rejects.toMatchObject({ code: "META_NOT_A_REPO" });
    expect(existsSync(join(dir, ".gitattributes"))).toBe(false);
  });

  it("refuses, changing no hook, when a foreign hook and a chained one both exist", async () => {
    const dir = await metaRepo();
    const hooks = join(dir, ".git", "hooks");
    mkdirSync(hooks, { recursive: true });
    writeFileSync(join(hooks, "pre-commit"), "#!/bin/sh\necho new\n", { mode: 0o755 });
    writeFileSync(join(hooks, CHAINED_HOOK), "#!/bin/sh\necho old\n", { mode: 0o755 });
    await expect(gitSetup(dir, { command })).rejects.toMatchObject({ code: "GIT_SETUP_HOOK_CONFLICT", message: expect.stringContaining("not overwriting either") });
    expect(readFileSync(join(hooks, "pre-commit"), "utf8")).toBe("#!/bin/sh\necho new\n");
    expect(readFileSync(join(hooks, CHAINED_HOOK), "utf8")).toBe("#!/bin/sh\necho old\n");
  });
});

describe("check --staged (the pre-commit check)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await metaRepo();
  });

  function staged(path: string, content: string | Uint8Array): () => void {
    const abs = join(dir, path);
    mkdirSync(join(abs, ".."), { recursive: true });
    writeFileSync(abs, content);
    git(dir, "add", "--", path);
    return () => {
      git(dir, "rm", "-q", "--cached", "-f", "--", path);
      git(dir, "clean", "-qfd", "--", path);
    };
  }

  it("passes what `config set` commits, and a staged change with nothing wrong", async () => {
    const undo = staged("shop/project-notes.md", "notes\n");
    expect((await checkRepo(dir, { staged: true })).findings).toEqual([]);
    expect((await checkRepo(dir)).findings).toEqual([]);
    undo();
  });

  it("refuses a staged age private key anywhere, naming the file and never the key", async () => {
    const undo = staged("notes/backup.txt", `my key\n${admin.identity}\n`);
    const r = await checkRepo(dir, { staged: true });
    expect(r.findings).toEqual([expect.objectContaining({ path: "notes/backup.txt", kind: "private-key", what: "notes/backup.txt holds an age private key (AGE-SECRET-KEY-1…)" })]);
    expect(JSON.stringify(r)).not.toContain(admin.identity);
    undo();
  });

  it("refuses an OpenSSH private key block", async () => {
    const undo = staged("id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n");
    expect((await checkRepo(dir, { staged: true })).findings.map((f) => f.kind)).toEqual(["private-key"]);
    undo();
  });

  it("accepts a private key in a file that carries the test-only marker", async () => {
    const undo = staged("test/fixtures/keys/x.txt", `${TEST_ONLY_KEY_MARKER} — a fixture\n${admin.identity}\n`);
    expect((await checkRepo(dir, { staged: true })).findings).toEqual([]);
    undo();
  });

  it("refuses a plaintext file in an env folder", async () => {
    const undo = staged("shop/envs/prod/secrets.yaml", "password: hunter2\n");
    const r = await checkRepo(dir, { staged: true });
    expect(r.findings).toEqual([expect.objectContaining({ path: "shop/envs/prod/secrets.yaml", kind: "plaintext", what: expect.stringContaining("is governed by the access rules (readers: admin, prod-server) but is not a SOPS file") })]);
    expect(JSON.stringify(r)).not.toContain("hunter2");
    undo();
  });

  it("refuses a file encrypted to a recipient the rules do not give its path", async () => {
    const bytes = await encryptBytes(Buffer.from("a: 1\n"), { format: "yaml", keyGroups: [[admin.recipient, server.recipient, alice.recipient]] });
    const undo = staged("shop/envs/prod/extra.sops.yaml", bytes);
    const r = await checkRepo(dir, { staged: true });
    expect(r.findings).toEqual([expect.objectContaining({ path: "shop/envs/prod/extra.sops.yaml", kind: "recipients", what: "shop/envs/prod/extra.sops.yaml is encrypted also to alice; the rules give it to admin, prod-server" })]);
    undo();
  });

  it("refuses a SOPS file with a value put in the clear by hand", async () => {
    const text = readFileSync(join(dir, PROD), "utf8").replace(/url: ENC\[[^\]]+\]/, "url: postgres://leaked");
    const undo = staged(PROD, text);
    const r = await checkRepo(dir, { staged: true });
    expect(r.findings).toEqual([expect.objectContaining({ path: PROD, kind: "unencrypted-value", what: `${PROD} has values in the clear that its rule encrypts: db.url` })]);
    expect(JSON.stringify(r)).not.toContain("leaked");
    git(dir, "checkout", "HEAD", "--", PROD);
    void undo;
  });

  it("checks the index, not the work tree: a fixed work tree does not hide a bad staged blob", async () => {
    const path = "shop/envs/dev/plain.yaml";
    writeFileSync(join(dir, path), "token: abc\n");
    git(dir, "add", "--", path);
    await encryptBytes(Buffer.from("token: abc\n"), { format: "yaml", keyGroups: [[admin.recipient]] }).then((b) => writeFileSync(join(dir, path), b));
    expect((await checkRepo(dir, { staged: true })).findings.map((f) => [f.path, f.kind])).toEqual([[path, "plaintext"]]);
    git(dir, "rm", "-q", "--cached", "-f", "--", path);
    expect(existsSync(join(dir, path))).toBe(true);
  });

  it("the command exits 1 with CHECK_FINDINGS, each finding in --json, and leaves the index as it was", async () => {
    const undo = staged("shop/envs/prod/secrets.yaml", "password: hunter2\n");
    const before = git(dir, "ls-files", "-s");
    const cli = cliWith();
    const r = await cli(["check", "--staged", "--json"], { cwd: dir });
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(out(r)) as { error: { code: string; message: string; data: { findings: { path: string; kind: string }[] } } };
    expect(j.error.code).toBe("CHECK_FINDINGS");
    expect(j.error.message).toContain("1 problem(s) in the staged changes: shop/envs/prod/secrets.yaml is governed by the access rules");
    expect(j.error.data.findings).toEqual([expect.objectContaining({ path: "shop/envs/prod/secrets.yaml", kind: "plaintext" })]);
    expect(out(r) + err(r)).not.toContain("hunter2");
    expect(git(dir, "ls-files", "-s")).toBe(before);
    undo();
    const ok = await cli(["check", "--staged", "--json"], { cwd: dir });
    expect(ok.exitCode).toBe(0);
    expect(JSON.parse(out(ok))).toMatchObject({ mode: "staged", findings: [] });
  });
});

describe("check --staged: the project's schema.json", () => {
  let dir: string;
  // db.pool is 5 in prod (the env layer); api.token is "s3cret-token": both break this schema.
  const SCHEMA = JSON.stringify({ properties: { db: { properties: { pool: { type: "integer", maximum: 3 } } }, api: { properties: { token: { maxLength: 4 } } } } });
  beforeAll(async () => {
    dir = await metaRepo();
  });

  const stageSchema = (text: string) => {
    writeFileSync(join(dir, "shop/schema.json"), text);
    git(dir, "add", "--", "shop/schema.json");
    return () => {
      git(dir, "rm", "-q", "--cached", "-f", "--", "shop/schema.json");
      git(dir, "clean", "-qf", "--", "shop/schema.json");
    };
  };

  it("refuses a staged schema that the merged config of an env breaks, naming key and layer, never the value", async () => {
    const undo = stageSchema(SCHEMA);
    const r = await checkRepo(dir, { staged: true, extensions: [schemaCheck(async () => adminIds)] });
    expect(r.findings.map((f) => [f.path, f.kind, f.what])).toEqual([
      [PROD, "schema", `the config of shop prod does not satisfy shop/schema.json: db.pool must be <= 3 (set in the env layer, ${PROD})`],
      [PROD, "schema", `the config of shop prod does not satisfy shop/schema.json: api.token must NOT have more than 4 characters (set in the env layer, ${PROD})`],
    ]);
    expect(JSON.stringify(r)).not.toContain("s3cret");
    undo();
  });

  it("skips, with a note, an env whose layers the committer's key does not open", async () => {
    const undo = stageSchema(SCHEMA);
    const r = await checkRepo(dir, { staged: true, extensions: [schemaCheck(async () => aliceIds)] });
    expect(r.findings).toEqual([]);
    expect(r.notes).toEqual([`shop prod not checked against shop/schema.json: ${PROD} is not encrypted to your key`]);
    const none = await checkRepo(dir, { staged: true, extensions: [schemaCheck(async () => undefined)] });
    expect(none.findings).toEqual([]);
    expect(none.notes).toEqual([expect.stringContaining("shop/schema.json not checked: no age identity was found")]);
    undo();
  });

  /** Stages `path` with `key` set to `value`, re-sealed with its own data key (as `config set` would write it, but not committed). */
  async function stageValue(path: string, key: string, value: bigint): Promise<() => void> {
    const f = await openBytes(readFileSync(join(dir, path)), { format: "yaml", identities: adminIds, path });
    setPath(f.tree[0] as Branch, parseDottedPath(key), value);
    writeFileSync(join(dir, path), sealBytes(f, f.tree));
    git(dir, "add", "--", path);
    return () => {
      git(dir, "reset", "-q", "--", path);
      git(dir, "checkout", "--", path);
    };
  }

  it("checks a staged layer change against the committed schema, only for the envs that layer feeds", async () => {
    writeFileSync(join(dir, "shop/schema.json"), SCHEMA);
    git(dir, "add", "--", "shop/schema.json");
    git(dir, "commit", "-q", "--no-verify", "-m", "schema");
    let asked = 0;
    const ext = schemaCheck(async () => {
      asked++;
      return adminIds;
    });
    // A dev layer change: prod, which breaks the schema, is not what this commit touches.
    let undo = await stageValue(DEV, "db.pool", 2n);
    expect(await checkRepo(dir, { staged: true, extensions: [ext] })).toMatchObject({ findings: [], notes: [] });
    expect(asked).toBe(1);
    undo();
    undo = await stageValue(DEV, "db.pool", 9n);
    expect((await checkRepo(dir, { staged: true, extensions: [ext] })).findings.map((f) => f.what)).toEqual([`the config of shop dev does not satisfy shop/schema.json: db.pool must be <= 3 (set in the env layer, ${DEV})`]);
    undo();
    // An unrelated staged file asks for no key at all.
    asked = 0;
    writeFileSync(join(dir, "shop/notes.md"), "x\n");
    git(dir, "add", "--", "shop/notes.md");
    expect((await checkRepo(dir, { staged: true, extensions: [ext] })).findings).toEqual([]);
    expect(asked).toBe(0);
    git(dir, "rm", "-q", "--cached", "-f", "--", "shop/notes.md");
    git(dir, "reset", "-q", "--soft", "HEAD~1");
    git(dir, "rm", "-q", "--cached", "-f", "--", "shop/schema.json");
  });

  it("the command refuses with CHECK_FINDINGS, exit 1, no value in its output, and the index as it was", async () => {
    const d = await metaRepo();
    writeFileSync(join(d, "shop/schema.json"), SCHEMA);
    git(d, "add", "--", "shop/schema.json");
    const before = git(d, "ls-files", "-s");
    const keyFile = join(tempDir(), "admin.txt");
    writeFileSync(keyFile, `${admin.identity}\n`, { mode: 0o600 });
    const cli = cliWith();
    const r = await cli(["check", "--staged", "--json", "--identity", keyFile], { cwd: d });
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(out(r)) as { error: { code: string; data: { findings: { path: string; kind: string }[] } } };
    expect(j.error.code).toBe("CHECK_FINDINGS");
    expect(j.error.data.findings.map((f) => [f.path, f.kind])).toEqual([[PROD, "schema"], [PROD, "schema"]]);
    expect(out(r) + err(r)).not.toContain("s3cret");
    expect(git(d, "ls-files", "-s")).toBe(before);
  });
});

describe("the drivers' fast path", () => {
  it("takes exactly the argument lists git setup writes, and hands anything else to oclif", () => {
    expect(parseFastGitDriver(["git", "textconv", "/tmp/x_config.sops.yaml"], {})).toEqual({ verb: "textconv", file: "/tmp/x_config.sops.yaml" });
    expect(parseFastGitDriver(["git", "merge-file", "o", "a", "b", "p/c.yaml"], {})).toEqual({ verb: "merge-file", files: ["o", "a", "b", "p/c.yaml"] });
    for (const argv of [["git", "textconv"], ["git", "textconv", "a", "b"], ["git", "textconv", "--help"], ["git", "textconv", ""], ["git", "merge-file", "o", "a", "b"], ["git", "setup"], ["decrypt", "x"]]) {
      expect(parseFastGitDriver(argv, {}), argv.join(" ")).toBeUndefined();
    }
    for (const env of [{ BOOT_META_NO_FAST_PATH: "1" }, { DEBUG: "*" }, { OCLIF_TS_NODE: "0" }, { BOOT_META_DEBUG: "1" }]) {
      expect(parseFastGitDriver(["git", "textconv", "f.yaml"], env), JSON.stringify(env)).toBeUndefined();
    }
  });
});
