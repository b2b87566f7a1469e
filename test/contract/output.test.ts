import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt } from "../helpers/build.js";
import { ageKeyFile, cliWith, err, out, spawnCliProcess } from "../helpers/cli.js";
import { git, tempDir } from "../helpers/gitdir.js";
import { agentArgs, fleetRepo } from "../helpers/fleet.js";
import { sourceRepo } from "../helpers/records.js";

// STYLE.md "The CLI contract is checked in": every command's --json success output has a JSON
// schema in test/contract/schemas/<command path>.json, every failure the one shape of
// error.schema.json, and this file runs each command in a realistic meta repo (the demo's,
// plus a signed binary and a plain sops directory) and holds its output to them. The tests build
// on each other's state, in order, starting from the demo: run the file whole.

const HERE = import.meta.dirname;
const SCHEMAS = join(HERE, "schemas");
const ajv = new Ajv({ allErrors: true, strict: true });
ajv.addSchema(JSON.parse(readFileSync(join(HERE, "records.schema.json"), "utf8")));
const errorSchema = ajv.compile(JSON.parse(readFileSync(join(HERE, "error.schema.json"), "utf8")));

/** The command ids oclif knows (the built manifest, rebuilt when src/ changed). */
function commandIds(): string[] {
  ensureBuilt();
  return Object.keys(JSON.parse(readFileSync(join(HERE, "../../oclif.manifest.json"), "utf8")).commands).sort();
}

function schemaOf(id: string): ValidateFunction {
  return ajv.compile(JSON.parse(readFileSync(join(SCHEMAS, `${id.split(":").join("/")}.json`), "utf8")));
}

const cli = cliWith();
const exercised = new Set<string>();
let demo: string;
let env: NodeJS.ProcessEnv;

/** Runs `boot-meta ARGS --json` in the demo as its admin, checks the exit code, and returns the parsed output. */
async function run(id: string, args: string[], o: { exitCode?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<unknown> {
  // Before a `--` (run's command follows it), where boot-meta reads it as its own.
  const dash = args.indexOf("--");
  const words = dash === -1 ? [...args, "--json"] : [...args.slice(0, dash), "--json", ...args.slice(dash)];
  const r = await cli([...id.split(":"), ...words], { cwd: o.cwd ?? demo, env: { ...env, ...o.env } });
  expect(r.exitCode, `${id} ${args.join(" ")}: ${err(r)}${out(r)}`).toBe(o.exitCode ?? 0);
  const text = out(r);
  if (process.env.CONTRACT_DUMP) writeFileSync(join(process.env.CONTRACT_DUMP, `${id.replaceAll(":", "_")}${o.exitCode ? ".error" : ""}.json`), text);
  return JSON.parse(text);
}

function holds(validate: ValidateFunction, value: unknown): void {
  const ok = validate(value);
  expect(ok ? [] : validate.errors?.map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`), JSON.stringify(value, null, 2).slice(0, 2000)).toEqual([]);
}

/** Runs a command that succeeds and holds its output to its schema. */
async function succeeds(id: string, args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string; exitCode?: number } = {}): Promise<any> {
  const value = await run(id, args, o);
  holds(schemaOf(id), value);
  exercised.add(id);
  return value;
}

/** Runs a command that fails and holds its output to the error schema. */
async function fails(id: string, args: string[], exitCode: number, code: string, o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<void> {
  const value = await run(id, args, { ...o, exitCode });
  holds(errorSchema, value);
  expect((value as { error: { code: string } }).error.code).toBe(code);
}

beforeAll(async () => {
  commandIds();
  if (process.env.CONTRACT_DUMP) mkdirSync(process.env.CONTRACT_DUMP, { recursive: true });
  demo = join(tempDir(), "demo");
  env = {};
});

describe("each command's --json output holds to its checked-in schema", () => {
  it("demo: the fixture every other command runs in", async () => {
    const r = await succeeds("demo", [demo], { cwd: tempDir() });
    env = { SOPS_AGE_KEY_FILE: r.identities.admin, BOOT_META_REPO: demo };
  });

  it("access, keys, project, env", async () => {
    await succeeds("access:show", []);
    await succeeds("access:check", ["--verify"]);
    await succeeds("access:sync", []);
    await succeeds("access:history", ["alice", "--plan"]);
    await succeeds("keys:list", []);
    await succeeds("keys:allowed-signers", []);
    await succeeds("keys:allowed-signers", ["--write"]);
    const carol = await ageKeyFile();
    await succeeds("keys:add", ["carol", "--key", carol.recipient, "--group", "developers"]);
    await succeeds("keys:remove", ["carol"]);
    await succeeds("project:create", ["web", "--source-repo", "https://example.invalid/org/web"]);
    await succeeds("env:create", ["web", "dev"]);
  });

  it("config", async () => {
    const t = ["-p", "shop", "-e", "dev/alice"];
    await succeeds("config:show", [...t, "--origin"]);
    await succeeds("config:diff", ["-p", "shop", "dev", "dev/alice", "--values"]);
    await succeeds("config:get", ["database.url", ...t]);
    await succeeds("config:set", ["app.port", "8080", ...t]);
    await succeeds("config:unset", ["app.port", ...t]);
    const editor = join(tempDir(), "editor.sh");
    writeFileSync(editor, `#!/bin/sh\nprintf 'edited: true\\n' >> "$1"\n`, { mode: 0o755 });
    await succeeds("config:edit", t, { env: { EDITOR: editor } });
    // The command's exit code is boot-meta's, and --json reports it with the variables' names.
    const ran = await succeeds("run", [...t, "--", "sh", "-c", 'test -n "$DATABASE_URL" && exit 3'], { exitCode: 3 });
    expect(ran.variables).toContain("DATABASE_URL");
    await fails("config:get", ["no.such.key", ...t], 1, "CONFIG_KEY_NOT_FOUND");
  });

  it("flags", async () => {
    const t = ["-p", "shop", "-e", "dev"];
    await succeeds("flags:set", ["color", "--variants", '{"red": "#f00", "blue": "#00f"}', "--default-variant", "red", "--targeting", '{"fractional": [["red", 50], ["blue", 50]]}', ...t]);
    await succeeds("flags:list", t);
    await succeeds("flags:get", ["color", ...t]);
    await succeeds("flags:disable", ["new_checkout", ...t]);
    await succeeds("flags:enable", ["new_checkout", ...t]);
    const r = await succeeds("flags:eval", ["color", ...t, "--targeting-key", "user-1"]);
    expect(r.reason).toBe("SPLIT");
    await succeeds("flags:eval", ["nope", ...t]);
    await fails("flags:get", ["nope", ...t], 1, "FLAGS_NOT_FOUND");
    await fails("flags:set", ["bad", "--json-value", '{"state": "ON", "variants": {"a": 1}}', ...t], 49, "FLAGS_INVALID");
    const flagd = join(tempDir(), "flags.flagd.json");
    writeFileSync(flagd, JSON.stringify({ flags: { banner: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { if: [{ $ref: "beta" }, "on", null] } } }, $evaluators: { beta: { "===": [{ var: "channel" }, "beta"] } } }));
    await succeeds("flags:import", [flagd, ...t]);
  });

  it("records: release, channel, binary, instance, buildinfo", async () => {
    const app = sourceRepo("shop");
    await succeeds("buildinfo", ["--repo", app, "--project", "shop", "--version", "2.0"]);
    const lib = sourceRepo("lib");
    writeFileSync(join(lib, "go.mod"), "module example.invalid/org/lib\n");
    git(lib, "add", "go.mod");
    git(lib, "commit", "-q", "-m", "a Go module");
    const rel = await succeeds("release:create", ["shop", "--version", "2.0", "--repo", app, "--repo", lib, "--notes", "contract"]);
    await succeeds("release:list", ["shop"]);
    const shown = await succeeds("release:show", ["shop", "2.0"]);
    // A record verb's --format json is --json by another name.
    expect(JSON.parse(out(await cli(["release", "show", "shop", "2.0", "--format", "json"], { cwd: demo, env })))).toEqual(shown);
    await succeeds("imports:set", ["-p", "shop", "--channel", "beta", "example.invalid/org/lib", "--release", "shop:2.0"]);
    await succeeds("imports:show", ["-p", "shop", "--channel", "beta"]);
    await succeeds("imports:resolve", ["-p", "shop", "--channel", "beta"]);
    expect((await succeeds("release:create", ["shop", "--version", "2.0-beta", "--repo", app, "--imports", "beta"])).imports).toHaveLength(1);
    await succeeds("imports:unset", ["-p", "shop", "--channel", "beta", "example.invalid/org/lib"]);
    await fails("imports:resolve", ["-p", "shop", "--channel", "beta"], 1, "IMPORT_NO_PINS");
    await succeeds("channel:show", ["shop", "stable", "--instance", "web-7"]);
    await succeeds("channel:promote", ["shop", "stable", "2.0", "--percent", "50"]);
    await succeeds("channel:rollback", ["shop", "stable"]);
    await succeeds("channel:history", ["shop", "stable"]);
    await succeeds("channel:approve", ["shop", "stable", "2.0", "--as", "admin"]);
    // A channel with no recorded instances: each wave is healthy as soon as it is promoted.
    await succeeds("channel:promote", ["shop", "captain-contract", (await succeeds("channel:show", ["shop", "stable"])).channel.releaseId]);
    await succeeds("captain", ["-p", "shop", "--channel", "captain-contract", "--to", "2.0", "--waves", "50,100", "--soak", "0", "--poll", "1s"]);
    await succeeds("instance:report", ["shop", "web-1", "--channel", "stable", "--release", rel.id, "--status", "running"]);
    await succeeds("instance:list", ["shop"]);

    // A binary signed by a trusted signer, so that `binary verify` succeeds.
    const keys = tempDir();
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", join(keys, "ci")]);
    mkdirSync(join(demo, "keys/signers"), { recursive: true });
    writeFileSync(join(demo, "keys/signers/ci.pub"), readFileSync(join(keys, "ci.pub")));
    git(demo, "add", "keys/signers/ci.pub");
    git(demo, "commit", "-q", "-m", "trust ci's signing key");
    const file = join(tempDir(), "shop-2.0-linux-arm64");
    writeFileSync(file, "#!/bin/sh\necho shop 2.0\n", { mode: 0o755 });
    await succeeds("binary:add", ["shop", file, "--release", "2.0", "--os", "linux", "--arch", "arm64", "--url", "https://artifacts.invalid/shop/2.0", "--sign-key", join(keys, "ci"), "--signer", "ci"]);
    await succeeds("binary:which", [file]);
    await succeeds("binary:verify", [file]);
    writeFileSync(file, "altered");
    await fails("binary:verify", [file], 1, "BINARY_UNVERIFIED");
  });

  it("agent: one step with --once, and a refusal", async () => {
    const f = await fleetRepo();
    await f.release("1.0");
    await f.promote("1.0");
    const install = join(tempDir(), "shop");
    const args = agentArgs(f, install, ["--meta", f.remote, "--once"]).slice(1);
    expect(await succeeds("agent", args)).toMatchObject({ action: "installed" });
    await f.release("1.1", { sign: "none" });
    await f.promote("1.1");
    await fails("agent", args, 1, "BINARY_SIGNATURE_INVALID");
  });

  it("token", async () => {
    const made = await succeeds("token:create", ["alice", "--scope", "events:read", "--scope", "instances:read", "--project", "shop", "--expires", "30d"]);
    await succeeds("token:list", []);
    await succeeds("token:revoke", [made.id]);
    await fails("token:create", ["nobody", "--scope", "events:read", "--project", "shop"], 1, "META_NO_PRINCIPAL");
  });

  it("the sops verbs, on a directory with its own .sops.yaml", async () => {
    const key = await ageKeyFile();
    const dir = tempDir();
    writeFileSync(join(dir, ".sops.yaml"), `creation_rules:\n  - path_regex: \\.yaml$\n    age: ${key.recipient}\n`);
    writeFileSync(join(dir, "app.yaml"), "database:\n  password: s3cret\nport: 8080\n");
    const o = { cwd: dir, env: { SOPS_AGE_KEY_FILE: key.file } };
    await succeeds("filestatus", ["app.yaml"], o);
    await succeeds("encrypt", ["app.yaml"], o);
    await succeeds("encrypt", ["-i", "app.yaml"], o);
    await succeeds("decrypt", ["app.yaml"], o);
    await succeeds("decrypt", ["--output", "plain.yaml", "app.yaml"], o);
    await succeeds("set", ["app.yaml", '["database"]["user"]', '"app"'], o);
    await succeeds("unset", ["app.yaml", '["database"]["user"]'], o);
    const editor = join(dir, "editor.sh");
    writeFileSync(editor, `#!/bin/sh\nprintf 'edited: true\\n' >> "$1"\n`, { mode: 0o755 });
    await succeeds("edit", ["app.yaml"], { ...o, env: { ...o.env, EDITOR: editor } });
    await succeeds("rotate", ["-i", "app.yaml"], o);
    await succeeds("updatekeys", ["app.yaml"], o);
    writeFileSync(join(dir, "flat.yaml"), "DATABASE_URL: postgres://db/app\n");
    await succeeds("encrypt", ["-i", "flat.yaml"], o);
    // The command's exit code is boot-meta's, and --json reports it.
    const ran = await succeeds("exec-env", ["flat.yaml", 'test -n "$DATABASE_URL" && exit 3'], { ...o, exitCode: 3 });
    expect(ran.exitCode).toBe(3);
    const stranger = await ageKeyFile();
    await fails("decrypt", ["app.yaml"], 128, "SOPS_DATA_KEY_UNAVAILABLE", { cwd: dir, env: { SOPS_AGE_KEY_FILE: stranger.file } });
  });

  it("meta repo set-up: init, bootstrap", async () => {
    const dir = tempDir();
    await succeeds("init", [join(dir, "meta")]);
    const ssh = join(dir, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "admin@test (test-only key)", "-f", ssh]);
    const admin = await succeeds("init", [join(dir, "signed"), "--admin", "admin", "--key", (await ageKeyFile()).recipient, "--key", readFileSync(`${ssh}.pub`, "utf8").trim()]);
    expect(admin.trustRoot).toBe(git(join(dir, "signed"), "rev-parse", "HEAD"));
    mkdirSync(join(dir, "app"));
    await succeeds("bootstrap", ["--meta", "../meta", "--project", "shop", "--env", "dev", "--dir", join(dir, "app")]);
    // The demo's commits are not signed: verified from HEAD there is nothing to check; from
    // the commit before, one unsigned commit.
    await succeeds("verify", ["--from", git(demo, "rev-parse", "HEAD")]);
    await fails("verify", ["--from", git(demo, "rev-parse", "HEAD~1")], 1, "VERIFY_FAILED");
    // An approval of the demo's last change to keys/ (a quorum's second admin would make it).
    await succeeds("approve", [git(demo, "log", "-1", "--format=%H", "--", "keys"), "--as", "admin"]);
  });

  it("help and completion", async () => {
    await succeeds("help", []);
    await succeeds("help", ["channel"]);
    await succeeds("help", ["config", "set"]);
    await succeeds("completion", ["bash"]);
    await fails("help", ["confg", "sett"], 2, "COMMAND_NOT_FOUND");
  });

  it("git drivers and check: in a clone of the demo, so the demo's own git config stays as it was", async () => {
    const clone = join(tempDir(), "clone");
    execFileSync("git", ["clone", "-q", demo, clone]);
    await succeeds("git:setup", ["--meta", clone], { cwd: clone });
    await succeeds("check", ["--meta", clone], { cwd: clone });
    await succeeds("check", ["--staged", "--meta", clone], { cwd: clone });
    writeFileSync(join(clone, "shop/envs/prod/plain.yaml"), "k: v\n");
    git(clone, "add", "shop/envs/prod/plain.yaml");
    await fails("check", ["--staged", "--meta", clone], 1, "CHECK_FINDINGS", { cwd: clone });
    const file = join(clone, "shop/envs/prod/config.sops.yaml");
    await succeeds("git:textconv", [file], { cwd: clone });
    const side = (name: string) => {
      const p = join(tempDir(), name);
      writeFileSync(p, readFileSync(file));
      return p;
    };
    await succeeds("git:merge-file", [side("base"), side("ours"), side("theirs"), "shop/envs/prod/config.sops.yaml"], { cwd: clone });
  });

  it("serve: a line when it listens, one when it stops", async () => {
    const p = spawnCliProcess(env)(["serve", "--meta", demo, "--listen", "127.0.0.1:0", "--cache-dir", tempDir(), "--log-level", "silent", "--json"]);
    const first = await new Promise<string>((resolve, reject) => {
      let buf = "";
      p.stdout?.on("data", (c: Buffer) => {
        buf += c.toString("utf8");
        if (buf.includes("\n")) resolve(buf.slice(0, buf.indexOf("\n")));
      });
      p.once("exit", () => reject(new Error(`serve exited before listening: ${buf}`)));
    });
    const listening = JSON.parse(first);
    holds(schemaOf("serve"), listening);
    expect((await fetch(`${listening.url}/healthz`)).status).toBe(200);
    p.kill("SIGTERM");
    const r = await p;
    expect(r.exitCode).toBe(0);
    const text = out(r);
    expect(text.slice(0, text.indexOf("\n"))).toBe(first);
    const stopped = JSON.parse(text.slice(text.indexOf("\n") + 1));
    holds(schemaOf("serve"), stopped);
    expect(stopped).toEqual({ ...listening, event: "stopped" });
    exercised.add("serve");
  });

  it("every command has a schema and was run here", () => {
    const ids = commandIds();
    const schemas = readdirSync(SCHEMAS, { recursive: true, encoding: "utf8" })
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -5).split("/").join(":"))
      .sort();
    expect(schemas).toEqual(ids);
    expect([...exercised].sort()).toEqual(ids);
  });
});
