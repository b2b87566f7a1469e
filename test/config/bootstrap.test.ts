import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BOOTSTRAP_FILE, findBootstrap, resolveSettings, writeBootstrap } from "../../src/config/bootstrap.js";
import { tempDir } from "../helpers/gitdir.js";

describe("bootstrap file", () => {
  it("is written 0600 and added to .gitignore once", async () => {
    const app = tempDir();
    writeFileSync(join(app, ".gitignore"), "node_modules");
    const r = await writeBootstrap(app, { repo: "../meta", project: "shop", env: "dev/alice", identity: "key.txt" });
    expect(r.added).toBe(true);
    expect(statSync(r.file).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(app, ".gitignore"), "utf8")).toBe(`node_modules\n${BOOTSTRAP_FILE}\n`);
    expect((await writeBootstrap(app, { repo: "../meta", project: "shop", env: "dev/alice" })).added).toBe(false);
  });

  it("is found from a subdirectory upward, with paths relative to it", async () => {
    const app = tempDir();
    await writeBootstrap(app, { repo: "../meta", project: "shop", env: "dev/alice", identity: "key.txt" });
    mkdirSync(join(app, "src/deep"), { recursive: true });
    const b = await findBootstrap(join(app, "src/deep"));
    expect(b).toMatchObject({ repo: join(app, "../meta"), project: "shop", env: "dev/alice", identity: join(app, "key.txt") });
    expect(await findBootstrap(tempDir())).toBeUndefined();
  });

  it("is overridden by BOOT_META_* and by sops' own key variables", async () => {
    const app = tempDir();
    await writeBootstrap(app, { repo: "git@example.invalid:org/meta.git", project: "shop", env: "dev/alice", identity: "key.txt" });
    const plain = await resolveSettings({ cwd: app, env: {} });
    expect(plain).toMatchObject({ repo: "git@example.invalid:org/meta.git", project: "shop", env: "dev/alice", identity: join(app, "key.txt") });
    const over = await resolveSettings({ cwd: app, env: { BOOT_META_REPO: "/r", BOOT_META_PROJECT: "p", BOOT_META_ENV: "prod", SOPS_AGE_KEY_FILE: "/k" } });
    expect(over).toMatchObject({ repo: "/r", project: "p", env: "prod", identity: undefined });
    expect(await resolveSettings({ cwd: app, env: { BOOT_META_ENV: "prod" }, envName: "stage" })).toMatchObject({ env: "stage" });
  });

  it("refuses a bootstrap file that is not a map", async () => {
    const app = tempDir();
    writeFileSync(join(app, BOOTSTRAP_FILE), "- a list\n");
    await expect(findBootstrap(app)).rejects.toMatchObject({ code: "CONFIG_BAD_BOOTSTRAP" });
  });
});
