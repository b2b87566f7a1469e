import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { flattenConfig } from "../../src/config/flatten.js";
import { type BootMetaError, isBootMetaError } from "../../src/errors.js";
import { ageKeyFile, cliWith, err, out } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";

// `boot-meta run -p P -e E -- CMD`: the merged config as the command's environment. The
// flattening rules are checked on the pure function, case by case; the command itself runs
// against a real meta repo, with a real `node -e` child that prints the environment it got.

const cli = cliWith();
let root: string;
let meta: string;
let admin: Awaited<ReturnType<typeof ageKeyFile>>;
const asAdmin = () => ({ SOPS_AGE_KEY_FILE: admin.file });

/** Node, printing the environment it was given as JSON on stdout. */
const PRINT_ENV = [process.execPath, "-e", "process.stdout.write(JSON.stringify(process.env))"];

/** Replaces a layer's whole plaintext through `config edit` (the editor copies `yaml` over it). */
async function writeLayer(env: string, yaml: string): Promise<void> {
  const src = join(root, `layer-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(src, yaml);
  const r = await cli(["config", "edit", "-p", "shop", "-e", env, "--meta", meta], { env: { ...asAdmin(), EDITOR: `cp ${src}` } });
  expect(r.exitCode, err(r)).toBe(0);
}

async function runShop(env: string, extra: string[], o: { env?: NodeJS.ProcessEnv; command?: string[] } = {}) {
  return cli(["run", "-p", "shop", "-e", env, "--meta", meta, ...extra, "--", ...(o.command ?? PRINT_ENV)], { env: o.env ?? asAdmin() });
}

function thrown(f: () => unknown): BootMetaError {
  try {
    f();
  } catch (e) {
    if (isBootMetaError(e)) return e;
    throw e;
  }
  throw new Error("expected a BootMetaError");
}

beforeAll(async () => {
  root = tempDir();
  meta = join(root, "meta");
  admin = await ageKeyFile(root);
  for (const args of [["init", meta], ["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta], ["project", "create", "shop", "--meta", meta], ["env", "create", "shop", "dev", "--meta", meta], ["env", "create", "shop", "clash", "--meta", meta]]) {
    const r = await cli(args, { env: asAdmin() });
    expect(r.exitCode, `${args.join(" ")}: ${err(r)}`).toBe(0);
  }
  await writeLayer(
    "dev",
    `database:
  url: postgres://db/shop
  pool: 8
feature-x:
  on: true
ratio: 1.5
ports: [80, 443]
greeting: "hello, world = 1"
empty: {}
flags:
  beta: true
`,
  );
  await writeLayer("clash", "database:\n  url: postgres://one/secret-one\ndatabase-url: postgres://two/secret-two\n");
});

describe("flattening the config into variable names and values", () => {
  it("joins nested keys with _, upper-cases them, and writes every other character as _", () => {
    const v = flattenConfig({ database: { url: "u" }, "feature-x": { on: true }, "a.b": 1, café: "c", __proto__x: 2, srv: { "http.port": 80 } });
    expect(Object.fromEntries(v)).toEqual({ DATABASE_URL: "u", FEATURE_X_ON: "true", A_B: "1", CAF_: "c", __PROTO__X: "2", SRV_HTTP_PORT: "80" });
  });

  it("a key literally named __proto__ or constructor is a key like any other", () => {
    const v = flattenConfig(JSON.parse('{"__proto__": {"x": "p"}, "constructor": "k"}'));
    expect(Object.fromEntries(v)).toEqual({ __PROTO___X: "p", CONSTRUCTOR: "k" });
  });

  it("writes strings as they are, numbers and booleans as their JSON text; null and empty maps set nothing", () => {
    const v = flattenConfig({ s: "  spaced = and, comma\nline ", i: 8080, f: 1.5, neg: -3, yes: true, no: false, big: "123456789012345678901234567890", none: null, m: {} });
    expect(Object.fromEntries(v)).toEqual({ S: "  spaced = and, comma\nline ", I: "8080", F: "1.5", NEG: "-3", YES: "true", NO: "false", BIG: "123456789012345678901234567890" });
  });

  it("joins lists of scalars with commas by default, as envconfig splits them", () => {
    expect(Object.fromEntries(flattenConfig({ ports: [80, 443], hosts: ["a", "b"], mixed: [1, "x", true], none: [] }))).toEqual({ PORTS: "80,443", HOSTS: "a,b", MIXED: "1,x,true", NONE: "" });
  });

  it("refuses a list that comma-joining would change, naming the key and not the value", () => {
    for (const [list, why] of [
      [["ok", "s3cret,pw"], /item 1 holds a comma/],
      [[{ host: "s3cret" }], /item 0 is a map/],
      [[["s3cret"]], /item 0 is a list/],
      [["s3cret", null], /item 1 is null/],
    ] as const) {
      const e = thrown(() => flattenConfig({ db: { hosts: list } }));
      expect(e.code).toBe("RUN_ENV_UNREPRESENTABLE");
      expect(e.message).toMatch(why);
      expect(e.message).toMatch(/^config key db\.hosts /);
      expect(JSON.stringify(e.toJSON())).not.toContain("s3cret");
      expect(e.suggestions.join(" ")).toMatch(/--lists json/);
    }
  });

  it("writes lists as JSON text with lists: json", () => {
    const v = flattenConfig({ hosts: [{ host: "a", port: 1 }, "b,c", null], ports: [80] }, { lists: "json" });
    expect(Object.fromEntries(v)).toEqual({ HOSTS: '[{"host":"a","port":1},"b,c",null]', PORTS: "[80]" });
  });

  it("leaves the flags section out unless asked, then flattens it as FLAGS_…", () => {
    const config = { app: { name: "shop" }, flags: { beta: true, "new-checkout": { variants: { on: true, off: false }, defaultVariant: "off" } } };
    expect([...flattenConfig(config).keys()]).toEqual(["APP_NAME"]);
    expect(Object.fromEntries(flattenConfig(config, { includeFlags: true }))).toEqual({ APP_NAME: "shop", FLAGS_BETA: "true", FLAGS_NEW_CHECKOUT_VARIANTS_ON: "true", FLAGS_NEW_CHECKOUT_VARIANTS_OFF: "false", FLAGS_NEW_CHECKOUT_DEFAULTVARIANT: "off" });
    // Only the top-level section: a nested key called flags is config like any other.
    expect([...flattenConfig({ db: { flags: "x" } }).keys()]).toEqual(["DB_FLAGS"]);
  });

  it("puts --prefix before every name", () => {
    expect([...flattenConfig({ database: { url: "u" }, port: 1 }, { prefix: "APP_" }).keys()]).toEqual(["APP_DATABASE_URL", "APP_PORT"]);
  });

  it("refuses a key that would become a name starting with a digit (or no name), and --prefix is the way out", () => {
    const e = thrown(() => flattenConfig({ "2fa": { secret: "s3cret" } }));
    expect(e.code).toBe("RUN_ENV_INVALID_NAME");
    expect(e.message).toBe('config key 2fa.secret would become "2FA_SECRET", which is not an environment variable name (a letter or _ first, then letters, digits and _)');
    expect(e.suggestions.join(" ")).toMatch(/--prefix/);
    expect(thrown(() => flattenConfig({ "": "s3cret" })).code).toBe("RUN_ENV_INVALID_NAME");
    expect(Object.fromEntries(flattenConfig({ "2fa": { secret: "s" } }, { prefix: "APP_" }))).toEqual({ APP_2FA_SECRET: "s" });
  });

  it("refuses two keys that become one name, naming both keys and no value", () => {
    const e = thrown(() => flattenConfig({ database: { url: "s3cret-a" }, "database-url": "s3cret-b", "Database.URL": "s3cret-c", ok: 1 }));
    expect(e.code).toBe("RUN_ENV_COLLISION");
    expect(e.message).toBe("config keys collide as environment variables: database.url and database-url and [\"Database.URL\"] would all become DATABASE_URL");
    expect(e.data).toEqual({ collisions: [{ name: "DATABASE_URL", keys: ["database.url", "database-url", '["Database.URL"]'] }] });
    expect(JSON.stringify(e.toJSON())).not.toContain("s3cret");
  });

  it("refuses a key that becomes a name the caller sets itself", () => {
    const e = thrown(() => flattenConfig({ boot_meta: { commit: "x" } }, { reserved: ["BOOT_META_COMMIT"] }));
    expect(e.code).toBe("RUN_ENV_COLLISION");
    expect(e.message).toMatch(/boot_meta\.commit would become BOOT_META_COMMIT, which boot-meta run sets itself/);
  });

  it("refuses a value no environment variable can carry, without repeating it", () => {
    const e = thrown(() => flattenConfig({ token: "s3cret\0tail" }));
    expect(e.code).toBe("RUN_ENV_UNREPRESENTABLE");
    expect(e.message).toBe("config key token holds a NUL byte, which no environment variable can carry");
  });
});

describe("boot-meta run", () => {
  it("starts the command with the config as variables and BOOT_META_COMMIT/PROJECT/ENV", async () => {
    const r = await runShop("dev", []);
    expect(r.exitCode, err(r)).toBe(0);
    const env = JSON.parse(out(r));
    expect(env).toMatchObject({ DATABASE_URL: "postgres://db/shop", DATABASE_POOL: "8", FEATURE_X_ON: "true", RATIO: "1.5", PORTS: "80,443", GREETING: "hello, world = 1" });
    expect(env).toMatchObject({ BOOT_META_COMMIT: git(meta, "rev-parse", "HEAD"), BOOT_META_PROJECT: "shop", BOOT_META_ENV: "dev" });
    expect(Object.keys(env).filter((k) => k.startsWith("FLAGS") || k.startsWith("EMPTY"))).toEqual([]);
  });

  it("--prefix, --lists json and --include-flags reach the command", async () => {
    const r = await runShop("dev", ["--prefix", "SHOP_", "--lists", "json", "--include-flags"]);
    expect(r.exitCode, err(r)).toBe(0);
    const env = JSON.parse(out(r));
    expect(env).toMatchObject({ SHOP_DATABASE_URL: "postgres://db/shop", SHOP_PORTS: "[80,443]", SHOP_FLAGS_BETA: "true", BOOT_META_ENV: "dev" });
    expect(env.DATABASE_URL).toBeUndefined();
  });

  it("passes its own environment on, with the config's values over it", async () => {
    const r = await runShop("dev", [], { env: { ...asAdmin(), DATABASE_URL: "postgres://from-the-parent", UNRELATED: "kept", BOOT_META_ENV: "prod" } });
    const env = JSON.parse(out(r));
    expect(env).toMatchObject({ DATABASE_URL: "postgres://db/shop", UNRELATED: "kept", BOOT_META_ENV: "dev" });
  });

  it("never passes the age identity variables on, whichever of them opened the config", async () => {
    const fromFile = JSON.parse(out(await runShop("dev", [])));
    expect(fromFile.SOPS_AGE_KEY_FILE).toBeUndefined();
    expect(fromFile.DATABASE_URL).toBe("postgres://db/shop");

    const all = { SOPS_AGE_KEY: admin.identity, SOPS_AGE_KEY_FILE: admin.file, SOPS_AGE_KEY_CMD: `cat ${admin.file}`, SOPS_AGE_SSH_PRIVATE_KEY_FILE: join(root, "id_ed25519"), SOPS_AGE_SSH_PRIVATE_KEY_CMD: "true" };
    const r = await runShop("dev", ["--identity", admin.file], { env: all });
    expect(r.exitCode, err(r)).toBe(0);
    const env = JSON.parse(out(r));
    expect(Object.keys(env).filter((k) => k.startsWith("SOPS_"))).toEqual([]);
    expect(out(r)).not.toContain(admin.identity);
  });

  it("exits with the command's exit code, and 128 + the signal's number when a signal ended it", async () => {
    expect((await runShop("dev", [], { command: [process.execPath, "-e", "process.exit(7)"] })).exitCode).toBe(7);
    expect((await runShop("dev", [], { command: [process.execPath, "-e", 'process.kill(process.pid, "SIGKILL")'] })).exitCode).toBe(128 + 9);
  });

  it("gives the command stdin, and the words after -- as they are (even ones equal to a flag's value)", async () => {
    const r = await cli(["run", "-p", "shop", "-e", "dev", "--meta", meta, "--", process.execPath, "-e", "process.stdin.pipe(process.stdout); process.stderr.write(JSON.stringify(process.argv.slice(1)))", "shop", "dev", "--json"], { env: asAdmin(), input: "from stdin" });
    expect(r.exitCode, err(r)).toBe(0);
    expect(out(r)).toBe("from stdin");
    expect(JSON.parse(err(r))).toEqual(["shop", "dev", "--json"]);
  });

  it("--json: the command's output goes to stderr, and the answer names the variables, never their values", async () => {
    const r = await runShop("dev", ["--json"], { command: [process.execPath, "-e", "console.log('child says hi'); process.exit(3)"] });
    expect(r.exitCode).toBe(3);
    expect(err(r)).toContain("child says hi");
    const answer = JSON.parse(out(r));
    expect(answer).toEqual({ exitCode: 3, commit: git(meta, "rev-parse", "HEAD"), project: "shop", env: "dev", variables: ["DATABASE_POOL", "DATABASE_URL", "FEATURE_X_ON", "GREETING", "PORTS", "RATIO"], restarts: 0 });
    expect(out(r)).not.toContain("postgres://");
  });

  it("refuses two keys that become one variable, names both, and starts nothing", async () => {
    const marker = join(root, "started");
    const r = await runShop("clash", ["--json"], { command: ["touch", marker] });
    expect(r.exitCode).toBe(1);
    const e = JSON.parse(out(r)).error;
    expect(e.code).toBe("RUN_ENV_COLLISION");
    expect(e.message).toBe("config keys collide as environment variables: database.url and database-url would both become DATABASE_URL");
    expect(out(r) + err(r)).not.toContain("secret-");
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses a config it cannot open, and starts nothing", async () => {
    const stranger = await ageKeyFile(root);
    const marker = join(root, "started-denied");
    const r = await runShop("dev", [], { env: { SOPS_AGE_KEY_FILE: stranger.file }, command: ["touch", marker] });
    expect(r.exitCode).toBe(128);
    expect(err(r)).toMatch(/CONFIG_ACCESS_DENIED/);
    expect(existsSync(marker)).toBe(false);
  });

  it("says what is wrong with the command line", async () => {
    const noDash = await cli(["run", "-p", "shop", "-e", "dev", "--meta", meta, "env"], { env: asAdmin() });
    expect(noDash.exitCode).toBe(2);
    expect(err(noDash)).toMatch(/INVALID_ARGUMENT.*no command to run: put it after --/);
    const prefix = await runShop("dev", ["--prefix", "9x"]);
    expect(prefix.exitCode).toBe(2);
    expect(err(prefix)).toMatch(/--prefix "9x" is not the start of an environment variable name/);
    const signal = await runShop("dev", ["--watch", "--signal", "SIGNOPE"]);
    expect(signal.exitCode).toBe(2);
    expect(err(signal)).toMatch(/--signal "SIGNOPE" is not a signal/);
    const noWatch = await runShop("dev", ["--signal", "SIGHUP"]);
    expect(noWatch.exitCode).toBe(2);
    expect(err(noWatch)).toMatch(/apply to --watch/);
    const missing = await runShop("dev", [], { command: [join(root, "no-such-server")] });
    expect(missing.exitCode).toBe(127);
    expect(err(missing)).toMatch(/RUN_COMMAND_NOT_FOUND.*cannot run .*no-such-server: no such file/);
    writeFileSync(join(root, "not-executable"), "#!/bin/sh\n");
    const notExec = await runShop("dev", [], { command: [join(root, "not-executable")] });
    expect(notExec.exitCode).toBe(126);
    expect(err(notExec)).toMatch(/RUN_COMMAND_NOT_STARTED.*EACCES.*chmod \+x/s);
  });
});
