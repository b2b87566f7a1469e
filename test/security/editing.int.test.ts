import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa, type ResultPromise } from "execa";
import { beforeAll, describe, expect, it } from "vitest";
import { editConfig } from "../../src/config/edit.js";
import { isBootMetaError } from "../../src/errors.js";
import { scratchRoot } from "../../src/scratch.js";
import { loadIdentities } from "../../src/sops/identities.js";
import { ageKeyFile, BIN, err, out, spawnCliProcess } from "../helpers/cli.js";
import { git, gitEnv, tempDir } from "../helpers/gitdir.js";

// Plaintext scratch files of `edit` and `config edit`: where they live, that they go away on
// SIGINT/SIGTERM/SIGHUP and after a SIGKILL, and that `config edit` holds no lock while the
// editor is open. The editors are small node scripts that report what they saw.

// Real processes: these tests send signals to the CLI and its editor.
const cli = spawnCliProcess();
let root: string;
let admin: Awaited<ReturnType<typeof ageKeyFile>>;
let meta: string;
const asAdmin = () => ({ SOPS_AGE_KEY_FILE: admin.file });

/** An editor script: records its file, modes and pid in $REPORT, then runs `body` (JS, with `file` in scope). */
function editor(name: string, body: string): string {
  const script = join(root, `${name}.cjs`);
  writeFileSync(
    script,
    `const fs = require("node:fs"); const path = require("node:path");
const file = process.argv[2];
fs.writeFileSync(process.env.REPORT, JSON.stringify({ file, pid: process.pid, dirMode: fs.statSync(path.dirname(file)).mode & 0o777, fileMode: fs.statSync(file).mode & 0o777 }));
${body}
`,
  );
  return `${process.execPath} ${script}`;
}

const HANG = "setTimeout(() => {}, 600000);";

async function reportOf(report: string): Promise<{ file: string; pid: number; dirMode: number; fileMode: number }> {
  while (!existsSync(report) || readFileSync(report, "utf8") === "") await sleep(50);
  return JSON.parse(readFileSync(report, "utf8"));
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

async function encryptedFile(name: string, content = "db:\n    password: hunter2\n"): Promise<string> {
  const file = join(root, name);
  writeFileSync(file, content);
  const r = await cli(["encrypt", "--in-place", "--age", admin.recipient, file]);
  expect(r.exitCode, err(r)).toBe(0);
  return file;
}

beforeAll(async () => {
  root = tempDir();
  admin = await ageKeyFile(root);
  meta = join(root, "meta");
  for (const args of [["init", meta], ["keys", "add", "admin", "--key", admin.recipient, "--group", "admins", "--meta", meta], ["project", "create", "shop", "--meta", meta], ["env", "create", "shop", "prod", "--meta", meta]]) {
    const r = await cli(args, { env: asAdmin() });
    expect(r.exitCode, err(r)).toBe(0);
  }
  const r = await cli(["config", "set", "db.password", "hunter2", "-p", "shop", "-e", "prod", "--meta", meta], { env: asAdmin() });
  expect(r.exitCode, err(r)).toBe(0);
});

describe("plaintext scratch files", () => {
  it("live in a private directory on a tmpfs when there is one, and are removed after the edit", async () => {
    const file = await encryptedFile("where.yaml");
    const report = join(root, "where.json");
    const r = await cli(["edit", file], { env: { ...asAdmin(), REPORT: report, EDITOR: editor("where", `fs.writeFileSync(file, "db:\\n    password: changed\\n");`) } });
    expect(r.exitCode, err(r)).toBe(0);
    const seen = await reportOf(report);
    // On a machine with /dev/shm (this one, and CI) the scratch file must be there.
    if (scratchRoot({}) === "/dev/shm") expect(dirname(dirname(seen.file))).toBe("/dev/shm");
    expect(seen.dirMode).toBe(0o700);
    expect(seen.fileMode).toBe(0o600);
    expect(existsSync(dirname(seen.file))).toBe(false);
  });

  it("prefers /dev/shm, then $XDG_RUNTIME_DIR, then the temp dir", () => {
    const runtime = tempDir();
    const missing = join(runtime, "no-such-dir");
    expect(scratchRoot({ XDG_RUNTIME_DIR: runtime }, runtime)).toBe(runtime);
    expect(scratchRoot({ XDG_RUNTIME_DIR: runtime }, missing)).toBe(runtime);
    expect(scratchRoot({ XDG_RUNTIME_DIR: missing }, missing)).not.toBe(missing);
  });

  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    it(`are removed when boot-meta gets ${signal} while the editor is open, and the signal still ends it`, async () => {
      const file = await encryptedFile(`signal-${signal}.yaml`);
      const before = readFileSync(file);
      const report = join(root, `signal-${signal}.json`);
      const run = cli(["edit", file], { env: { ...asAdmin(), REPORT: report, EDITOR: editor(`hang-${signal}`, HANG) } }) as unknown as ResultPromise;
      const seen = await reportOf(report);
      try {
        expect(existsSync(seen.file)).toBe(true);
        run.kill(signal);
        const r = await run;
        expect(r.signal).toBe(signal);
        expect(existsSync(dirname(seen.file))).toBe(false);
        expect(readFileSync(file).equals(before)).toBe(true);
      } finally {
        killQuietly(seen.pid);
      }
    });
  }

  it("are removed when the process exits with the edit still pending", async () => {
    // dist/, as the CLI runs it: a process that calls exit() while the scratch directory is in use.
    const script = `import { withScratchDir } from ${JSON.stringify(join(BIN, "../../dist/scratch.js"))};
await withScratchDir(async (dir) => { console.log(dir); setTimeout(() => process.exit(0), 10); await new Promise(() => {}); });`;
    const r = await execa(process.execPath, ["--input-type=module", "-e", script], { reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/boot-meta-edit-\d+-/);
    expect(existsSync(r.stdout.trim())).toBe(false);
  });

  it("left behind by a SIGKILL are removed by the next edit", async () => {
    const file = await encryptedFile("sigkill.yaml");
    const report = join(root, "sigkill.json");
    const run = cli(["edit", file], { env: { ...asAdmin(), REPORT: report, EDITOR: editor("hang-kill", HANG) } }) as unknown as ResultPromise;
    const seen = await reportOf(report);
    run.kill("SIGKILL");
    // The editor outlives its parent and holds the CLI's output pipes open: end it too.
    killQuietly(seen.pid);
    expect((await run).signal).toBe("SIGKILL");
    expect(existsSync(seen.file)).toBe(true); // nothing could clean up: the next run must
    const next = await cli(["edit", file], { env: { ...asAdmin(), EDITOR: "true" } });
    expect(next.exitCode, err(next)).toBe(0);
    expect(existsSync(dirname(seen.file))).toBe(false);
  });

  it("are removed on SIGTERM during config edit too", async () => {
    const head = git(meta, "rev-parse", "HEAD");
    const report = join(root, "config-term.json");
    const run = cli(["config", "edit", "-p", "shop", "-e", "prod", "--meta", meta], { env: { ...asAdmin(), REPORT: report, EDITOR: editor("config-hang", HANG) } }) as unknown as ResultPromise;
    const seen = await reportOf(report);
    try {
      run.kill("SIGTERM");
      expect((await run).signal).toBe("SIGTERM");
      expect(existsSync(dirname(seen.file))).toBe(false);
      expect(git(meta, "rev-parse", "HEAD")).toBe(head);
    } finally {
      killQuietly(seen.pid);
    }
  });
});

describe("config edit and other writers", () => {
  it("holds no lock while the editor is open, and refuses to save over a change made meanwhile", async () => {
    const report = join(root, "race.json");
    const setter = `require("node:child_process").execFileSync(${JSON.stringify(process.execPath)}, [${JSON.stringify(BIN)}, "config", "set", "db.host", "db-1", "-p", "shop", "-e", "prod", "--meta", ${JSON.stringify(meta)}], { stdio: "inherit" });
fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("hunter2", "from-the-editor"));`;
    const r = await cli(["config", "edit", "--json", "-p", "shop", "-e", "prod", "--meta", meta], { env: { ...asAdmin(), REPORT: report, EDITOR: editor("race", setter) } });
    const seen = await reportOf(report);
    expect(r.exitCode, err(r)).toBe(3);
    const e = JSON.parse(out(r)).error;
    expect(e.code).toBe("CONFIG_EDIT_CONFLICT");
    expect(e.message).toMatch(/your edit of shop\/envs\/prod\/config\.sops\.yaml was not saved: the file changed while the editor was open: db\.host changed/);
    expect(e.data.changedKeys).toEqual(["db.host"]);
    // the concurrent set landed (so no lock was held); the edit did not
    expect(git(meta, "log", "-1", "--format=%s")).toBe("config: set db.host in shop/envs/prod/config.sops.yaml");
    const shown = JSON.parse(out(await cli(["config", "show", "--json", "-p", "shop", "-e", "prod", "--meta", meta], { env: asAdmin() })));
    expect(shown.config.db).toEqual({ password: "hunter2", host: "db-1" });
    expect(git(meta, "status", "--porcelain")).toBe("");
    expect(existsSync(dirname(seen.file))).toBe(false);
    expect(JSON.stringify(e)).not.toContain("from-the-editor");
  });

  it("re-opens the editor on the user's text when asked, and saves it over the new version", async () => {
    const report = join(root, "reopen.json");
    const rounds = join(root, "reopen-rounds");
    const script = editor(
      "reopen",
      `const n = fs.existsSync(${JSON.stringify(rounds)}) ? Number(fs.readFileSync(${JSON.stringify(rounds)}, "utf8")) + 1 : 1;
fs.writeFileSync(${JSON.stringify(rounds)}, String(n));
if (n === 1) {
  require("node:child_process").execFileSync(${JSON.stringify(process.execPath)}, [${JSON.stringify(BIN)}, "config", "set", "db.port", "5432", "-p", "shop", "-e", "prod", "--meta", ${JSON.stringify(meta)}], { stdio: "inherit", env: { ...process.env, SOPS_AGE_KEY_FILE: ${JSON.stringify(admin.file)} } });
  fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("hunter2", "edited"));
}`,
    );
    const conflicts: string[] = [];
    const r = await editConfig(
      meta,
      { project: "shop", env: "prod" },
      {
        identities: await loadIdentities({ env: {}, extraIdentityFiles: [admin.file] }),
        editor: script,
        author: "Test Author <author@test.invalid>",
        env: gitEnv({ REPORT: report }),
        onConflict: async (e) => {
          expect(isBootMetaError(e, "CONFIG_EDIT_CONFLICT")).toBe(true);
          conflicts.push(...(e.data.changedKeys as string[]));
          return true;
        },
      },
    );
    expect(readFileSync(rounds, "utf8")).toBe("2");
    expect(conflicts).toEqual(["db.port"]);
    expect(r.commit).toBe(git(meta, "rev-parse", "HEAD"));
    const shown = JSON.parse(out(await cli(["config", "show", "--json", "-p", "shop", "-e", "prod", "--meta", meta], { env: asAdmin() })));
    // the user's text replaced the new version, as the prompt says: db.port was not in it
    expect(shown.config.db.password).toBe("edited");
    expect(shown.config.db.port).toBeUndefined();
  });

  it("saves an edit when nothing changed meanwhile", async () => {
    const r = await cli(["config", "edit", "--json", "-p", "shop", "-e", "prod", "--meta", meta], { env: { ...asAdmin(), EDITOR: "sed -i s/db-1/db-2/" } });
    expect(r.exitCode, err(r)).toBe(0);
    expect(JSON.parse(out(r))).toMatchObject({ path: "shop/envs/prod/config.sops.yaml", changed: true, commit: git(meta, "rev-parse", "HEAD") });
  });
});
