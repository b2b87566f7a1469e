import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addBinary } from "../../src/records/binaries.js";
import { promoteChannel } from "../../src/records/channels.js";
import { reportInstance } from "../../src/records/instances.js";
import { createRelease, parseCommitSpec } from "../../src/records/releases.js";
import { git, tempDir } from "./gitdir.js";
import { serviceFixture } from "./service.js";
import { sshKey } from "./ssh.js";

/** A storage URL with a credential in it: the dashboard shows where a binary is, never the credential. */
export const URL_SECRET = "d3pl0y-Cred-9b1e";

const APP = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";
const LIB = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";

/**
 * The service fixture (project shop, prod's config holding SECRET_VALUE) with records for the
 * dashboard, pushed to the bare remote: releases 1.0, 1.1 and 1.2 (two repos each); binaries of
 * 1.1 (one signed by `ci`, whose key is in keys/signers/; one signed by a key nobody trusts; one
 * sealed to prod's readers) and of 1.0 (stored at a URL with a credential); channel stable at
 * 1.1 rolled out to 50% over 1.0, beta at 1.2; instances web-1..4 on stable (all recorded on
 * 1.0, so the ones the rollout moves to 1.1 lag it), db-1 on no channel; promotion gates for
 * stable in .boot-meta.yaml. `promote` promotes and pushes.
 */
export async function dashboardFixture() {
  const f = await serviceFixture();
  const { work } = f;
  const repos = [parseCommitSpec(`app=https://example.invalid/org/app@${APP}`), parseCommitSpec(`lib=https://example.invalid/org/lib@${LIB}`)];
  const rel: Record<string, string> = {};
  for (const [v, now] of [["1.0", "2026-01-01T00:00:00Z"], ["1.1", "2026-02-01T00:00:00Z"], ["1.2", "2026-03-01T00:00:00Z"]] as const) {
    rel[v] = (await createRelease(work, "shop", { version: v, repos, now, notes: `shop ${v}` })).value.id;
  }
  const ci = sshKey("ci");
  const mallory = sshKey("mallory");
  mkdirSync(join(work, "keys/signers"), { recursive: true });
  writeFileSync(join(work, "keys/signers/ci.pub"), `${readFileSync(`${ci.keyFile}.pub`, "utf8")}`);
  git(work, "add", "keys/signers/ci.pub");
  git(work, "commit", "-qm", "trust ci's signing key");
  const file = (name: string) => {
    const p = join(tempDir(), name);
    writeFileSync(p, `\x7fELF ${name}`);
    return p;
  };
  const bin: Record<string, string> = {};
  bin.signed = (await addBinary(work, "shop", file("shop-1.1-amd64"), { release: "1.1", os: "linux", arch: "amd64", urls: ["https://artifacts.invalid/shop/1.1/shop-linux-amd64"], signKey: ci.keyFile, signer: "ci" })).value.sha256;
  bin.untrusted = (await addBinary(work, "shop", file("shop-1.1-arm64"), { release: "1.1", os: "linux", arch: "arm64", urls: ["s3://artifacts/shop/1.1/shop-linux-arm64"], signKey: mallory.keyFile })).value.sha256;
  bin.sealed = (await addBinary(work, "shop", file("shop-1.1-riscv"), { release: "1.1", os: "linux", arch: "riscv64", urls: [`https://sealed:${URL_SECRET}@vault.invalid/shop`], secret: "prod" })).value.sha256;
  bin.old = (await addBinary(work, "shop", file("shop-1.0-amd64"), { release: "1.0", os: "linux", arch: "amd64", urls: [`https://deploy:${URL_SECRET}@artifacts.invalid/shop/1.0/shop`] })).value.sha256;

  await promoteChannel(work, "shop", "stable", rel["1.0"] as string);
  for (const id of ["web-1", "web-2", "web-3", "web-4"]) await reportInstance(work, "shop", id, { channel: "stable", release: "1.0", status: "running" });
  await reportInstance(work, "shop", "db-1", { release: "1.0", status: "running" });
  await promoteChannel(work, "shop", "stable", "1.1", { percent: 50 });
  await promoteChannel(work, "shop", "beta", "1.2");
  appendFileSync(join(work, ".boot-meta.yaml"), "promotion:\n  shop:\n    stable: { after: beta, soak: 1h, approvals: 1 }\n");
  git(work, "commit", "-qam", "gates for shop/stable");
  git(work, "push", "-q", "origin", "main");
  return {
    ...f,
    rel,
    bin,
    /** Creates a release of shop and pushes it (after what the service pushed meanwhile); returns its id. */
    async release(version: string): Promise<string> {
      return (await createRelease(work, "shop", { version, repos, push: true })).value.id;
    },
    /** Promotes a release (with a rollout percent) and pushes it; returns the commit. */
    async promote(channel: string, release: string, percent?: number): Promise<string> {
      const r = await promoteChannel(work, "shop", channel, release, { push: true, ...(percent === undefined ? {} : { percent }) });
      if (!r.commit || !r.pushed) throw new Error(`promoting ${release} to ${channel} changed nothing or was not pushed`);
      return r.commit;
    },
  };
}
