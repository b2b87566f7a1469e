import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Git } from "../../src/meta/git.js";
import { commitChanges } from "../../src/meta/commit.js";
import { git, gitEnv, gitRepo, tempDir } from "../helpers/gitdir.js";

// Names chosen to hit git's tree order: a directory sorts as if its name ended in "/", so
// "a-b" < "a" (dir) < "a.b" < "a0" in a tree, unlike a plain sort.
const NAMES = ["a", "a-b", "a.b", "a0", "b", "é", "z"];
const pathArb = fc.array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 3 }).map((p) => p.join("/"));

/** What git itself makes of the same files: an index built with update-index, then write-tree. */
function gitTreeOf(dir: string, files: Map<string, string>): string {
  const env = gitEnv({ GIT_INDEX_FILE: join(dir, ".git", "ref-index") });
  execFileSync("git", ["read-tree", "--empty"], { cwd: dir, env });
  const lines = [...files].map(([p, text]) => `100644 ${execFileSync("git", ["hash-object", "-w", "--stdin"], { cwd: dir, env, input: text, encoding: "utf8" }).trim()}\t${p}`);
  if (lines.length) execFileSync("git", ["update-index", "--index-info"], { cwd: dir, env, input: `${lines.join("\n")}\n` });
  return execFileSync("git", ["write-tree"], { cwd: dir, env, encoding: "utf8" }).trim();
}

/** Drops paths that would make another path both a file and a directory. */
function consistent(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const clash = out.some((q) => q === p || q.startsWith(`${p}/`) || p.startsWith(`${q}/`));
    if (!clash) out.push(p);
  }
  return out;
}

describe("commits built through git fast-import", () => {
  it("give the tree git itself computes, for any files, removals and name order (property)", async () => {
    const dir = gitRepo();
    await fc.assert(
      fc.asyncProperty(fc.array(pathArb, { minLength: 1, maxLength: 8 }), fc.array(pathArb, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 4 }), async (firstPaths, secondPaths, removeIdx) => {
        const first = new Map(consistent(firstPaths).map((p, i) => [p, `v1 ${i} ${p}\n`]));
        await commitChanges(dir, { message: "first", author: "T <t@test.invalid>" }, async (tx) => {
          for (const p of await tx.list("")) if (!first.has(p)) tx.remove(p);
          for (const [p, v] of first) tx.write(p, v);
        });
        const expected = new Map(first);
        // A second commit on top: some files removed, others added where they do not clash.
        const removed = removeIdx.map((i) => [...first.keys()][i % first.size] as string);
        const added = consistent([...first.keys(), ...secondPaths]).filter((p) => !first.has(p));
        for (const p of removed) expected.delete(p);
        for (const p of added) expected.set(p, `v2 ${p}\n`);
        await commitChanges(dir, { message: "second", author: "T <t@test.invalid>" }, async (tx) => {
          for (const p of removed) tx.remove(p);
          for (const p of added) tx.write(p, `v2 ${p}\n`);
        });
        expect(git(dir, "rev-parse", "HEAD^{tree}")).toBe(gitTreeOf(dir, expected));
        // The work tree followed, and git finds nothing wrong with the objects.
        expect(git(dir, "status", "--porcelain")).toBe("");
        for (const [p, v] of expected) expect(readFileSync(join(dir, p), "utf8")).toBe(v);
      }),
      { numRuns: process.env.SLOW ? 100 : 15 },
    );
    expect(git(dir, "fsck", "--strict", "--no-progress", "--no-dangling")).toBe("");
  }, 120_000);

  it("writing the bytes that are already there makes no commit", async () => {
    const dir = gitRepo();
    await commitChanges(dir, { message: "add", author: "T <t@test.invalid>" }, async (tx) => tx.write("x/y.txt", "same\n"));
    const head = git(dir, "rev-parse", "HEAD");
    const r = await commitChanges(dir, { message: "again", author: "T <t@test.invalid>" }, async (tx) => tx.write("x/y.txt", "same\n"));
    expect(r.commit).toBeUndefined();
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
  });

  it("keeps an executable file executable when it is rewritten", async () => {
    const dir = gitRepo();
    mkdirSync(join(dir, "bin"));
    writeFileSync(join(dir, "bin/run"), "#!/bin/sh\n");
    chmodSync(join(dir, "bin/run"), 0o755);
    git(dir, "add", "bin/run");
    git(dir, "commit", "-q", "-m", "exec");
    await commitChanges(dir, { message: "edit", author: "T <t@test.invalid>" }, async (tx) => tx.write("bin/run", "#!/bin/sh\necho hi\n"));
    expect(git(dir, "ls-tree", "HEAD", "bin/run")).toMatch(/^100755 blob /);
  });

  it("records author and committer like git does, and the message verbatim", async () => {
    const dir = gitRepo();
    const r = await commitChanges(dir, { message: "subject line\n\nbody: ünïcode\n", author: "Ada Lovelace <ada@test.invalid>" }, async (tx) => tx.write("a.txt", "a\n"));
    const show = git(dir, "log", "-1", "--format=%an|%ae|%B", r.commit as string);
    expect(show).toBe("Ada Lovelace|ada@test.invalid|subject line\n\nbody: ünïcode");
    // The committer is git's identity (GIT_COMMITTER_* as the test environment sets it is not
    // visible to the library: it sees the global config the machine has, or the author).
    expect(git(dir, "log", "-1", "--format=%cn", r.commit as string)).not.toBe("");
    expect(git(dir, "cat-file", "-t", r.commit as string)).toBe("commit");
  });

  it("a file where a directory must go is a typed error, and nothing changes", async () => {
    const dir = gitRepo();
    await commitChanges(dir, { message: "file", author: "T <t@test.invalid>" }, async (tx) => tx.write("a", "file\n"));
    const head = git(dir, "rev-parse", "HEAD");
    await expect(commitChanges(dir, { message: "under", author: "T <t@test.invalid>" }, async (tx) => tx.write("a/b", "x\n"))).rejects.toMatchObject({ code: "META_PATH_CONFLICT" });
    await expect(commitChanges(dir, { message: "over", author: "T <t@test.invalid>" }, async (tx) => tx.write("", "x\n"))).rejects.toBeTruthy();
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
    expect(git(dir, "status", "--porcelain")).toBe("");
  });

  it("refuses what git's index refuses, which fast-import would quietly do, and allows what a change makes room for", async () => {
    const dir = gitRepo();
    const author = "T <t@test.invalid>";
    await commitChanges(dir, { message: "seed", author }, async (tx) => {
      tx.write("d/x.txt", "x\n");
      tx.write("d/sub/y.txt", "y\n");
      tx.write("f", "file\n");
    });
    const head = git(dir, "rev-parse", "HEAD");
    // Removing a directory by its name would remove everything under it.
    await expect(commitChanges(dir, { message: "rm dir", author }, async (tx) => tx.remove("d"))).rejects.toMatchObject({ code: "META_PATH_CONFLICT", message: expect.stringContaining("d: it is a directory, not a file") });
    // A file where a directory still has files.
    await expect(commitChanges(dir, { message: "over dir", author }, async (tx) => {
      tx.remove("d/x.txt");
      tx.write("d", "now a file\n");
    })).rejects.toMatchObject({ code: "META_PATH_CONFLICT", message: expect.stringContaining("d: it is a directory") });
    // A file and a directory at one path in the same change.
    await expect(commitChanges(dir, { message: "both", author }, async (tx) => {
      tx.write("n", "file\n");
      tx.write("n/inner", "dir\n");
    })).rejects.toMatchObject({ code: "META_PATH_CONFLICT" });
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
    expect(git(dir, "status", "--porcelain")).toBe("");
    // A directory emptied by the change makes room for a file; a file removed, for a directory.
    await commitChanges(dir, { message: "swap", author }, async (tx) => {
      tx.remove("d/x.txt");
      tx.remove("d/sub/y.txt");
      tx.write("d", "now a file\n");
      tx.remove("f");
      tx.write("f/inside", "now a directory\n");
    });
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD")).toBe("d\nf/inside");
    expect(git(dir, "fsck", "--strict", "--no-progress", "--no-dangling")).toBe("");
  });

  it("writes and removes names of any bytes git allows: quotes, line breaks, tabs, non-ASCII", async () => {
    const dir = gitRepo();
    const names = ['"quoted" start', 'mid"quote', "line\nbreak", "tab\there", "back\rcr", "ünïcødé 名前", "sp ace", "#hash", "trailing "];
    await commitChanges(dir, { message: "odd", author: "T <t@test.invalid>" }, async (tx) => {
      for (const [i, n] of names.entries()) tx.write(`odd/${n}`, `${i}\n`);
    });
    const listed = () => execFileSync("git", ["ls-tree", "-z", "--name-only", "HEAD", "odd/"], { cwd: dir }).toString("utf8").split("\0").filter(Boolean);
    expect(listed().sort()).toEqual(names.map((n) => `odd/${n}`).sort());
    for (const [i, n] of names.entries()) expect(execFileSync("git", ["cat-file", "blob", `HEAD:odd/${n}`], { cwd: dir }).toString()).toBe(`${i}\n`);
    await commitChanges(dir, { message: "rm odd", author: "T <t@test.invalid>" }, async (tx) => {
      for (const n of names.slice(0, 4)) tx.remove(`odd/${n}`);
    });
    expect(listed().sort()).toEqual(names.slice(4).map((n) => `odd/${n}`).sort());
    // fast-import built the commit under a scratch ref that it never writes.
    expect(git(dir, "for-each-ref", "--format=%(refname)")).toBe("refs/heads/main");
  });

  it("packs once more than gc.autoPackLimit packs are there (fast-import keeps a large write as a pack)", async () => {
    const dir = gitRepo();
    git(dir, "config", "gc.autoPackLimit", "1");
    git(dir, "config", "gc.autoDetach", "false");
    const packs = () => Number(/^packs: (\d+)$/m.exec(git(dir, "count-objects", "-v"))?.[1]);
    // 120 new files: more objects than fastimport.unpackLimit (100), so one pack per write.
    const big = (k: number) => commitChanges(dir, { message: `big ${k}`, author: "T <t@test.invalid>" }, async (tx) => {
      for (let i = 0; i < 120; i++) tx.write(`w${k}/f${i}.json`, `${k} ${i}\n`);
    });
    await big(1);
    expect(packs()).toBe(1);
    await big(2); // a second pack: over the limit, and git gc --auto makes them one
    expect(packs()).toBe(1);
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD")).toContain("w2/f119.json");
    expect(git(dir, "fsck", "--no-progress", "--no-dangling")).toBe("");
  });

  it("works in a sha256 repository", async () => {
    const dir = join(tempDir(), "sha256");
    execFileSync("git", ["init", "-q", "--object-format=sha256", "-b", "main", dir], { env: gitEnv() });
    const r = await commitChanges(dir, { message: "first", author: "T <t@test.invalid>" }, async (tx) => {
      tx.write("deep/er/file.json", "{}\n");
      tx.write("top.txt", "top\n");
    });
    expect(r.commit).toMatch(/^[0-9a-f]{64}$/);
    await commitChanges(dir, { message: "second", author: "T <t@test.invalid>" }, async (tx) => tx.remove("top.txt"));
    expect(git(dir, "ls-tree", "-r", "--name-only", "HEAD")).toBe("deep/er/file.json");
    expect(git(dir, "fsck", "--strict", "--no-progress", "--no-dangling")).toBe("");
  });

  it("with no git identity and no --author, says how to set one", async () => {
    const dir = gitRepo();
    git(dir, "config", "--unset", "user.name");
    git(dir, "config", "--unset", "user.email");
    const home = tempDir();
    const saved = { ...process.env };
    try {
      for (const k of ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"]) delete process.env[k];
      Object.assign(process.env, { HOME: home, XDG_CONFIG_HOME: home, GIT_CONFIG_NOSYSTEM: "1" });
      const head = git(dir, "rev-parse", "HEAD");
      await expect(commitChanges(dir, { message: "x" }, async (tx) => tx.write("a.txt", "a\n"))).rejects.toMatchObject({ code: "META_NO_GIT_IDENTITY" });
      expect(git(dir, "rev-parse", "HEAD")).toBe(head);
      // --author is enough: it commits too.
      const r = await commitChanges(dir, { message: "x", author: "Solo <solo@test.invalid>" }, async (tx) => tx.write("a.txt", "a\n"));
      expect(git(dir, "log", "-1", "--format=%cn <%ce>", r.commit as string)).toBe("Solo <solo@test.invalid>");
    } finally {
      process.env = saved;
    }
  });

  it("packs loose objects once git's gc.auto threshold is passed, and not before (nor with gc.auto = 0)", async () => {
    const dir = gitRepo();
    git(dir, "config", "gc.auto", "256"); // git samples objects/17: more than 256/256 = 1 object there
    git(dir, "config", "gc.autoDetach", "false");
    // Loose blobs whose ids start with 17, found by hashing as git does.
    const in17: string[] = [];
    for (let i = 0; in17.length < 3; i++) {
      const body = `filler ${i}\n`;
      if (createHash("sha1").update(`blob ${Buffer.byteLength(body)}\0${body}`).digest("hex").startsWith("17")) in17.push(body);
    }
    const loose = () => Number(/^count: (\d+)$/m.exec(git(dir, "count-objects", "-v"))?.[1]);
    execFileSync("git", ["hash-object", "-w", "--stdin"], { cwd: dir, input: in17[0] });
    await commitChanges(dir, { message: "one", author: "T <t@test.invalid>" }, async (tx) => tx.write("a.txt", "a\n"));
    expect(git(dir, "count-objects", "-v")).toMatch(/^packs: 0$/m); // one object in 17: under the threshold
    git(dir, "config", "gc.auto", "0");
    for (const body of in17.slice(1)) execFileSync("git", ["hash-object", "-w", "--stdin"], { cwd: dir, input: body });
    await commitChanges(dir, { message: "two", author: "T <t@test.invalid>" }, async (tx) => tx.write("b.txt", "b\n"));
    expect(git(dir, "count-objects", "-v")).toMatch(/^packs: 0$/m); // gc.auto = 0: never
    git(dir, "config", "gc.auto", "256");
    const before = loose();
    await commitChanges(dir, { message: "three", author: "T <t@test.invalid>" }, async (tx) => tx.write("c.txt", "c\n"));
    expect(git(dir, "count-objects", "-v")).toMatch(/^packs: [1-9]/m);
    expect(loose()).toBeLessThan(before);
    expect(git(dir, "fsck", "--no-progress", "--no-dangling")).toBe("");
    expect(git(dir, "ls-tree", "--name-only", "HEAD")).toContain("c.txt");
  });

  it("Tx.children lists a directory's entries, with the attempt's own writes", async () => {
    const dir = gitRepo();
    await commitChanges(dir, { message: "seed", author: "T <t@test.invalid>" }, async (tx) => {
      tx.write("r/2026/01/a.json", "1");
      tx.write("r/2026/02/b.json", "2");
      tx.write("r/top.json", "3");
    });
    await commitChanges(dir, { message: "look", author: "T <t@test.invalid>" }, async (tx) => {
      tx.write("r/2027/01/c.json", "4");
      tx.remove("r/top.json");
      expect(await tx.children("r")).toEqual([
        { name: "2026", dir: true },
        { name: "2027", dir: true },
      ]);
      expect(await tx.children("r/2026/")).toEqual([
        { name: "01", dir: true },
        { name: "02", dir: true },
      ]);
      expect(await tx.list("r")).toEqual(["r/2026/01/a.json", "r/2026/02/b.json", "r/2027/01/c.json"]);
      expect(await tx.children("nope")).toEqual([]);
    });
    expect(dirname(git(dir, "ls-tree", "-r", "--name-only", "HEAD", "r/2027"))).toBe("r/2027/01");
    expect((await Git.at(dir)).dir).toBe(dir);
  });
});
