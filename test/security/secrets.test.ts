import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateHybridIdentity, generateIdentity } from "age-encryption";
import { beforeAll, describe, expect, it } from "vitest";
import { BootMetaError } from "../../src/errors.js";
import { looksLikePrivateKey, redactSecrets } from "../../src/redact.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// A private key pasted where a public key, a path or a command belongs must never come back
// out: not in an error, a note, or --json. Every key here is freshly generated; each place
// that takes a recipient or a key path is given one, through the CLI, in human and --json form.

const cli = cliWith();

type Kind = "x25519" | "pq" | "openssh" | "pkcs8";
interface Secret {
  kind: Kind;
  /** The whole key as a user would paste it. */
  text: string;
  /** What must never appear, not even 20 characters of it: the key's body. */
  body: string;
  /** Public forms of the same key (their substrings are not secret). */
  publicText: string;
}

const keys = {} as Record<Kind, Secret>;
let root: string;
let admin: Awaited<ReturnType<typeof ageKeyFile>>;
let plain: string;
let enc: string;
let meta: string;

const pemBody = (pem: string) =>
  pem
    .split("\n")
    .filter((l) => l !== "" && !l.startsWith("-----"))
    .join("");

beforeAll(async () => {
  root = tempDir();
  const x = await generateIdentity();
  keys.x25519 = { kind: "x25519", text: x, body: x.slice("AGE-SECRET-KEY-1".length), publicText: "" };
  const pq = await generateHybridIdentity();
  keys.pq = { kind: "pq", text: pq, body: pq.slice("AGE-SECRET-KEY-PQ-1".length), publicText: "" };
  const sshFile = join(root, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test-only", "-f", sshFile]);
  const ssh = readFileSync(sshFile, "utf8");
  keys.openssh = { kind: "openssh", text: ssh, body: pemBody(ssh), publicText: readFileSync(`${sshFile}.pub`, "utf8") };
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const pkcs8 = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  keys.pkcs8 = { kind: "pkcs8", text: pkcs8, body: pemBody(pkcs8), publicText: pemBody(publicKey.export({ type: "spki", format: "pem" }).toString()) };

  admin = await ageKeyFile(root);
  plain = join(root, "plain.yaml");
  writeFileSync(plain, "db:\n    password: hunter2\n");
  enc = join(root, "enc.yaml");
  const e = await cli(["encrypt", "--age", admin.recipient, plain]);
  expect(e.exitCode, err(e)).toBe(0);
  writeFileSync(enc, e.stdout as Uint8Array);
  meta = join(root, "meta");
  for (const args of [["init", meta], ["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta], ["project", "create", "shop", "--meta", meta], ["env", "create", "shop", "dev", "--meta", meta]]) {
    const r = await cli(args, { env: { SOPS_AGE_KEY_FILE: admin.file } });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
  }
});

/** The first 20-character piece of the secret's body found in `output`, ignoring line wrapping and case. */
function leaked(output: string, s: Secret): string | undefined {
  const flat = (t: string) => t.replace(/\\n|\s|›/g, "").toUpperCase();
  const hay = flat(output);
  const pub = flat(s.publicText);
  const body = flat(s.body);
  for (let i = 0; i + 20 <= body.length; i++) {
    const piece = body.slice(i, i + 20);
    if (hay.includes(piece) && !pub.includes(piece)) return piece;
  }
  return undefined;
}

interface Case {
  name: string;
  kinds: Kind[];
  /** argv, environment and working directory for the key `k`. */
  run: (k: string) => { args: string[]; env?: NodeJS.ProcessEnv; cwd?: string };
  /** Checked after each run: the refusal left things as they were. */
  unchanged?: () => void;
}

const all: Kind[] = ["x25519", "pq", "openssh", "pkcs8"];
const asAdmin = () => ({ SOPS_AGE_KEY_FILE: admin.file });

const cases: Case[] = [
  { name: "encrypt --age", kinds: all, run: (k) => ({ args: ["encrypt", "--age", k, plain] }) },
  { name: "encrypt --age, in a list after a good recipient", kinds: ["x25519", "openssh"], run: (k) => ({ args: ["encrypt", "--age", `${admin.recipient},${k}`, plain] }) },
  { name: "SOPS_AGE_RECIPIENTS", kinds: ["x25519", "pq", "openssh"], run: (k) => ({ args: ["encrypt", plain], env: { SOPS_AGE_RECIPIENTS: k } }) },
  { name: "a .sops.yaml creation rule's age key", kinds: ["x25519"], run: (k) => ({ args: ["encrypt", "plain.yaml"], cwd: sopsDir(k) }) },
  { name: "rotate --add-age", kinds: ["x25519", "pq"], run: (k) => ({ args: ["rotate", "--add-age", k, enc], env: asAdmin() }) },
  { name: "rotate --rm-age", kinds: ["x25519"], run: (k) => ({ args: ["rotate", "--rm-age", k, enc], env: asAdmin() }) },
  { name: "edit --age (a new file)", kinds: ["x25519", "openssh"], run: (k) => ({ args: ["edit", "--age", k, join(root, "new.yaml")], env: { EDITOR: "true" } }), unchanged: () => expect(existsSync(join(root, "new.yaml"))).toBe(false) },
  { name: "keys add --key", kinds: all, run: (k) => ({ args: ["keys", "add", "bob", "--key", k, "--meta", meta], env: asAdmin() }), unchanged: () => expect(existsSync(join(meta, "keys/bob.txt"))).toBe(false) },
  { name: "keys add with the key as a stray argument", kinds: ["x25519"], run: (k) => ({ args: ["keys", "add", "bob", k, "--meta", meta], env: asAdmin() }) },
  { name: "--identity of a meta command", kinds: ["x25519", "openssh"], run: (k) => ({ args: ["config", "show", "-p", "shop", "-e", "dev", "--meta", meta, "--identity", k] }) },
  {
    name: "bootstrap --identity",
    kinds: ["x25519"],
    run: (k) => ({ args: ["bootstrap", "--meta", meta, "--project", "shop", "--env", "dev", "--identity", k, "--dir", appDir()] }),
    unchanged: () => expect(existsSync(join(appDir(), ".boot-meta.local.yaml"))).toBe(false),
  },
  { name: "SOPS_AGE_KEY_FILE", kinds: ["x25519", "pq", "openssh"], run: (k) => ({ args: ["decrypt", enc], env: { SOPS_AGE_KEY_FILE: k } }) },
  { name: "SOPS_AGE_SSH_PRIVATE_KEY_FILE", kinds: ["openssh"], run: (k) => ({ args: ["decrypt", enc], env: { SOPS_AGE_SSH_PRIVATE_KEY_FILE: k } }) },
  { name: "SOPS_AGE_KEY_CMD", kinds: ["x25519", "openssh"], run: (k) => ({ args: ["decrypt", enc], env: { SOPS_AGE_KEY_CMD: k } }) },
  { name: "SOPS_AGE_KEY holding a key of the wrong kind", kinds: ["openssh", "pkcs8"], run: (k) => ({ args: ["decrypt", enc], env: { SOPS_AGE_KEY: k } }) },
  { name: "the key as the file argument", kinds: ["x25519"], run: (k) => ({ args: ["decrypt", k] }) },
  { name: "the key as the command", kinds: ["x25519"], run: (k) => ({ args: [k] }) },
];

let sopsDirs = 0;
function sopsDir(k: string): string {
  const d = join(root, `sops-${++sopsDirs}`);
  mkdirSync(d);
  writeFileSync(join(d, ".sops.yaml"), `creation_rules:\n  - path_regex: .*\n    age: ${k}\n`);
  writeFileSync(join(d, "plain.yaml"), "a: 1\n");
  return d;
}

function appDir(): string {
  const d = join(root, "app");
  if (!existsSync(d)) git(root, "init", "-q", d);
  return d;
}

describe("a private key given where it does not belong is refused and never repeated", () => {
  for (const c of cases) {
    for (const kind of c.kinds) {
      it(`${c.name} (${kind})`, async () => {
        const s = keys[kind];
        const head = git(meta, "rev-parse", "HEAD");
        const encBefore = readFileSync(enc);
        for (const json of [false, true]) {
          const { args, env, cwd } = c.run(s.text);
          const r = await cli(json ? [...args, "--json"] : args, { env, cwd });
          const output = `${out(r)}\n${err(r)}`;
          expect(r.exitCode, output).not.toBe(0);
          expect(output).toMatch(/\S/); // it says something...
          expect(leaked(output, s), output).toBeUndefined(); // ...but not the key
          if (json && c.name !== "the key as the command") expect(JSON.parse(out(r)).error.code).toMatch(/^[A-Z_]+$/);
        }
        expect(git(meta, "rev-parse", "HEAD")).toBe(head);
        expect(readFileSync(enc).equals(encBefore)).toBe(true);
        c.unchanged?.();
      });
    }
  }

  it("says what was wrong: a private key where a recipient belongs", async () => {
    const r = await cli(["encrypt", "--json", "--age", keys.x25519.text, plain]);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "SOPS_INVALID_RECIPIENT", message: expect.stringMatching(/a private key was given where an age recipient \(a public key\) belongs/) });
  });

  it("says what was wrong: a private key where an identity file's path belongs", async () => {
    const r = await cli(["decrypt", "--json", enc], { env: { SOPS_AGE_KEY_FILE: keys.x25519.text } });
    expect(r.exitCode).toBe(128);
    expect(JSON.parse(out(r)).error).toMatchObject({ code: "SOPS_INVALID_IDENTITY", message: expect.stringMatching(/^SOPS_AGE_KEY_FILE names a file holding an age identity, but was given a private key itself/) });
  });

  it("still prints a private key that is the result asked for (config get of a stored key)", async () => {
    const set = await cli(["config", "set", "tls.age_key", "-", "-p", "shop", "-e", "dev", "--meta", meta], { env: asAdmin(), input: keys.x25519.text });
    expect(set.exitCode, err(set)).toBe(0);
    expect(leaked(err(set), keys.x25519)).toBeUndefined();
    const get = await cli(["config", "get", "tls.age_key", "-p", "shop", "-e", "dev", "--meta", meta], { env: asAdmin() });
    expect(out(get).trim()).toBe(keys.x25519.text);
  });
});

describe("redaction", () => {
  it("replaces every kind of private key, keeps public keys and hashes, and is idempotent", () => {
    const x = keys.x25519.text;
    const pq = keys.pq.text;
    const text = `a ${x} b ${x.toLowerCase()} c ${pq} d ${keys.openssh.text} e ${keys.pkcs8.text} f ${admin.recipient} g ${"ab".repeat(20)}`;
    const red = redactSecrets(text);
    for (const s of [keys.x25519, keys.pq, keys.openssh, keys.pkcs8]) expect(leaked(red, s)).toBeUndefined();
    expect(red).not.toMatch(/AGE-SECRET-KEY-1\w/i);
    expect(red).toContain(admin.recipient);
    expect(red).toContain("ab".repeat(20));
    expect(red).toContain("[redacted age post-quantum secret key]");
    expect(red).toContain("[redacted OPENSSH private key]");
    expect(redactSecrets(red)).toBe(red);
    expect(looksLikePrivateKey(red)).toBe(false);
  });

  it("redacts a PEM block cut off before its END line, and an OpenSSH body on its own", () => {
    const lines = keys.openssh.text.split("\n");
    const cut = lines.slice(0, 3).join("\n");
    expect(leaked(redactSecrets(`oops: ${cut}`), keys.openssh)).toBeUndefined();
    expect(leaked(redactSecrets(`word: ${lines[1]}`), keys.openssh)).toBeUndefined();
  });

  it("is applied to a BootMetaError's message, suggestions, data and --json form", () => {
    const k = keys.x25519.text;
    const e = new BootMetaError("INVALID_ARGUMENT", `bad ${k}`, 1, { data: { given: k, list: [k], nested: { ["__proto__"]: k } }, suggestions: [`not ${k}`] });
    const json = JSON.stringify(e);
    expect(leaked(json, keys.x25519)).toBeUndefined();
    expect(leaked(e.message, keys.x25519)).toBeUndefined();
    expect(JSON.parse(json).data.nested).toEqual({ ["__proto__"]: "[redacted age secret key]" });
  });
});

describe("values from standard input or a file, so they are never in ps", () => {
  const target = () => ["-p", "shop", "-e", "dev", "--meta", meta];
  const get = async (key: string) => JSON.parse(out(await cli(["config", "get", "--json", key, ...target()], { env: asAdmin() })));

  it("config set KEY - reads the value from standard input, exactly, as a string", async () => {
    const r = await cli(["config", "set", "db.password", "-", ...target()], { env: asAdmin(), input: "s3cret 8080\n" });
    expect(r.exitCode, err(r)).toBe(0);
    expect((await get("db.password")).value).toBe("s3cret 8080\n");
    const n = await cli(["config", "set", "db.pin", "--stdin", ...target()], { env: asAdmin(), input: "1234" });
    expect(n.exitCode, err(n)).toBe(0);
    expect((await get("db.pin")).value).toBe("1234"); // a string: typing is for values typed on the command line
  });

  it("config set --value-file (and its old name --file) reads the value from a file", async () => {
    const f = join(root, "value.txt");
    writeFileSync(f, "from a file");
    for (const flag of ["--value-file", "--file"]) {
      const r = await cli(["config", "set", "db.file", flag, f, ...target()], { env: asAdmin() });
      expect(r.exitCode, err(r)).toBe(0);
      expect((await get("db.file")).value).toBe("from a file");
    }
  });

  it("config set refuses two sources, or a missing file, and leaves the repo as it was", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const two = await cli(["config", "set", "--json", "db.x", "v", "--stdin", ...target()], { env: asAdmin(), input: "w" });
    expect(two.exitCode).toBe(2);
    expect(JSON.parse(out(two)).error).toMatchObject({ code: "INVALID_ARGUMENT", message: expect.stringMatching(/give the value exactly once/) });
    const missing = await cli(["config", "set", "--json", "db.x", "--value-file", join(root, "nope"), ...target()], { env: asAdmin() });
    expect(missing.exitCode).toBe(100);
    expect(JSON.parse(out(missing)).error.code).toBe("FILE_NOT_FOUND");
    expect(git(meta, "rev-parse", "HEAD")).toBe(head);
  });

  it("set FILE PATH - (and --value-stdin, --stdin, --value-file) reads the JSON value without it being an argument", async () => {
    const file = join(root, "set.yaml");
    writeFileSync(file, readFileSync(enc));
    const ok = async (args: string[], input?: string) => {
      const r = await cli(["set", file, ...args], { env: asAdmin(), input });
      expect(r.exitCode, err(r)).toBe(0);
    };
    await ok(['["a"]', "-"], '"from stdin"');
    await ok(['["b"]', "--value-stdin"], '{"n": 1}');
    await ok(['["c"]', "--stdin"], "true");
    const vf = join(root, "value.json");
    writeFileSync(vf, '"from a file"');
    await ok(['["d"]', "--value-file", vf]);
    const dec = await cli(["decrypt", "--output-type", "json", file], { env: asAdmin() });
    expect(JSON.parse(out(dec))).toMatchObject({ a: "from stdin", b: { n: 1 }, c: true, d: "from a file" });
    const before = readFileSync(file);
    const two = await cli(["set", "--json", file, '["e"]', '"x"', "--value-stdin"], { env: asAdmin(), input: '"y"' });
    expect(two.exitCode).toBe(2);
    expect(JSON.parse(out(two)).error.code).toBe("INVALID_ARGUMENT");
    expect(readFileSync(file).equals(before)).toBe(true);
  });
});

describe("exec-env and the identity variables", () => {
  it("keeps SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and SOPS_AGE_KEY_CMD from the command unless --keep-key-env", async () => {
    const envFile = join(root, "app.env");
    writeFileSync(envFile, "DATABASE_URL=postgres://db/app\n");
    const e = await cli(["encrypt", "--in-place", "--age", admin.recipient, envFile]);
    expect(e.exitCode, err(e)).toBe(0);
    const identity = readFileSync(admin.file, "utf8").split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-1")) as string;
    const env = { SOPS_AGE_KEY_FILE: admin.file, SOPS_AGE_KEY: identity, SOPS_AGE_KEY_CMD: `cat ${admin.file}`, OTHER: "kept" };
    const show = 'echo "url=$DATABASE_URL other=$OTHER file=${SOPS_AGE_KEY_FILE-unset} key=${SOPS_AGE_KEY:+set} cmd=${SOPS_AGE_KEY_CMD-unset}"';
    const r = await cli(["exec-env", envFile, show], { env });
    expect(r.exitCode, err(r)).toBe(0);
    expect(out(r).trim()).toBe("url=postgres://db/app other=kept file=unset key= cmd=unset");
    const kept = await cli(["exec-env", "--keep-key-env", envFile, show], { env });
    expect(kept.exitCode, err(kept)).toBe(0);
    expect(out(kept).trim()).toBe(`url=postgres://db/app other=kept file=${admin.file} key=set cmd=cat ${admin.file}`);
  });
});
