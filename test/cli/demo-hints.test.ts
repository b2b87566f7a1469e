import { mkdirSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { BIN, cliWith, err, out } from "../helpers/cli.js";
import { tempDir } from "../helpers/gitdir.js";

// The demo ends with commands to try: each must run exactly as printed, from the directory
// the first line changes into — whether or not boot-meta is on the user's PATH.
function hintsOf(stdout: string): { dir: string; lines: string[] } {
  const block = stdout.split("\nTry it:\n")[1] ?? "";
  const hints = block.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.slice(2));
  const [cd, ...lines] = hints;
  const m = /^cd (.+)$/.exec(cd ?? "");
  if (!m) throw new Error(`the hints do not start with cd: ${cd}`);
  return { dir: m[1] as string, lines };
}

async function runEach(lines: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  for (const line of lines) {
    const r = await execa("sh", ["-c", line], { cwd, env, extendEnv: false, reject: false });
    expect(r.exitCode, `${line}\n${r.stderr}`).toBe(0);
    expect(`${r.stdout}${r.stderr}`, line).not.toBe("");
  }
}

describe("the demo's hints", () => {
  const nodeDir = dirname(process.execPath);

  it("run as printed when boot-meta is not on PATH (through node and its full path)", async () => {
    const home = tempDir("boot-meta-home-");
    const env = { PATH: `${nodeDir}:/usr/bin:/bin`, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), GIT_AUTHOR_NAME: "T", GIT_AUTHOR_EMAIL: "t@test.invalid", GIT_COMMITTER_NAME: "T", GIT_COMMITTER_EMAIL: "t@test.invalid" };
    const cli = cliWith(env);
    const where = join(tempDir(), "the demo");
    const r = await cli(["demo", where]);
    expect(r.exitCode, err(r)).toBe(0);
    const { dir, lines } = hintsOf(out(r));
    expect(dir).toBe(`'${where}'`);
    expect(lines[0]).toMatch(/^SOPS_AGE_KEY_FILE=\.identities\/alice\.txt node \S+\/bin\/run\.js config show -p shop -e dev\/alice --origin$/);
    expect(out(r)).toMatch(/\(boot-meta is not on your PATH, so these run it with node: `npm link` in \S+ puts it there; see the README\)/);
    expect(lines.length).toBeGreaterThanOrEqual(8);
    await runEach(lines, where, env);
  });

  it("run as printed with boot-meta on PATH (as `npm link` puts it)", async () => {
    const home = tempDir("boot-meta-home-");
    const bin = join(home, "bin");
    mkdirSync(bin);
    symlinkSync(BIN, join(bin, "boot-meta"));
    const env = { PATH: `${bin}:${nodeDir}:/usr/bin:/bin`, HOME: home, XDG_CONFIG_HOME: join(home, ".config"), GIT_AUTHOR_NAME: "T", GIT_AUTHOR_EMAIL: "t@test.invalid", GIT_COMMITTER_NAME: "T", GIT_COMMITTER_EMAIL: "t@test.invalid" };
    const cli = cliWith(env);
    const where = join(tempDir(), "demo");
    const r = await cli(["demo", where]);
    expect(r.exitCode, err(r)).toBe(0);
    const { dir, lines } = hintsOf(out(r));
    expect(dir).toBe(where);
    expect(lines).toContain("SOPS_AGE_KEY_FILE=.identities/alice.txt boot-meta config show -p shop -e prod || echo \"refused, as it should be: alice does not read prod\"");
    expect(lines.every((l) => /(^| )boot-meta /.test(l))).toBe(true);
    expect(out(r)).not.toContain("is not on your PATH");
    await runEach(lines, where, env);
  });
});
