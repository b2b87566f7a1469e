import { execFileSync } from "node:child_process";
import { readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { readBootstrap } from "../../src/config/bootstrap.js";
import { readUserFile } from "../../src/io.js";
import { DEFAULT_LIMITS, limits, limitsFromEnv, resetLimits, setLimits } from "../../src/limits.js";
import { encryptBytes } from "../../src/sops/engine.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { parseSopsConfig } from "../../src/sops/sops-config.js";
import { storeFor } from "../../src/sops/formats/index.js";
import { Branch } from "../../src/sops/tree.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// Class 7 of issue 8: bounded work on hostile input. Every refusal is a typed error naming
// the file, the limit and how to raise it; nothing here is timed (bench/limits.bench.mjs
// measures how fast the refusals are).

afterEach(() => resetLimits());

const N = 100_000;
const deepJson = `{"a": ${"[".repeat(N)}${"]".repeat(N)}}\n`;
const deepFlowYaml = `a: ${"[".repeat(N)}${"]".repeat(N)}\n`;
const deepFlowMapYaml = `a: ${"{b: ".repeat(N)}1${"}".repeat(N)}\n`;
const deepBlockSeqYaml = `a:\n${"- ".repeat(N)}x\n`;
/** Block maps need an indent per level, so 100,000 levels would be 5 GB: 3,000 is enough to overflow an unguarded parser. */
const deepBlockMapYaml = (n: number) => `${Array.from({ length: n }, (_, i) => `${" ".repeat(i)}k${i}:`).join("\n")} 1\n`;
const nested = (n: number, format: "yaml-block" | "yaml-flow" | "json") => {
  if (format === "yaml-block") return deepBlockMapYaml(n);
  if (format === "yaml-flow") return `a: ${"[".repeat(n - 1)}1${"]".repeat(n - 1)}\n`;
  return `{"a": ${"[".repeat(n - 1)}1${"]".repeat(n - 1)}}\n`;
};

function billionLaughs(levels = 10): string {
  const lines = [`a0: &a0 [${Array(10).fill('"lol"').join(", ")}]`];
  for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(", ")}]`);
  return `${lines.join("\n")}\n`;
}

const loadPlain = (format: "yaml" | "json" | "dotenv" | "ini" | "binary", text: string | Uint8Array, file = `secrets.${format}`) =>
  storeFor(format).loadPlain(typeof text === "string" ? Buffer.from(text) : text, { file });

const limitError = (code: string, file: string, flag: string, env: string) =>
  expect.objectContaining({
    code,
    message: expect.stringContaining(file),
    data: expect.objectContaining({ file, flag, env }),
    suggestions: expect.arrayContaining([expect.stringMatching(new RegExp(`${flag} N or ${env}=N \\(a repository cannot raise it\\)`))]),
  });

describe("depth: typed errors instead of stack overflows", () => {
  it.each([
    ["JSON", "json", deepJson],
    ["flow YAML lists", "yaml", deepFlowYaml],
    ["flow YAML maps", "yaml", deepFlowMapYaml],
    ["block YAML lists (- - - …)", "yaml", deepBlockSeqYaml],
    ["block YAML maps (3,000 levels)", "yaml", deepBlockMapYaml(3000)],
  ] as const)("refuses %s nested 100,000 levels deep with INPUT_TOO_DEEP naming the file", (_name, format, text) => {
    expect(() => loadPlain(format, text, "deep/file")).toThrowError(limitError("INPUT_TOO_DEEP", "deep/file", "--max-depth", "BOOT_META_MAX_DEPTH"));
  });

  it.each(["yaml-block", "yaml-flow", "json"] as const)("opens %s nested exactly to the limit and refuses one level more", (kind) => {
    const format = kind === "json" ? "json" : "yaml";
    const max = DEFAULT_LIMITS.maxDepth;
    expect(loadPlain(format, nested(max, kind))[0]).toBeInstanceOf(Branch);
    expect(() => loadPlain(format, nested(max + 1, kind))).toThrowError(expect.objectContaining({ code: "INPUT_TOO_DEEP" }));
    setLimits({ maxDepth: max + 1 });
    expect(loadPlain(format, nested(max + 1, kind))[0]).toBeInstanceOf(Branch);
  });

  it("counts what an alias expands to in the depth", () => {
    setLimits({ maxDepth: 3 });
    // Each line is 2 levels deep as written; *x puts a 2-level list under a 2-level one.
    expect(() => loadPlain("yaml", "x: &x [[1]]\ny: [*x]\n")).toThrowError(expect.objectContaining({ code: "INPUT_TOO_DEEP" }));
  });

  it("checks the depth of a stored record before decoding it", async () => {
    const { decodeRecord } = await import("../../src/records/codec.js");
    const bytes = Buffer.from(`{"name": "stable", "x": ${"[".repeat(N)}${"]".repeat(N)}}`);
    expect(() => decodeRecord("Channel", bytes, "shop/channels/stable.json")).toThrowError(limitError("INPUT_TOO_DEEP", "shop/channels/stable.json", "--max-depth", "BOOT_META_MAX_DEPTH"));
  });
});

describe("YAML aliases: a bomb is refused without being expanded", () => {
  it("refuses a billion laughs (10^10 values expanded) with INPUT_TOO_MANY_NODES", () => {
    expect(() => loadPlain("yaml", billionLaughs(), "bomb.yaml")).toThrowError(limitError("INPUT_TOO_MANY_NODES", "bomb.yaml", "--max-nodes", "BOOT_META_MAX_NODES"));
  });

  it("refuses more aliases than the limit with INPUT_TOO_MANY_ALIASES", () => {
    const text = `a: &a 1\nlist: [${Array(DEFAULT_LIMITS.maxAliases + 1).fill("*a").join(", ")}]\n`;
    expect(() => loadPlain("yaml", text, "many.yaml")).toThrowError(limitError("INPUT_TOO_MANY_ALIASES", "many.yaml", "--max-aliases", "BOOT_META_MAX_ALIASES"));
    setLimits({ maxAliases: DEFAULT_LIMITS.maxAliases + 1 });
    expect(loadPlain("yaml", text)[0]?.get("list")).toHaveLength(DEFAULT_LIMITS.maxAliases + 1);
  });

  it("refuses an alias inside the list it names instead of expanding it forever", () => {
    expect(() => loadPlain("yaml", "a: &a [1, *a]\n")).toThrowError(expect.objectContaining({ code: "SOPS_MALFORMED_FILE", message: expect.stringContaining("contains it") }));
  });

  it("still expands ordinary aliases, each to the latest anchor of its name", () => {
    const tree = loadPlain("yaml", "base: &b {host: db, port: 5432}\nprimary: *b\nold: &b 1\nlater: *b\n");
    const plain = JSON.parse(JSON.stringify(tree[0]?.items.map((i) => ("key" in i ? [i.key, i.value instanceof Branch ? i.value.items.map((x) => ("key" in x ? [x.key, String(x.value)] : [])) : String(i.value)] : []))));
    expect(plain).toEqual([
      ["base", [["host", "db"], ["port", "5432"]]],
      ["primary", [["host", "db"], ["port", "5432"]]],
      ["old", "1"],
      ["later", "1"],
    ]);
  });

  it("applies the same limits to .sops.yaml and the bootstrap file", async () => {
    expect(() => parseSopsConfig(billionLaughs(), "/repo/.sops.yaml")).toThrowError(limitError("INPUT_TOO_MANY_NODES", "/repo/.sops.yaml", "--max-nodes", "BOOT_META_MAX_NODES"));
    const dir = tempDir();
    const boot = join(dir, ".boot-meta.local.yaml");
    writeFileSync(boot, deepFlowYaml);
    await expect(readBootstrap(boot)).rejects.toThrowError(limitError("INPUT_TOO_DEEP", boot, "--max-depth", "BOOT_META_MAX_DEPTH"));
  });
});

describe("invalid UTF-8 in a text store", () => {
  const bad = Buffer.concat([Buffer.from("ok: yes\nname: caf"), Buffer.from([0xe9]), Buffer.from("\n")]);
  it.each([
    ["yaml", bad],
    ["json", Buffer.concat([Buffer.from('{"name": "caf'), Buffer.from([0xe9]), Buffer.from('"}')])],
    ["dotenv", Buffer.concat([Buffer.from("OK=yes\nNAME=caf"), Buffer.from([0xe9]), Buffer.from("\n")])],
    ["ini", Buffer.concat([Buffer.from("[a]\nok = yes\nname = caf"), Buffer.from([0xe9]), Buffer.from("\n")])],
  ] as const)("refuses %s with INPUT_INVALID_UTF8 naming the file and the byte", (format, bytes) => {
    const at = bytes.indexOf(0xe9);
    expect(() => loadPlain(format, bytes, `conf.${format}`)).toThrowError(
      expect.objectContaining({ code: "INPUT_INVALID_UTF8", message: expect.stringContaining(`conf.${format} is not valid UTF-8 (the character at byte ${at}, line `), data: { file: `conf.${format}`, offset: at } }),
    );
  });

  it("refuses a truncated multi-byte character and an encoded surrogate, and keeps the binary store byte-exact", () => {
    expect(() => loadPlain("yaml", Buffer.from([0x61, 0x3a, 0x20, 0xe2, 0x82]))).toThrowError(expect.objectContaining({ code: "INPUT_INVALID_UTF8" }));
    expect(() => loadPlain("yaml", Buffer.from([0x61, 0x3a, 0x20, 0xed, 0xa0, 0x80, 0x0a]))).toThrowError(expect.objectContaining({ code: "INPUT_INVALID_UTF8", data: expect.objectContaining({ offset: 3 }) }));
    expect(loadPlain("binary", bad)[0]?.get("data")).toEqual(new Uint8Array(bad));
  });

  it("names the file when encrypting through the engine", async () => {
    await expect(encryptBytes(bad, { format: "yaml", keyGroups: [["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]], path: "envs/dev/config.sops.yaml" })).rejects.toThrowError(
      expect.objectContaining({ code: "INPUT_INVALID_UTF8", message: expect.stringContaining("envs/dev/config.sops.yaml") }),
    );
  });
});

describe("where the limits come from", () => {
  it("reads BOOT_META_MAX_* with byte suffixes, and names a bad variable", () => {
    expect(limitsFromEnv({ BOOT_META_MAX_FILE_BYTES: "64MiB", BOOT_META_MAX_DEPTH: "50", BOOT_META_MAX_ALIASES: "0", BOOT_META_MAX_NODES: "10" })).toEqual({ maxFileBytes: 64 * 2 ** 20, maxDepth: 50, maxAliases: 0, maxNodes: 10 });
    expect(limitsFromEnv({ BOOT_META_MAX_FILE_BYTES: "512k" }).maxFileBytes).toBe(512 * 1024);
    expect(limitsFromEnv({})).toEqual(DEFAULT_LIMITS);
    expect(() => limitsFromEnv({ BOOT_META_MAX_DEPTH: "deep" })).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("BOOT_META_MAX_DEPTH") }));
    expect(() => limitsFromEnv({ BOOT_META_MAX_DEPTH: "10M" })).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    // Past what the parsers' stacks hold: raising it could only turn a typed error into a crash.
    expect(() => limitsFromEnv({ BOOT_META_MAX_DEPTH: "5000" })).toThrowError(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining("from 1 to 400") }));
  });

  it("lets setLimits override the environment, and resetLimits go back to it", () => {
    setLimits({ maxNodes: 5 });
    expect(limits().maxNodes).toBe(5);
    expect(() => loadPlain("json", '{"a": [1, 2, 3, 4, 5, 6]}')).toThrowError(expect.objectContaining({ code: "INPUT_TOO_MANY_NODES" }));
    resetLimits();
    expect(limits()).toEqual(DEFAULT_LIMITS);
  });
});

describe("size: refused before the bytes are read", () => {
  it("refuses a 200 MB file by its size, without reading it", async () => {
    const file = join(tempDir(), "huge.sops.yaml");
    writeFileSync(file, "");
    truncateSync(file, 200 * 1024 * 1024); // sparse: no disk, but stat says 200 MB
    await expect(readUserFile(file)).rejects.toThrowError(limitError("INPUT_TOO_LARGE", file, "--max-file-bytes", "BOOT_META_MAX_FILE_BYTES"));
  });
});

// ---------------------------------------------------------------------------------------
// Through the CLI, as a user runs it.
// ---------------------------------------------------------------------------------------

const jsonError = (r: { stdout: unknown }) => (JSON.parse(out(r)) as { error: { code: string; message: string; data: Record<string, unknown> } }).error;

describe("the CLI", () => {
  it("refuses a 200 MB file given to encrypt: INPUT_TOO_LARGE, exit 1, nothing written", async () => {
    const cli = cliWith();
    const dir = tempDir();
    const key = await ageKeyFile(dir);
    writeFileSync(join(dir, "huge.yaml"), "");
    truncateSync(join(dir, "huge.yaml"), 200 * 1024 * 1024);
    const r = await cli(["encrypt", "--age", key.recipient, "--output", "out.yaml", "huge.yaml", "--json"], { cwd: dir });
    expect(r.exitCode).toBe(1);
    expect(jsonError(r)).toMatchObject({ code: "INPUT_TOO_LARGE", data: { file: "huge.yaml", max: DEFAULT_LIMITS.maxFileBytes } });
    expect(() => readFileSync(join(dir, "out.yaml"))).toThrow();
  });

  it("takes the limits from --max-* flags over BOOT_META_MAX_* variables, never from the repo", async () => {
    const dir = tempDir();
    const key = await ageKeyFile(dir);
    const cli = cliWith({ SOPS_AGE_KEY_FILE: key.file });
    writeFileSync(join(dir, "app.yaml"), `a: ${"x".repeat(4000)}\n`);
    // A .sops.yaml has no say in the limits, whatever it holds.
    writeFileSync(join(dir, ".sops.yaml"), `max-file-bytes: 1G\nmax_file_bytes: 1G\ncreation_rules:\n  - age: ${key.recipient}\n`);
    expect((await cli(["encrypt", "app.yaml"], { cwd: dir })).exitCode).toBe(0);
    const small = await cli(["encrypt", "app.yaml", "--json"], { cwd: dir, env: { BOOT_META_MAX_FILE_BYTES: "1K" } });
    expect(small.exitCode).toBe(1);
    expect(jsonError(small)).toMatchObject({ code: "INPUT_TOO_LARGE", message: expect.stringContaining("app.yaml is 3.9 KiB; the limit on bytes in one file is 1 KiB") });
    expect((await cli(["encrypt", "app.yaml", "--max-file-bytes", "8K"], { cwd: dir, env: { BOOT_META_MAX_FILE_BYTES: "1K" } })).exitCode).toBe(0);
    const bad = await cli(["encrypt", "app.yaml", "--max-depth", "many"], { cwd: dir });
    expect(bad.exitCode).toBe(2);
    expect(err(bad)).toContain("--max-depth is \"many\"");
  });

  it("caps standard input: set --value-stdin past the limit leaves the file as it was", async () => {
    const dir = tempDir();
    const key = await ageKeyFile(dir);
    const cli = cliWith({ SOPS_AGE_KEY_FILE: key.file });
    writeFileSync(join(dir, "s.yaml"), "a: 1\n");
    expect((await cli(["encrypt", "--age", key.recipient, "--in-place", "s.yaml"], { cwd: dir })).exitCode).toBe(0);
    const before = readFileSync(join(dir, "s.yaml"));
    const r = await cli(["set", "--json", "--value-stdin", "--max-file-bytes", "1K", "s.yaml", `["b"]`], { cwd: dir, input: `"${"x".repeat(5000)}"` });
    if (r.exitCode !== 1) throw new Error(out(r) + err(r));
    expect(r.exitCode).toBe(1);
    expect(jsonError(r)).toMatchObject({ code: "INPUT_TOO_LARGE", data: { file: "standard input" } });
    expect(readFileSync(join(dir, "s.yaml"))).toEqual(before);
    expect((await cli(["set", "--value-stdin", "s.yaml", '["b"]'], { cwd: dir, input: '"fine"' })).exitCode).toBe(0);
  });

  it.each([
    ["a 100,000-level YAML file", "deep.yaml", deepBlockSeqYaml, "INPUT_TOO_DEEP"],
    ["a 100,000-level JSON file", "deep.json", deepJson, "INPUT_TOO_DEEP"],
    ["an alias bomb", "bomb.yaml", billionLaughs(), "INPUT_TOO_MANY_NODES"],
  ])("refuses %s given to encrypt with a typed error, not a crash", async (_name, file, text, code) => {
    const dir = tempDir();
    const key = await ageKeyFile(dir);
    writeFileSync(join(dir, file), text);
    const r = await cliWith()(["encrypt", "--age", key.recipient, file], { cwd: dir });
    expect(r.exitCode).toBe(1);
    expect(err(r)).toContain(`Error [${code}]: ${file} `);
    expect(err(r)).not.toMatch(/RangeError|Maximum call stack|INTERNAL/);
  });
});

// ---------------------------------------------------------------------------------------
// A meta repo where a hostile writer commits with plain git, and an admin's commands read it.
// ---------------------------------------------------------------------------------------

async function metaRepo() {
  const dir = tempDir("boot-meta-meta-");
  const admin = await ageKeyFile(tempDir());
  const cli = cliWith({ SOPS_AGE_KEY_FILE: admin.file });
  const run = async (...args: string[]) => {
    const r = await cli(args, { cwd: dir });
    if (r.exitCode !== 0) throw new Error(`${args.join(" ")}: ${err(r)}`);
  };
  await run("init", ".");
  await run("keys", "add", "admin", "--key", admin.recipient, "--group", "admins");
  await run("keys", "add", "alice", "--key", (await ageKeyFile(tempDir())).recipient, "--group", "developers");
  await run("project", "create", "shop");
  await run("env", "create", "shop", "dev");
  await run("config", "set", "-p", "shop", "-e", "dev", "port", "8080");
  /** A hostile writer's commit: plain git, no boot-meta. */
  const commitAsWriter = (files: Record<string, string | Buffer | number>) => {
    for (const [path, content] of Object.entries(files)) {
      if (typeof content === "number") {
        writeFileSync(join(dir, path), "");
        truncateSync(join(dir, path), content);
      } else writeFileSync(join(dir, path), content);
    }
    git(dir, "add", "-A");
    git(dir, "commit", "-q", "-m", "innocent change");
    return git(dir, "rev-parse", "HEAD");
  };
  const unchanged = (head: string) => {
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
    expect(git(dir, "status", "--porcelain")).toBe("");
  };
  return { dir, cli, admin, commitAsWriter, unchanged };
}

describe("a hostile writer's files in the meta repo", () => {
  it("a 200 MB config file: config show refuses it from git's header (INPUT_TOO_LARGE), in bounded memory", async () => {
    const m = await metaRepo();
    const head = m.commitAsWriter({ "shop/envs/dev/config.sops.yaml": 200 * 1024 * 1024 });
    const r = await m.cli(["config", "show", "-p", "shop", "-e", "dev", "--json"], { cwd: m.dir });
    expect(r.exitCode).toBe(1);
    expect(jsonError(r)).toMatchObject({ code: "INPUT_TOO_LARGE", message: expect.stringContaining("shop/envs/dev/config.sops.yaml is 200 MiB in git"), data: { file: "shop/envs/dev/config.sops.yaml" } });
    m.unchanged(head);

    // The same read in this process: the blob streams past without being held.
    let peak = 0;
    const base = process.memoryUsage().arrayBuffers;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers - base)), 1);
    await expect(loadConfig({ repo: m.dir, project: "shop", env: "dev", identities: await identitySetFrom([readFileSync(m.admin.file, "utf8").split("\n")[2] as string]) })).rejects.toThrowError(
      expect.objectContaining({ code: "INPUT_TOO_LARGE" }),
    );
    clearInterval(timer);
    expect(peak).toBeLessThan(64 * 1024 * 1024);
  });

  it("an alias bomb as a config file: config show refuses it (INPUT_TOO_MANY_NODES), repo unchanged", async () => {
    const m = await metaRepo();
    const head = m.commitAsWriter({ "shop/envs/dev/config.sops.yaml": billionLaughs() });
    const r = await m.cli(["config", "show", "-p", "shop", "-e", "dev"], { cwd: m.dir });
    expect(r.exitCode).toBe(1);
    expect(err(r)).toContain("Error [INPUT_TOO_MANY_NODES]: shop/envs/dev/config.sops.yaml has more than 1000000 values once its aliases are expanded");
    m.unchanged(head);
  });

  it("a 100,000-level .boot-meta.yaml: access check refuses it (INPUT_TOO_DEEP), repo unchanged", async () => {
    const m = await metaRepo();
    const head = m.commitAsWriter({ ".boot-meta.yaml": `version: 1\ngroups: ${"[".repeat(N)}${"]".repeat(N)}\n` });
    const r = await m.cli(["access", "check", "--json"], { cwd: m.dir });
    expect(r.exitCode).toBe(1);
    expect(jsonError(r)).toMatchObject({ code: "INPUT_TOO_DEEP", data: { file: ".boot-meta.yaml", flag: "--max-depth" } });
    m.unchanged(head);
  });

  it("a key file that is not UTF-8: access check names it (INPUT_INVALID_UTF8), repo unchanged", async () => {
    const m = await metaRepo();
    const head = m.commitAsWriter({ "keys/mallory.txt": Buffer.from([0x23, 0x20, 0xff, 0xfe, 0x0a]) });
    const r = await m.cli(["access", "check", "--json"], { cwd: m.dir });
    expect(r.exitCode).toBe(49);
    expect(jsonError(r)).toMatchObject({ code: "INPUT_INVALID_UTF8", data: { file: "keys/mallory.txt", offset: 2 } });
    m.unchanged(head);
  });

  it("a 100,000-level channel record: channel show refuses it (INPUT_TOO_DEEP), repo unchanged", async () => {
    const m = await metaRepo();
    execFileSync("mkdir", ["-p", join(m.dir, "shop/channels")]);
    const head = m.commitAsWriter({ "shop/channels/stable.json": `{"name": "stable", "x": ${"[".repeat(N)}${"]".repeat(N)}}\n` });
    const r = await m.cli(["channel", "show", "shop", "stable", "--json"], { cwd: m.dir });
    expect(r.exitCode).not.toBe(0);
    expect(jsonError(r)).toMatchObject({ code: "INPUT_TOO_DEEP", data: { file: "shop/channels/stable.json" } });
    m.unchanged(head);
  });
});
