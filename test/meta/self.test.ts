import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/loader.js";
import { TEST_ONLY_KEY_MARKER } from "../../src/meta/layout.js";
import { accessCheck } from "../../src/meta/repo.js";
import { parseIdentityFile } from "../../src/sops/identities.js";
import { git, tempDir } from "../helpers/gitdir.js";

/**
 * This repository is its own meta repo (.boot-meta.yaml, .sops.yaml and keys/ at the top):
 * the test principals' public keys are in keys/, their private keys are test-only fixtures
 * in test/fixtures/keys/, and test/fixtures/shop is their project. Checked on a clone of the
 * committed state, so a contributor's uncommitted edits do not decide the answer.
 */
const ROOT = join(import.meta.dirname, "../..");
const PRIVATE_KEY = /AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}/;

function committedClone(): string {
  const d = join(tempDir("boot-meta-self-"), "repo");
  git(ROOT, "clone", "-q", "--shared", ROOT, d);
  return d;
}

describe("this repository as a meta repo", () => {
  it("access check passes on it: every fixture is encrypted to exactly who its rules say, bound to its path", async () => {
    const r = await accessCheck(committedClone());
    expect(r.drift).toEqual([]);
    expect(r.checked).toBeGreaterThanOrEqual(6);
  });

  it("the fixtures open with the test principals' keys, and isolate them", async () => {
    const repo = committedClone();
    const key = (who: string) => parseIdentityFile(readFileSync(join(ROOT, "test/fixtures/keys", `${who}.txt`), "utf8"), who)[0] as string;
    const alice = await loadConfig({ repo, project: "test/fixtures/shop", env: "dev/alice", identities: [key("alice")], environment: {} });
    expect(alice.config).toMatchObject({ app: { name: "shop" }, log: { level: "debug" }, database: { url: "postgres://dev-db/shop" }, flags: { new_checkout: true } });
    await expect(loadConfig({ repo, project: "test/fixtures/shop", env: "prod", identities: [key("alice")], environment: {} })).rejects.toMatchObject({ code: "CONFIG_ACCESS_DENIED" });
    const prod = await loadConfig({ repo, project: "test/fixtures/shop", env: "prod", identities: [key("prod-server")], environment: {} });
    expect(prod.config).toMatchObject({ payments: { api_key: "sk_test_fixture_only" } });
  });

  it("every private key it commits is a labelled test-only fixture (upstream's vectors aside)", () => {
    const files = execFileSync("git", ["grep", "-lzE", PRIVATE_KEY.source], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
    const ours = files.filter((f) => !f.startsWith("test/fixtures/sops-upstream/"));
    expect(ours.length).toBeGreaterThan(0);
    for (const f of ours) expect(readFileSync(join(ROOT, f), "utf8").startsWith(TEST_ONLY_KEY_MARKER), f).toBe(true);
    // and keys/ holds public keys only
    for (const f of execFileSync("git", ["ls-files", "-z", "keys"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean)) {
      expect(readFileSync(join(ROOT, f), "utf8"), f).not.toMatch(PRIVATE_KEY);
    }
  });
});
