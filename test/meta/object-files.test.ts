import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { Git } from "../../src/meta/git.js";
import { applyDelta, ObjectFiles } from "../../src/meta/object-files.js";
import { resetLimits, setLimits } from "../../src/limits.js";
import { git, gitEnv, tempDir } from "../helpers/gitdir.js";

// The config loader reads a commit's files from .git/objects itself (src/meta/object-files.ts)
// instead of starting `git cat-file`. Every object of real repositories — loose, packed by
// `git gc` with deltas on deltas, packed with REF_DELTA bases, sha256 — must read back exactly
// as git reads it, and readFiles must give what cat-file gives for every kind of path.

const MAX = 32 * 1024 * 1024;

/** A repository with history enough for git to store versions of a file as deltas of each other. */
function historyRepo(format: "sha1" | "sha256" = "sha1"): string {
  const d = join(tempDir("boot-meta-objects-"), "repo");
  execFileSync("git", ["init", "-q", `--object-format=${format}`, "-b", "main", d], { env: gitEnv() });
  const lines = Array.from({ length: 400 }, (_, i) => `key${i}: value number ${i} of a config that changes a little each time`);
  mkdirSync(join(d, "shop/envs/prod"), { recursive: true });
  for (let v = 0; v < 12; v++) {
    lines[v * 7] = `key${v * 7}: changed in version ${v}`;
    writeFileSync(join(d, "shop/envs/prod/config.sops.yaml"), `${lines.join("\n")}\n`);
    writeFileSync(join(d, "shop/config.sops.yaml"), `version: ${v}\n${lines.slice(0, 100 + v).join("\n")}\n`);
    writeFileSync(join(d, "empty"), "");
    git(d, "add", "-A");
    git(d, "commit", "-q", "-m", `version ${v}`);
  }
  return d;
}

/** Every object git has in the repository: id and type. */
function allObjects(dir: string): { id: string; type: string }[] {
  return git(dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
    .split("\n")
    .map((l) => {
      const [id, type] = l.split(" ");
      return { id: id as string, type: type as string };
    });
}

async function expectEveryObjectAsGitReadsIt(dir: string, format: "sha1" | "sha256"): Promise<number> {
  const store = await ObjectFiles.open(join(dir, ".git/objects"), join(dir, ".git"), format);
  expect(store).toBeDefined();
  const objects = allObjects(dir);
  expect(objects.length).toBeGreaterThan(30);
  try {
    for (const { id, type } of objects) {
      const mine = await store?.read(id, MAX);
      const theirs = execFileSync("git", ["cat-file", type, id], { cwd: dir, env: gitEnv() });
      expect({ id, type: mine?.type, same: mine?.body.equals(theirs) }).toEqual({ id, type, same: true });
    }
  } finally {
    await store?.close();
  }
  return objects.length;
}

/**
 * The deltas in the repository's packs, as git verify-pack lists them (id, type, size, size in
 * pack, offset, chain depth, base), with the kind each is stored as: the type bits of its
 * entry's first byte (6 = OFS_DELTA, 7 = REF_DELTA).
 */
function deltas(dir: string): { kinds: Set<number>; deepest: number } {
  const packDir = join(dir, ".git/objects/pack");
  const kinds = new Set<number>();
  let deepest = 0;
  for (const f of readdirSync(packDir).filter((n) => n.endsWith(".idx"))) {
    const pack = readFileSync(join(packDir, f.replace(/\.idx$/, ".pack")));
    for (const l of git(dir, "verify-pack", "-v", join(packDir, f)).split("\n")) {
      const m = /^[0-9a-f]{40,64} +\w+ +\d+ \d+ (\d+) (\d+) [0-9a-f]{40,64}$/.exec(l);
      if (!m) continue;
      kinds.add(((pack[Number(m[1])] as number) >> 4) & 7);
      deepest = Math.max(deepest, Number(m[2]));
    }
  }
  return { kinds, deepest };
}

describe("git objects read from .git/objects", () => {
  it("reads every loose object as git does", async () => {
    const d = historyRepo();
    expect(readdirSync(join(d, ".git/objects/pack"))).toEqual([]);
    await expectEveryObjectAsGitReadsIt(d, "sha1");
  });

  it("reads every packed object as git does, deltas on deltas included (git gc)", async () => {
    const d = historyRepo();
    git(d, "gc", "-q", "--aggressive");
    expect(deltas(d)).toMatchObject({ kinds: new Set([6]), deepest: expect.any(Number) });
    expect(deltas(d).deepest).toBeGreaterThan(1);
    await expectEveryObjectAsGitReadsIt(d, "sha1");
  });

  it("reads packs whose deltas name their base by id (REF_DELTA)", async () => {
    const d = historyRepo();
    git(d, "-c", "repack.useDeltaBaseOffset=false", "repack", "-q", "-a", "-d", "-f");
    expect(deltas(d).kinds).toEqual(new Set([7]));
    await expectEveryObjectAsGitReadsIt(d, "sha1");
  });

  it("reads a sha256 repository, loose and packed", async () => {
    const d = historyRepo("sha256");
    await expectEveryObjectAsGitReadsIt(d, "sha256");
    git(d, "gc", "-q");
    expect(deltas(d).kinds).toEqual(new Set([6]));
    await expectEveryObjectAsGitReadsIt(d, "sha256");
  });

  it("reads objects spread over several packs and loose files", async () => {
    const d = historyRepo();
    git(d, "repack", "-q", "-d");
    writeFileSync(join(d, "later"), "after the pack\n");
    git(d, "add", "-A");
    git(d, "commit", "-q", "-m", "later");
    git(d, "repack", "-q", "-d");
    writeFileSync(join(d, "loose"), "loose\n");
    git(d, "add", "-A");
    git(d, "commit", "-q", "-m", "loose");
    expect(readdirSync(join(d, ".git/objects/pack")).filter((f) => f.endsWith(".pack")).length).toBeGreaterThan(1);
    await expectEveryObjectAsGitReadsIt(d, "sha1");
  });

  it("finds nothing for an object it does not have, an id of the wrong length, or one over the size limit", async () => {
    const d = historyRepo();
    const store = await ObjectFiles.open(join(d, ".git/objects"), join(d, ".git"), "sha1");
    const blob = git(d, "rev-parse", "HEAD:shop/envs/prod/config.sops.yaml");
    expect(await store?.read("0".repeat(40), MAX)).toBeUndefined();
    expect(await store?.read(blob.slice(0, 39), MAX)).toBeUndefined();
    expect((await store?.read(blob, MAX))?.type).toBe("blob");
    expect(await store?.read(blob, 100)).toBeUndefined();
    await store?.close();
  });

  it("does not open a loose file larger than an object under the limit could deflate to", async () => {
    // A writer's incompressible file is kept loose by git when the push is small: read whole, a
    // 48 MiB one would have been 48 MiB in a service's memory on every load. Seen here by a loose
    // copy of a packed object that says something else, padded past the bound: read, it would
    // answer (zlib stops at its stream's end); left alone, the pack answers.
    const d = historyRepo();
    git(d, "gc", "-q");
    const blob = git(d, "rev-parse", "HEAD:shop/config.sops.yaml");
    const packed = Buffer.from(git(d, "cat-file", "blob", blob) + "\n");
    const loose = join(d, ".git/objects", blob.slice(0, 2), blob.slice(2));
    mkdirSync(join(loose, ".."), { recursive: true });
    const other = Buffer.from("something else\n");
    const deflated = deflateSync(Buffer.concat([Buffer.from(`blob ${other.length}\0`), other]));
    // A limit that holds the packed object and whatever git chose as its delta base (another file, maybe).
    const max = 1024 * 1024;
    expect(packed.length).toBeLessThan(max);
    const read = async (padTo: number) => {
      writeFileSync(loose, Buffer.concat([deflated, Buffer.alloc(Math.max(0, padTo - deflated.length), 7)]));
      const store = await ObjectFiles.open(join(d, ".git/objects"), join(d, ".git"), "sha1");
      try {
        return (await store?.read(blob, max))?.body.toString();
      } finally {
        await store?.close();
      }
    };
    // Within the bound the loose file is read (and says what it says); past it, it is not.
    expect(await read(max)).toBe(other.toString());
    expect(await read(2 * max)).toBe(packed.toString());
  });

  it("leaves a repository with alternates or replace refs to git", async () => {
    const d = historyRepo();
    git(d, "replace", git(d, "rev-parse", "HEAD:empty"), git(d, "rev-parse", "HEAD:shop/config.sops.yaml"));
    expect(await ObjectFiles.open(join(d, ".git/objects"), join(d, ".git"), "sha1")).toBeUndefined();
    git(d, "pack-refs", "--all");
    expect(await ObjectFiles.open(join(d, ".git/objects"), join(d, ".git"), "sha1")).toBeUndefined();
    const e = historyRepo();
    writeFileSync(join(e, ".git/objects/info/alternates"), `${join(d, ".git/objects")}\n`);
    expect(await ObjectFiles.open(join(e, ".git/objects"), join(e, ".git"), "sha1")).toBeUndefined();
  });

  it("refuses a malformed delta rather than guess", () => {
    const base = Buffer.from("hello world");
    // source size 11, target size 5, copy 5 bytes from offset 0
    expect(applyDelta(base, Buffer.from([11, 5, 0x90, 5]), MAX)?.toString()).toBe("hello");
    expect(applyDelta(base, Buffer.from([10, 5, 0x90, 5]), MAX)).toBeUndefined(); // wrong source size
    expect(applyDelta(base, Buffer.from([11, 5, 0x91, 8, 5]), MAX)).toBeUndefined(); // copy past the base
    expect(applyDelta(base, Buffer.from([11, 5, 0]), MAX)).toBeUndefined(); // reserved opcode
    expect(applyDelta(base, Buffer.from([11, 6, 0x90, 5]), MAX)).toBeUndefined(); // short of the target
    expect(applyDelta(base, Buffer.from([11, 5, 2, 0x61]), MAX)).toBeUndefined(); // insert past the delta
  });
});

describe("Git.readFiles without starting git", () => {
  const saved = process.env.PATH;
  afterEach(() => {
    process.env.PATH = saved;
    resetLimits();
  });

  /** readFiles with no git on PATH (so it cannot have started one) beside cat-file's answer for the same specs. */
  async function bothWays(dir: string, paths: string[]) {
    const g = await Git.at(dir);
    const at = git(dir, "rev-parse", "HEAD");
    const theirs = await g.readBlobs(paths.map((p) => `${at}:${p}`));
    process.env.PATH = tempDir("boot-meta-no-git-");
    try {
      const mine = await g.readFiles(paths, at);
      return { mine: paths.map((p) => mine.get(p)), theirs };
    } finally {
      process.env.PATH = saved;
    }
  }

  const PATHS = ["shop/envs/prod/config.sops.yaml", "shop/config.sops.yaml", "empty", "missing.yaml", "shop", "shop/envs", "empty/below", "shop/missing/x", "link", "sub", "sub/x", "naïve.yaml"];

  function withEveryKindOfPath(d: string): string {
    symlinkSync("shop/config.sops.yaml", join(d, "link"));
    writeFileSync(join(d, "naïve.yaml"), "a: 1\n");
    git(d, "add", "-A");
    // A submodule's entry: a gitlink naming a commit of another repository.
    git(d, "update-index", "--add", "--cacheinfo", `160000,${git(d, "rev-parse", "HEAD")},sub`);
    git(d, "commit", "-q", "-m", "every kind of path");
    return d;
  }

  it("gives what cat-file gives for files, folders, missing paths, a symlink and a gitlink, loose and packed", async () => {
    const d = withEveryKindOfPath(historyRepo());
    const loose = await bothWays(d, PATHS);
    expect(loose.mine).toEqual(loose.theirs);
    expect(loose.mine[0]?.length).toBeGreaterThan(1000);
    git(d, "gc", "-q", "--aggressive");
    const packed = await bothWays(d, PATHS);
    expect(packed.mine).toEqual(packed.theirs);
  });

  it("in a sha256 repository too", async () => {
    const d = withEveryKindOfPath(historyRepo("sha256"));
    git(d, "gc", "-q");
    const r = await bothWays(d, PATHS);
    expect(r.mine).toEqual(r.theirs);
  });

  it("leaves a file over the size limit to git, which names the limit", async () => {
    const d = historyRepo();
    setLimits({ maxFileBytes: 1000 });
    const g = await Git.at(d);
    await expect(g.readFiles(["shop/envs/prod/config.sops.yaml"], git(d, "rev-parse", "HEAD"))).rejects.toMatchObject({ code: "INPUT_TOO_LARGE" });
  });
});
