import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { protoType } from "../helpers/proto.js";
import { closestCommands, distance } from "../../src/cli/suggest.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { recordsRepo, sourceRepo } from "../helpers/records.js";

const cli = cliWith();

describe("record verbs choose their output with --format", () => {
  it("writes the record's protobuf with --format proto, and still takes the old --output proto with a warning", async () => {
    const meta = await recordsRepo();
    const app = sourceRepo();
    const created = JSON.parse(out(await cli(["release", "create", "shop", "--version", "1.0", "--repo", app, "--meta", meta, "--format", "json"])));
    for (const flag of ["--format", "--output"]) {
      const r = await cli(["release", "show", "shop", "1.0", flag, "proto", "--meta", meta]);
      expect(r.exitCode, err(r)).toBe(0);
      expect(protoType("Release").toObject(protoType("Release").decode(r.stdout))).toMatchObject({ id: created.id, version: "1.0" });
      if (flag === "--output") expect(err(r)).toMatch(/--output.*deprecated.*--format/s);
      else expect(err(r)).toBe("");
    }
  });

  it("writes the Channel and Instance records of promote, rollback and instance report with --format proto", async () => {
    const meta = await recordsRepo();
    const m = ["--meta", meta];
    for (const v of ["1.0", "1.1"]) await cli(["release", "create", "shop", "--version", v, "--commit", `app=https://example.invalid/app@${v === "1.0" ? "a".repeat(40) : "b".repeat(40)}`, ...m]);
    const decode = (kind: "Channel" | "Instance", r: { exitCode: number; stdout: Buffer; stderr: Buffer }) => {
      expect(r.exitCode, err(r)).toBe(0);
      return protoType(kind).toObject(protoType(kind).decode(r.stdout));
    };
    expect(decode("Channel", await cli(["channel", "promote", "shop", "stable", "1.0", "--format", "proto", ...m]))).toMatchObject({ name: "stable", releaseId: expect.stringMatching(/-1\.0$/) });
    await cli(["channel", "promote", "shop", "stable", "1.1", ...m]);
    expect(decode("Channel", await cli(["channel", "rollback", "shop", "stable", "--format", "proto", ...m]))).toMatchObject({ releaseId: expect.stringMatching(/-1\.0$/) });
    expect(decode("Instance", await cli(["instance", "report", "shop", "web-1", "--release", "1.1", "--format", "proto", ...m]))).toMatchObject({ id: "web-1", releaseId: expect.stringMatching(/-1\.1$/) });
  });

  it("refuses --json with --format proto before it writes anything", async () => {
    const meta = await recordsRepo();
    const head = git(meta, "rev-parse", "HEAD");
    const r = await cli(["release", "create", "shop", "--version", "1.0", "--commit", `app=https://example.invalid/app@${"a".repeat(40)}`, "--meta", meta, "--format", "proto", "--json"]);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "INVALID_ARGUMENT", message: "--json and --format proto ask for two outputs: give one of them" });
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
  });
});

describe("--json on buildinfo and exec-env", () => {
  it("buildinfo --json prints what --format json does, and refuses --json with --format go", async () => {
    const app = sourceRepo();
    const json = await cli(["buildinfo", "--repo", app, "--version", "1.0", "--json"]);
    const format = await cli(["buildinfo", "--repo", app, "--version", "1.0", "--format", "json"]);
    expect(json.exitCode, err(json)).toBe(0);
    expect(JSON.parse(out(json))).toEqual(JSON.parse(out(format)));
    expect(JSON.parse(out(json)).repos[0].commit).toBe(git(app, "rev-parse", "HEAD"));
    const both = await cli(["buildinfo", "--repo", app, "--format", "go", "--json"]);
    expect(both.exitCode).toBe(2);
    expect(JSON.parse(out(both)).error.message).toBe("--json and --format go ask for two outputs: give one of them");
  });

  it("exec-env --json answers {file, exitCode} on stdout, sends the command's output to stderr and exits with its code", async () => {
    const key = await ageKeyFile();
    const dir = tempDir();
    writeFileSync(join(dir, "app.env"), "GREETING=hello\n");
    const o = { cwd: dir, env: { SOPS_AGE_KEY_FILE: key.file } };
    expect((await cli(["encrypt", "-i", "--age", key.recipient, "app.env"], o)).exitCode).toBe(0);
    const r = await cli(["exec-env", "--json", "app.env", 'echo "$GREETING"; exit 4'], o);
    expect(r.exitCode).toBe(4);
    expect(JSON.parse(out(r))).toEqual({ file: "app.env", exitCode: 4 });
    expect(err(r)).toBe("hello\n");
    // Without --json the command's output stays on stdout.
    const plain = await cli(["exec-env", "app.env", 'echo "$GREETING"'], o);
    expect([plain.exitCode, out(plain)]).toEqual([0, "hello\n"]);
    // A file that does not open: the error, as JSON, and the command never ran.
    const stranger = await ageKeyFile();
    const refused = await cli(["exec-env", "--json", "app.env", "touch ran"], { cwd: dir, env: { SOPS_AGE_KEY_FILE: stranger.file } });
    expect(refused.exitCode).toBe(128);
    expect(JSON.parse(out(refused)).error.code).toBe("SOPS_DATA_KEY_UNAVAILABLE");
    expect(() => execFileSync("test", ["-e", join(dir, "ran")])).toThrow();
  });
});

describe("help, a mistyped command, topics", () => {
  it("boot-meta help CMD shows the command's help, as --help does", async () => {
    const viaHelp = await cli(["help", "config", "set"]);
    expect(viaHelp.exitCode, err(viaHelp)).toBe(0);
    expect(out(viaHelp)).toContain("$ boot-meta config set KEY [VALUE]");
    const decrypt = await cli(["help", "decrypt"]);
    expect(out(decrypt)).toMatch(/^Decrypt a SOPS file/);
    expect(out(decrypt)).toContain("--extract=<value>");
  });

  it("says what each topic is, in its own words", async () => {
    const root = out(await cli(["help"]));
    expect(root).toMatch(/channel\s+Channels point at a release/);
    expect(root).toMatch(/keys\s+Principals and their public age keys/);
    const topic = await cli(["help", "channel"]);
    expect(out(topic)).toMatch(/^Channels point at a release/);
    expect(JSON.parse(out(await cli(["help", "channel", "--json"])))).toMatchObject({ kind: "topic", topic: "channel", commands: expect.arrayContaining([expect.objectContaining({ command: "channel promote" })]) });
  });

  it("suggests the command meant by a mistyped one, and exits 2", async () => {
    const r = await cli(["confg", "sett", "database.url", "x"]);
    expect(r.exitCode).toBe(2);
    expect(err(r)).toContain("command confg sett database.url x not found; did you mean config set?");
    expect(err(r)).toContain("→ boot-meta config set database.url x");
    const json = await cli(["chanel", "promote", "--json"]);
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(out(json)).error).toMatchObject({ code: "COMMAND_NOT_FOUND", data: { nearest: ["channel promote"] } });
    const help = await cli(["help", "decrpyt"]);
    expect(help.exitCode).toBe(2);
    expect(err(help)).toContain("did you mean decrypt?");
    expect(err(help)).toContain("→ boot-meta help decrypt");
  });

  it("offers nothing when nothing is close, but points at the topic's commands", async () => {
    const r = await cli(["config", "frobnicate"]);
    expect(r.exitCode).toBe(2);
    expect(err(r)).not.toContain("did you mean");
    expect(err(r)).toContain("`boot-meta help config` lists the config commands");
  });

  it("measures closeness by edits, swaps of neighbours included", () => {
    expect(distance("decrpyt", "decrypt")).toBe(1);
    expect(distance("", "abc")).toBe(3);
    expect(distance("kitten", "sitting")).toBe(3);
    expect(closestCommands(["cofnig", "show", "-e"], ["config show", "config set", "decrypt"])).toEqual(["config show"]);
    expect(closestCommands(["zzz"], ["config show", "decrypt"])).toEqual([]);
  });
});

describe("shell completion", () => {
  const complete = (script: string, words: string[]) =>
    execFileSync("bash", ["-c", `${script}\nCOMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _boot_meta; printf '%s\\n' "\${COMPREPLY[@]}"`, "bash", ...words], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean);

  it("completes commands, topics, flags and flag values in bash", async () => {
    const r = await cli(["completion", "bash"]);
    expect(r.exitCode, err(r)).toBe(0);
    const script = out(r);
    expect(complete(script, ["boot-meta", "con"])).toEqual(["config"]);
    expect(complete(script, ["boot-meta", "config", ""])).toEqual(["diff", "edit", "get", "set", "show", "unset"]);
    expect(complete(script, ["boot-meta", "config", "set", "--val"])).toEqual(["--value-file"]);
    expect(complete(script, ["boot-meta", "decrypt", "--output-type", "j"])).toEqual(["json"]);
    expect(complete(script, ["boot-meta", "release", "show", "shop", "--format", ""])).toEqual(["json", "proto"]);
    // An argument's place: nothing of ours, so the shell offers file names.
    expect(complete(script, ["boot-meta", "decrypt", ""])).toEqual([]);
  });

  it("prints zsh (bash's functions under bashcompinit) and fish scripts, and refuses another shell", async () => {
    const zsh = out(await cli(["completion", "zsh"]));
    expect(zsh).toContain("bashcompinit");
    expect(zsh).toContain("complete -o default -F _boot_meta boot-meta");
    const fish = out(await cli(["completion", "fish"]));
    expect(fish).toContain("complete -c boot-meta -f -n '__boot_meta_at \\'config\\'' -a 'set'");
    expect(fish).toContain("complete -c boot-meta -n '__boot_meta_at \\'decrypt\\'' -l output-type -r -f -a 'yaml json dotenv ini binary'");
    const other = await cli(["completion", "tcsh"]);
    expect(other.exitCode).toBe(2);
    const unknownShell = await cli(["completion"], { env: { SHELL: "/bin/tcsh" } });
    expect(unknownShell.exitCode).toBe(2);
    expect(err(unknownShell)).toContain("$SHELL (tcsh) is not one of bash, zsh, fish");
  });
});
