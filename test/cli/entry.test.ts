import { readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ageKeyFile, type CliResult, cliWith, err, out, spawnCliWith } from "../helpers/cli.js";
import { tempDir } from "../helpers/gitdir.js";
import { recordsRepo, sourceRepo } from "../helpers/records.js";
import { manifest, VECTORS } from "../helpers/vectors.js";

// Most CLI tests run commands in the test process (test/helpers/cli.ts); these start the real
// entry point, bin/run.js, and hold the two ways to the same answers (with one HOME, so that
// the paths in messages agree too).
const home = tempDir("boot-meta-home-");
const inProcess = cliWith({ HOME: home });
const spawned = spawnCliWith({ HOME: home });

/** A result as text, so that a difference shows as one. */
const seen = (r: CliResult) => ({ exitCode: r.exitCode, stdout: out(r), stderr: err(r) });

const vector = manifest.find((v) => v.format === "yaml" && v.expect === "ok") as (typeof manifest)[number];
const asVectorReader = { env: { SOPS_AGE_KEY_FILE: join(VECTORS, vector.keys[0] as string) } };

describe("the boot-meta executable", () => {
  it("prints its version", async () => {
    const r = await spawned(["--version"]);
    expect(r.exitCode, err(r)).toBe(0);
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "../../package.json"), "utf8"));
    expect(out(r)).toMatch(new RegExp(`^boot-meta/${pkg.version.replaceAll(".", "\\.")} `));
  });

  it("prints the version line oclif would, though it answers without loading oclif", async () => {
    const { Config } = await import("@oclif/core");
    const r = await spawned(["--version"]);
    expect(out(r)).toBe(`${(await Config.load({ root: join(import.meta.dirname, "../..") })).userAgent}\n`);
  });

  it("records a release and reads it back in the protobuf wire format (the bundled CLI finds proto/)", async () => {
    const meta = await recordsRepo();
    const created = await spawned(["release", "create", "shop", "--version", "1.0.0", "--meta", meta, "--repo", sourceRepo()]);
    expect(created.exitCode, err(created)).toBe(0);
    const args = ["release", "show", "shop", "1.0.0", "--meta", meta, "--output", "proto"];
    const [a, b] = [await spawned(args), await inProcess(args)];
    expect(a.exitCode, err(a)).toBe(0);
    expect(a.stdout).toEqual(b.stdout);
    expect(a.stdout.includes(Buffer.from("shop"))).toBe(true);
  });

  it("names a command it does not know and exits 2", async () => {
    const r = await inProcess(["decrypt-everything"]);
    expect(r.exitCode).toBe(2);
    expect(err(r)).toContain("command decrypt-everything not found");
  });

  it("decrypts a file sops wrote, with the same output in a process of its own as in the test process", async () => {
    const args = ["decrypt", "--output-type", "json", join(VECTORS, vector.file)];
    const [a, b] = [await spawned(args, asVectorReader), await inProcess(args, asVectorReader)];
    expect(a.exitCode, err(a)).toBe(0);
    expect(seen(b)).toEqual(seen(a));
  });

  it("fails alike both ways: the same exit code, message and --json error", async () => {
    const stranger = await ageKeyFile();
    for (const extra of [[], ["--json"]]) {
      const args = ["decrypt", ...extra, join(VECTORS, vector.file)];
      const env = { env: { SOPS_AGE_KEY_FILE: stranger.file } };
      const [a, b] = [await spawned(args, env), await inProcess(args, env)];
      expect(a.exitCode).not.toBe(0);
      expect(seen(b)).toEqual(seen(a));
    }
    const usage = ["decrypt", "--no-such-flag", "x.yaml"];
    const [a, b] = [await spawned(usage), await inProcess(usage)];
    expect(a.exitCode).toBe(2);
    expect(seen(b)).toEqual(seen(a));
  });
});

describe("a command run in the test process", () => {
  it("sees only the environment and working directory it is given, and leaves the test's own as they were", async () => {
    const key = await ageKeyFile();
    const work = tempDir();
    writeFileSync(join(work, "app.yaml"), "a: 1\n");
    const envBefore = { ...process.env };
    const cwdBefore = process.cwd();
    // A key in the test process's environment must not reach the command.
    process.env.SOPS_AGE_KEY_FILE = key.file;
    try {
      const enc = await inProcess(["encrypt", "-i", "--age", key.recipient, "app.yaml"], { cwd: work });
      expect(enc.exitCode, err(enc)).toBe(0);
      const without = await inProcess(["decrypt", "app.yaml"], { cwd: work });
      expect(without.exitCode).toBe(128);
      expect(err(without)).toContain("none found");
      const given = await inProcess(["decrypt", "app.yaml"], { cwd: work, env: { SOPS_AGE_KEY_FILE: key.file } });
      expect(out(given)).toBe("a: 1\n");
      expect(process.env.SOPS_AGE_KEY_FILE).toBe(key.file);
    } finally {
      delete process.env.SOPS_AGE_KEY_FILE;
    }
    expect(process.env).toEqual(envBefore);
    expect(realpathSync(process.cwd())).toBe(realpathSync(cwdBefore));
    expect(process.exitCode ?? 0).toBe(0);
  });

  it("reads its stdin from the input it is given, as a process of its own does", async () => {
    const key = await ageKeyFile();
    const as = (cwd: string) => ({ cwd, env: { SOPS_AGE_KEY_FILE: key.file } });
    const results = [];
    for (const cli of [spawned, inProcess]) {
      const work = tempDir();
      writeFileSync(join(work, "app.yaml"), "a: 1\n");
      expect((await cli(["encrypt", "-i", "--age", key.recipient, "app.yaml"], as(work))).exitCode).toBe(0);
      // sops' --value-stdin: the value (JSON) comes from standard input, never from argv.
      const set = await cli(["set", "--value-stdin", "app.yaml", '["b"]'], { ...as(work), input: '"from stdin"' });
      expect(set.exitCode, err(set)).toBe(0);
      results.push(out(await cli(["decrypt", "app.yaml"], as(work))));
    }
    expect(results).toEqual(["a: 1\nb: from stdin\n", "a: 1\nb: from stdin\n"]);
  });
});
