import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Flags } from "@oclif/core";
import { generateHybridIdentity, identityToRecipient } from "age-encryption";
import Decrypt from "../../src/commands/decrypt.js";
import { FAST_DECRYPT_CHOICES, FAST_DECRYPT_OPTIONS, parseFastDecrypt } from "../../src/cli/fast-path.js";
import { encryptBytes } from "../../src/sops/engine.js";
import { ageKeyFile, err, out, spawnCliWith } from "../helpers/cli.js";
import { tempDir } from "../helpers/gitdir.js";

// bin/run.js runs the common forms of `decrypt` without oclif (src/cli/fast-path.ts). Each row
// below runs through the real executable twice — as it is, and with BOOT_META_NO_FAST_PATH=1,
// which sends everything to oclif — each time in its own copy of the same files, and the two
// runs must agree byte for byte: stdout, stderr, exit code and the files left behind. A
// resolve hook (NODE_OPTIONS=--import) records whether oclif's bundle was loaded, so each row
// also says which path it took: a fast-path row that quietly went to oclif fails.

const work = tempDir("boot-meta-fast-path-");
const home = join(work, "home");
mkdirSync(home);
const spawned = spawnCliWith({ HOME: home });
const fixtures = join(work, "fixtures");
const marker = join(work, "which-path.mjs");
const hooks = join(work, "which-path-hooks.mjs");
let key: { identity: string; recipient: string; file: string };
let other: { identity: string; recipient: string; file: string };

// Shaped like an age identity (redact.ts must catch it), but not one: no key is committed here.
const PASTED_KEY = `AGE-SECRET-KEY-1${"Q".repeat(58)}`;

const PLAIN = "db:\n    host: db.internal\n    port: 5432\n    password: hunter2\nnote_unencrypted: hello\nlist:\n    - a\n    - b\n";

beforeAll(async () => {
  mkdirSync(fixtures);
  key = await ageKeyFile(work);
  other = await ageKeyFile(work);
  const enc = async (text: string, format: "yaml" | "json" | "dotenv", to: string) => encryptBytes(Buffer.from(text), { format, keyGroups: [[to]] });
  writeFileSync(join(fixtures, "app.enc.yaml"), await enc(PLAIN, "yaml", key.recipient));
  writeFileSync(join(fixtures, "copy.enc.yaml"), await enc(PLAIN, "yaml", key.recipient));
  writeFileSync(join(fixtures, "app.enc.json"), await enc(`{"a": {"b": [1, 2.5, "x"]}, "n": null}`, "json", key.recipient));
  writeFileSync(join(fixtures, "app.enc.env"), await enc("A=1\nB=two words\n", "dotenv", key.recipient));
  writeFileSync(join(fixtures, "theirs.enc.yaml"), await enc(PLAIN, "yaml", other.recipient));
  // A value sops leaves in the clear is still covered by the MAC: changing it is tampering.
  const tampered = readFileSync(join(fixtures, "app.enc.yaml"), "utf8").replace("note_unencrypted: hello", "note_unencrypted: hellp");
  expect(tampered).toContain("hellp");
  writeFileSync(join(fixtures, "tampered.enc.yaml"), tampered);
  writeFileSync(join(fixtures, "plain.yaml"), "a: 1\n");
  // What the fast path loads only when used (its chunks of execa and age-encryption): a key
  // printed by SOPS_AGE_KEY_CMD, and a post-quantum key.
  writeFileSync(join(fixtures, "agekey.txt"), `${key.identity}\n`);
  const pq = await generateHybridIdentity();
  writeFileSync(join(fixtures, "pqkey.txt"), `${pq}\n`);
  writeFileSync(join(fixtures, "pq.enc.yaml"), await enc(PLAIN, "yaml", await identityToRecipient(pq)));
  writeFileSync(hooks, `import { appendFileSync } from "node:fs";\nexport async function resolve(s, c, next) {\n  const r = await next(s, c);\n  if (r.url.endsWith("/dist/bundle/cli.js")) appendFileSync(process.env.WHICH_PATH_FILE, "oclif");\n  return r;\n}\n`);
  writeFileSync(marker, `import { register } from "node:module";\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)});\n`);
});

interface Run {
  exitCode: number;
  stdout: string;
  stderr: string;
  files: Record<string, string>;
  path: "fast" | "oclif";
}

let runs = 0;
async function runIn(args: string[], env: NodeJS.ProcessEnv, noFast: boolean): Promise<Run> {
  const dir = join(work, `run-${++runs}`);
  cpSync(fixtures, dir, { recursive: true });
  const which = join(work, `which-${runs}`);
  writeFileSync(which, "");
  const r = await spawned(args, {
    cwd: dir,
    env: { SOPS_AGE_KEY_FILE: key.file, NODE_OPTIONS: `--import=${marker}`, WHICH_PATH_FILE: which, ...(noFast ? { BOOT_META_NO_FAST_PATH: "1" } : {}), ...env },
  });
  const files: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, encoding: "utf8" }).sort()) {
    const s = statSync(join(dir, f));
    files[f] = s.isDirectory() ? "dir" : `${(s.mode & 0o777).toString(8)} ${readFileSync(join(dir, f), "utf8")}`;
  }
  // Each run has a folder of its own, named in messages (absolute paths), and an atomic write
  // names its temporary file at random: the rest must be the same.
  const same = (text: string) => text.replaceAll(dir, "<cwd>").replace(/\.[0-9a-f]{12}\.tmp\b/g, ".<random>.tmp");
  return { exitCode: r.exitCode, stdout: same(out(r)), stderr: same(err(r)), files, path: readFileSync(which, "utf8") === "oclif" ? "oclif" : "fast" };
}

type Row = [name: string, args: string[], env?: NodeJS.ProcessEnv];
const J = (...p: (string | number)[]) => p.map((x) => `[${JSON.stringify(x)}]`).join("");

/** Rows the fast path runs itself. */
const FAST: Row[] = [
  ["a whole YAML file", ["decrypt", "app.enc.yaml"]],
  ["one value with --extract", ["decrypt", "--extract", J("db", "password"), "app.enc.yaml"]],
  ["--extract=… of a map, as JSON", ["decrypt", `--extract=${J("db")}`, "--output-type", "json", "app.enc.yaml"]],
  ["--extract of a list item", ["decrypt", "--extract", J("list", 1), "app.enc.yaml"]],
  ["flags after the file", ["decrypt", "app.enc.yaml", "--output-type=json", "--indent", "4"]],
  ["--indent for YAML", ["decrypt", "--indent", "2", "app.enc.yaml"]],
  ["a JSON file", ["decrypt", "app.enc.json"]],
  ["JSON as dotenv", ["decrypt", "--output-type", "dotenv", "app.enc.json"]],
  ["dotenv as YAML", ["decrypt", "--output-type", "yaml", "app.enc.env"]],
  ["--input-type given", ["decrypt", "--input-type", "yaml", "--output-type", "ini", "app.enc.yaml"]],
  ["--json", ["decrypt", "--json", "app.enc.yaml"]],
  ["--json with --extract", ["decrypt", "app.enc.yaml", "--extract", J("db", "port"), "--json"]],
  ["--output to a file, with the note on stderr", ["decrypt", "--output", "out.yaml", "app.enc.yaml"]],
  ["--output under --json", ["decrypt", "--json", "--output-type", "json", "--output", "out.json", "app.enc.yaml"]],
  ["--in-place", ["decrypt", "--in-place", "copy.enc.yaml"]],
  ["-i", ["decrypt", "-i", "copy.enc.yaml"]],
  ["a limit given that holds", ["decrypt", "--max-file-bytes=1M", "--max-depth", "10", "app.enc.yaml"]],
  ["--config naming a missing file (decrypt does not read it)", ["decrypt", "--config", "nowhere.yaml", "app.enc.yaml"]],
  ["BOOT_META_MAX_FILE_BYTES in the environment", ["decrypt", "app.enc.yaml"], { BOOT_META_MAX_FILE_BYTES: "100" }],
  ["the key from SOPS_AGE_KEY_CMD", ["decrypt", "app.enc.yaml"], { SOPS_AGE_KEY_FILE: "", SOPS_AGE_KEY_CMD: "cat agekey.txt" }],
  ["a file for a post-quantum key", ["decrypt", "pq.enc.yaml"], { SOPS_AGE_KEY_FILE: "pqkey.txt" }],
  // Failures: the same message, code and exit code, and no file written.
  ["a missing file", ["decrypt", "missing.enc.yaml"]],
  ["a missing file under --json", ["decrypt", "--json", "missing.enc.yaml"]],
  ["a file encrypted to someone else", ["decrypt", "theirs.enc.yaml"]],
  ["a file encrypted to someone else, under --json", ["decrypt", "theirs.enc.yaml", "--json"]],
  ["a tampered MAC", ["decrypt", "tampered.enc.yaml"]],
  ["a tampered MAC with --ignore-mac", ["decrypt", "--ignore-mac", "tampered.enc.yaml"]],
  ["a file that is not encrypted", ["decrypt", "plain.yaml"]],
  ["a bad --extract path", ["decrypt", "--extract", "db.password", "app.enc.yaml"]],
  ["--extract of a key that is not there", ["decrypt", "--extract", J("nope"), "app.enc.yaml"]],
  ["--extract of a key that is not there, under --json", ["decrypt", "--json", "--extract", J("nope"), "app.enc.yaml"]],
  ["--output into a folder that does not exist", ["decrypt", "--output", "no/such/dir/out.yaml", "app.enc.yaml"]],
  ["both --output and --in-place", ["decrypt", "--output", "out.yaml", "--in-place", "copy.enc.yaml"]],
  ["a file over --max-file-bytes", ["decrypt", "--max-file-bytes", "100", "app.enc.yaml"]],
  ["a file over --max-nodes", ["decrypt", "--max-nodes", "2", "app.enc.yaml"]],
  ["a limit out of range", ["decrypt", "--max-depth", "0", "app.enc.yaml"]],
  ["a limit that is not a number, under --json", ["decrypt", "--json", "--max-aliases", "many", "app.enc.yaml"]],
  ["a bad BOOT_META_MAX_DEPTH", ["decrypt", "app.enc.yaml"], { BOOT_META_MAX_DEPTH: "deep" }],
  ["a private key pasted as SOPS_AGE_KEY_FILE: redacted", ["decrypt", "app.enc.yaml"], { SOPS_AGE_KEY_FILE: PASTED_KEY }],
  ["a private key pasted as --output: redacted", ["decrypt", "--output", `x/${PASTED_KEY}/o.yaml`, "app.enc.yaml"]],
  ["no identity at all", ["decrypt", "app.enc.yaml"], { SOPS_AGE_KEY_FILE: "" }],
];

/** Rows the fast path hands to oclif: it must not guess what oclif would say. */
const FALLBACK: Row[] = [
  ["--help", ["decrypt", "--help"]],
  ["an unknown flag", ["decrypt", "--frobnicate", "app.enc.yaml"]],
  ["a format oclif refuses", ["decrypt", "--output-type", "xml", "app.enc.yaml"]],
  ["an --indent that is not a number", ["decrypt", "--indent", "wide", "app.enc.yaml"]],
  ["a negative --indent", ["decrypt", "--indent=-1", "app.enc.yaml"]],
  ["a flag given twice", ["decrypt", "--output-type", "json", "--output-type", "yaml", "app.enc.yaml"]],
  ["a value that starts with a dash", ["decrypt", "--extract", "-x", "app.enc.yaml"]],
  ["a boolean given a value", ["decrypt", "--ignore-mac=true", "app.enc.yaml"]],
  ["no file", ["decrypt"]],
  ["two files", ["decrypt", "app.enc.yaml", "copy.enc.yaml"]],
  ["--", ["decrypt", "--", "app.enc.yaml"]],
  ["a file named -", ["decrypt", "-"]],
  ["short flags bundled", ["decrypt", "-ih", "copy.enc.yaml"]],
  ["an empty value", ["decrypt", "--output=", "app.enc.yaml"]],
  ["DEBUG set", ["decrypt", "app.enc.yaml"], { DEBUG: "nothing-of-ours" }],
  ["an oclif setting in the environment", ["decrypt", "--json", "app.enc.yaml"], { BOOT_META_CONTENT_TYPE: "json" }],
  ["--json with colours forced", ["decrypt", "--json", "app.enc.yaml"], { FORCE_COLOR: "0" }],
];

describe("boot-meta decrypt without oclif (bin/run.js's fast path)", () => {
  it.each(FAST)("runs %s as oclif does, byte for byte", async (_name, args, env = {}) => {
    const oclif = await runIn(args, env, true);
    const fast = await runIn(args, env, false);
    expect(oclif.path).toBe("oclif");
    expect(fast.path).toBe("fast");
    expect({ ...fast, path: undefined }).toEqual({ ...oclif, path: undefined });
  });

  it.each(FALLBACK)("hands %s to oclif", async (_name, args, env = {}) => {
    const r = await runIn(args, env, false);
    expect(r.path).toBe("oclif");
    expect(parseFastDecrypt(args, { ...env }, { stdoutIsTTY: () => false })).toBeUndefined();
  });

  it("leaves the files as they were when a decrypt fails, and never prints the plaintext on a failure", async () => {
    const r = await runIn(["decrypt", "--output", "out.yaml", "--in-place", "copy.enc.yaml"], {}, false);
    expect(r.path).toBe("fast");
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("INVALID_ARGUMENT");
    expect(r.stdout + r.stderr).not.toContain("hunter2");
    expect(Object.keys(r.files)).not.toContain("out.yaml");
    expect(r.files["copy.enc.yaml"]).toContain("ENC[");
  });

  it("redacts a private key in what it prints", async () => {
    const r = await runIn(["decrypt", "app.enc.yaml"], { SOPS_AGE_KEY_FILE: PASTED_KEY }, false);
    expect(r.path).toBe("fast");
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).not.toMatch(/AGE-SECRET-KEY-1Q/);
  });
});

describe("the fast path's flags", () => {
  // A flag added to, changed in or removed from `decrypt` must change the fast path too; one it
  // does not know sends the command to oclif, but one it knows differently would not.
  it("are exactly the decrypt command's, with the same kinds, short names and choices", () => {
    const all = { ...Decrypt.baseFlags, ...Decrypt.flags, json: Flags.boolean() } as Record<string, { type: string; char?: string; options?: readonly string[] }>;
    expect(Object.keys(FAST_DECRYPT_OPTIONS).sort()).toEqual(Object.keys(all).sort());
    for (const [name, flag] of Object.entries(all)) {
      const mine = FAST_DECRYPT_OPTIONS[name as keyof typeof FAST_DECRYPT_OPTIONS] as { type: string; short?: string };
      expect({ name, type: mine.type, short: mine.short, choices: FAST_DECRYPT_CHOICES[name] }).toEqual({
        name,
        type: flag.type === "boolean" ? "boolean" : "string",
        short: flag.char,
        choices: flag.options,
      });
    }
  });

  it("carry nothing oclif would apply that the fast path does not: defaults, variables, relations, several values, stdin", () => {
    for (const [name, flag] of Object.entries({ ...Decrypt.baseFlags, ...Decrypt.flags }) as [string, Record<string, unknown>][]) {
      const extra = ["default", "env", "dependsOn", "exclusive", "exactlyOne", "relationships", "allowStdin", "aliases", "charAliases", "deprecateAliases", "required"].filter((k) => flag[k] !== undefined && flag[k] !== false);
      expect({ name, extra, multiple: Boolean(flag.multiple) }).toEqual({ name, extra: [], multiple: false });
    }
    expect(Object.keys(Decrypt.args)).toEqual(["file"]);
  });

  it("meet no command below decrypt: `decrypt WORD` always names a file", () => {
    expect(existsSync(join(import.meta.dirname, "../../src/commands/decrypt"))).toBe(false);
  });
});
