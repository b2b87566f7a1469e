import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/gitdir.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { manifest, readExpected, VECTORS } from "../helpers/vectors.js";

const PLAIN = "db:\n    user: admin\n    password: hunter2\nports:\n    - 8080\n    - 8443\nenabled: true\nnote_unencrypted: visible\n";

let alice: Awaited<ReturnType<typeof ageKeyFile>>;
let bob: Awaited<ReturnType<typeof ageKeyFile>>;
let dir: string;
const cli = cliWith();

beforeAll(async () => {
  dir = tempDir();
  alice = await ageKeyFile(dir);
  bob = await ageKeyFile(dir);
});

async function encrypted(name = "secrets.yaml", content = PLAIN, recipients = [alice.recipient]): Promise<string> {
  const file = join(dir, name);
  writeFileSync(file, content);
  const r = await cli(["encrypt", "--in-place", "--age", recipients.join(","), file]);
  expect(r.exitCode, err(r)).toBe(0);
  return file;
}

const asAlice = () => ({ env: { SOPS_AGE_KEY_FILE: alice.file } });
const asBob = () => ({ env: { SOPS_AGE_KEY_FILE: bob.file } });

describe("encrypt and decrypt", () => {
  it("round-trips a YAML file through stdout, keeping keys readable and _unencrypted values clear", async () => {
    const file = join(dir, "plain.yaml");
    writeFileSync(file, PLAIN);
    const enc = await cli(["encrypt", "--age", alice.recipient, file]);
    expect(enc.exitCode, err(enc)).toBe(0);
    const text = out(enc);
    expect(text).toContain("password: ENC[AES256_GCM,");
    expect(text).toContain("note_unencrypted: visible");
    expect(text).not.toContain("hunter2");
    expect(parse(text).sops.version).toMatch(/^\d+\.\d+\.\d+$/);
    const encFile = join(dir, "plain.enc.yaml");
    writeFileSync(encFile, text);
    const dec = await cli(["decrypt", encFile], asAlice());
    expect(dec.exitCode, err(dec)).toBe(0);
    expect(out(dec)).toBe(PLAIN);
    expect(readFileSync(file, "utf8")).toBe(PLAIN); // the input was not touched
  });

  it("extracts one value, printed raw", async () => {
    const file = await encrypted("extract.yaml");
    const r = await cli(["decrypt", "--extract", '["db"]["password"]', file], asAlice());
    expect(out(r)).toBe("hunter2");
    const list = await cli(["decrypt", "--extract", '["ports"]', "--output-type", "json", file], asAlice());
    expect(JSON.parse(out(list))).toEqual([8080, 8443]);
  });

  it("prints --json results", async () => {
    const file = await encrypted("json-out.yaml");
    const r = await cli(["decrypt", "--json", file], asAlice());
    expect(JSON.parse(out(r))).toMatchObject({ file, content: PLAIN });
    const s = await cli(["filestatus", "--json", file]);
    expect(JSON.parse(out(s))).toEqual({ encrypted: true });
  });

  it("decrypts every vector written by the sops binary through the CLI", async () => {
    for (const v of manifest.filter((m) => m.expect === "ok" && m.format !== "binary")) {
      const r = await cli(["decrypt", "--output-type", "json", join(VECTORS, v.file)], { env: { SOPS_AGE_KEY_FILE: join(VECTORS, v.keys[0] as string) } });
      expect(r.exitCode, `${v.file}: ${err(r)}`).toBe(0);
      const got = JSON.parse(out(r));
      expect(got, v.file).toEqual(readExpected(v.expected as string));
    }
  });
});

describe("interop with the age CLI", () => {
  it("wraps the data key so that `age -d` opens it, and opens a key wrapped by `age -a -r`", async () => {
    const file = await encrypted("interop.yaml");
    const doc = parse(readFileSync(file, "utf8"));
    const dataKey = execFileSync("age", ["-d", "-i", alice.file], { input: doc.sops.age[0].enc });
    expect(dataKey).toHaveLength(32);
    // Re-wrap the same data key for bob with the real age CLI, and put that in the file.
    const byAge = execFileSync("age", ["-a", "-r", bob.recipient], { input: dataKey }).toString("utf8");
    const swapped = readFileSync(file, "utf8").replace(doc.sops.age[0].recipient, bob.recipient).replace(
      doc.sops.age[0].enc.trimEnd().split("\n").map((l: string) => `            ${l}`).join("\n"),
      byAge.trimEnd().split("\n").map((l) => `            ${l}`).join("\n"),
    );
    expect(swapped).not.toBe(readFileSync(file, "utf8"));
    writeFileSync(file, swapped);
    const r = await cli(["decrypt", file], asBob());
    expect(r.exitCode, err(r)).toBe(0);
    expect(out(r)).toBe(PLAIN);
  });
});

describe("edit, set, unset", () => {
  it("edits in $EDITOR, re-encrypting only the value that changed, and removes the temporary file", async () => {
    const file = await encrypted("edit.yaml");
    const before = readFileSync(file, "utf8").split("\n");
    const r = await cli(["edit", file], { env: { ...asAlice().env, EDITOR: "sed -i s/hunter2/changed/" } });
    expect(r.exitCode, err(r)).toBe(0);
    const after = readFileSync(file, "utf8").split("\n");
    const changed = after.filter((l, i) => l !== before[i] && !/lastmodified|mac:/.test(l));
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatch(/^\s+password: ENC\[/);
    const dec = await cli(["decrypt", "--extract", '["db"]["password"]', file], asAlice());
    expect(out(dec)).toBe("changed");
  });

  it("leaves the file byte-for-byte alone when the editor changes nothing", async () => {
    const file = await encrypted("noedit.yaml");
    const before = readFileSync(file);
    const r = await cli(["edit", "--json", file], { env: { ...asAlice().env, EDITOR: "true" } });
    expect(JSON.parse(out(r))).toEqual({ file, changed: false });
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("refuses an edit that is not valid YAML and keeps the file", async () => {
    const file = await encrypted("badedit.yaml");
    const before = readFileSync(file);
    const r = await cli(["edit", file], { env: { ...asAlice().env, EDITOR: "sed -i s/user:/user/" } });
    expect(r.exitCode).not.toBe(0);
    expect(err(r)).toMatch(/not saved/);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it("sets and unsets values without an editor", async () => {
    const file = await encrypted("set.yaml");
    const set = await cli(["set", file, '["db"]["host"]', '"db.internal"'], asAlice());
    expect(set.exitCode, err(set)).toBe(0);
    const again = await cli(["set", "--idempotent", "--json", file, '["db"]["host"]', '"db.internal"'], asAlice());
    expect(JSON.parse(out(again))).toMatchObject({ changed: false });
    const unset = await cli(["unset", file, '["db"]["user"]'], asAlice());
    expect(unset.exitCode, err(unset)).toBe(0);
    const dec = parse(out(await cli(["decrypt", file], asAlice())));
    expect(dec.db).toEqual({ password: "hunter2", host: "db.internal" });
    const missing = await cli(["unset", file, '["nope"]'], asAlice());
    expect(missing.exitCode).not.toBe(0);
    expect(err(missing)).toMatch(/TREE_PATH_NOT_FOUND/);
  });
});

describe("keys: updatekeys and rotate", () => {
  it("updatekeys re-wraps for the recipients .sops.yaml names, leaving values, mac and lastmodified alone", async () => {
    const repo = tempDir();
    writeFileSync(join(repo, ".sops.yaml"), `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${alice.recipient}\n`);
    writeFileSync(join(repo, "app.yaml"), PLAIN);
    const enc = await cli(["encrypt", "-i", "app.yaml"], { cwd: repo });
    expect(enc.exitCode, err(enc)).toBe(0);
    const before = parse(readFileSync(join(repo, "app.yaml"), "utf8"));
    writeFileSync(join(repo, ".sops.yaml"), `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${alice.recipient},${bob.recipient}\n`);
    const r = await cli(["updatekeys", "-y", "--json", "app.yaml"], { cwd: repo, ...asAlice() });
    expect(r.exitCode, err(r)).toBe(0);
    expect(JSON.parse(out(r)).files[0]).toMatchObject({ changed: true, added: [bob.recipient], removed: [] });
    const after = parse(readFileSync(join(repo, "app.yaml"), "utf8"));
    expect(after.db).toEqual(before.db);
    expect(after.sops.mac).toBe(before.sops.mac);
    expect(after.sops.lastmodified).toBe(before.sops.lastmodified);
    expect((await cli(["decrypt", "app.yaml"], { cwd: repo, ...asBob() })).exitCode).toBe(0);
    const again = await cli(["updatekeys", "--json", "app.yaml"], { cwd: repo, ...asAlice() });
    expect(JSON.parse(out(again)).files[0].changed).toBe(false);
  });

  it("rotate --rm-age makes a new data key the removed reader cannot open", async () => {
    const file = await encrypted("rotate.yaml", PLAIN, [alice.recipient, bob.recipient]);
    const before = parse(readFileSync(file, "utf8"));
    const r = await cli(["rotate", "-i", "--rm-age", bob.recipient, file], asAlice());
    expect(r.exitCode, err(r)).toBe(0);
    const after = parse(readFileSync(file, "utf8"));
    expect(after.db.password).not.toBe(before.db.password);
    const denied = await cli(["decrypt", file], asBob());
    expect(denied.exitCode).toBe(128);
    expect(err(denied)).toContain(alice.recipient);
    expect(out(await cli(["decrypt", file], asAlice()))).toBe(PLAIN);
  });
});

describe("exec-env and filestatus", () => {
  it("passes top-level values to the command's environment", async () => {
    const file = join(dir, "app.env");
    writeFileSync(file, "DATABASE_URL=postgres://u:p@h/db\nPORT=5432\n");
    expect((await cli(["encrypt", "-i", "--age", alice.recipient, file])).exitCode).toBe(0);
    const r = await cli(["exec-env", file, 'printf "%s|%s" "$DATABASE_URL" "$PORT"'], asAlice());
    expect(out(r)).toBe("postgres://u:p@h/db|5432");
    const code = await cli(["exec-env", file, "exit 7"], asAlice());
    expect(code.exitCode).toBe(7);
  });

  it("reports plaintext files as not encrypted", async () => {
    const file = join(dir, "plain-status.yaml");
    writeFileSync(file, PLAIN);
    expect(out(await cli(["filestatus", file])).trim()).toBe('{"encrypted":false}');
  });
});

describe("bad input: a clear error, a non-zero exit, nothing written", () => {
  it("names the file's recipients and where identities were looked for when the key is wrong", async () => {
    const file = await encrypted("wrongkey.yaml");
    const r = await cli(["decrypt", file], asBob());
    expect(r.exitCode).toBe(128);
    expect(err(r)).toContain("SOPS_DATA_KEY_UNAVAILABLE");
    expect(err(r)).toContain(alice.recipient);
    expect(err(r)).toContain(bob.file);
    expect(err(r)).not.toMatch(/AGE-SECRET-KEY/);
  });

  it("refuses a tampered file with exit 51 and leaves it as it was on a failed set", async () => {
    const file = await encrypted("tampered.yaml");
    const text = readFileSync(file, "utf8").replace("note_unencrypted: visible", "note_unencrypted: altered");
    writeFileSync(file, text);
    const r = await cli(["decrypt", file], asAlice());
    expect(r.exitCode).toBe(51);
    expect(err(r)).toMatch(/SOPS_MAC_MISMATCH/);
    const set = await cli(["set", file, '["x"]', "1"], asAlice());
    expect(set.exitCode).toBe(51);
    expect(readFileSync(file, "utf8")).toBe(text);
    const ignored = await cli(["decrypt", "--ignore-mac", file], asAlice());
    expect(ignored.exitCode).toBe(0);
  });

  it("refuses a file that is not encrypted, a malformed file, and a missing file", async () => {
    const plain = join(dir, "notenc.yaml");
    writeFileSync(plain, PLAIN);
    expect(err(await cli(["decrypt", plain], asAlice()))).toMatch(/SOPS_NOT_ENCRYPTED/);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "a: [unclosed\n");
    const r = await cli(["encrypt", "--age", alice.recipient, bad]);
    expect(r.exitCode).not.toBe(0);
    expect(err(r)).toMatch(/SOPS_MALFORMED_FILE/);
    const missing = await cli(["decrypt", join(dir, "nope.yaml")], asAlice());
    expect(missing.exitCode).toBe(100);
  });

  it("refuses to encrypt twice and rejects a bad recipient", async () => {
    const file = await encrypted("twice.yaml");
    expect((await cli(["encrypt", "--age", alice.recipient, file])).exitCode).toBe(203);
    const plain = join(dir, "badrcpt.yaml");
    writeFileSync(plain, PLAIN);
    const r = await cli(["encrypt", "--age", "age1notakey", plain]);
    expect(r.exitCode).not.toBe(0);
    expect(err(r)).toMatch(/SOPS_INVALID_RECIPIENT/);
  });

  it("leaves no plaintext behind in the temporary directory", async () => {
    const tmpRoot = tempDir();
    const file = await encrypted("tmpcheck.yaml");
    await cli(["edit", file], { env: { ...asAlice().env, TMPDIR: tmpRoot, EDITOR: "sed -i s/admin/root/" } });
    expect(readdirSync(tmpRoot)).toEqual([]);
  });
});
