import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { thisPlatform } from "../../src/agent/run.js";
import { addKey } from "../../src/meta/keys.js";
import { createProject, initRepo } from "../../src/meta/repo.js";
import { addBinary } from "../../src/records/binaries.js";
import { promoteChannel } from "../../src/records/channels.js";
import { createRelease, parseCommitSpec } from "../../src/records/releases.js";
import { generateAgeKey } from "../../src/sops/age.js";
import { identitySetFrom } from "../../src/sops/identities.js";
import { ageKeyFile } from "./cli.js";
import { git, tempDir } from "./gitdir.js";
import { sshKey } from "./ssh.js";

/**
 * Fixtures for the agent (`boot-meta agent`) and for fleet tests that run many of them.
 *
 * - `serverScript(version, healthy)`: the text of a tiny real "server" binary (a node script
 *   with a shebang): run with PORT set it listens on 127.0.0.1:PORT and answers `/health`
 *   with 200 (or 500 when built broken), `/pid` with its pid and `/` with its version; run as `PATH health` it
 *   exits 0 or 1 the same way (a health check without a port). SIGTERM stops it.
 * - `fleetRepo()`: a bare remote (`remote`) holding a meta repo with project `shop`, an admin
 *   age key and an `agent` age key (`agentKey`, a reader of the project: it opens sealed
 *   binaries), and a release-signing key committed as keys/signers/ci.pub (`signer`). Its
 *   `admin` clone writes and pushes:
 *   - `release(version, { healthy, sign, sealed })` creates release `version`, writes the
 *     server script as its binary into `artifacts/` and records it (file:// URL; sealed: the
 *     URL SOPS-encrypted to the project's readers) signed by `ci` (sign: "none" leaves it
 *     unsigned; a key file signs with that key, which is not in keys/signers/);
 *   - `promote(version, percent?)` moves channel `stable`.
 *   Pass `{ commitKey }` (an ssh key file) to have the admin's commits signed with it (for
 *   trust-root tests); `admin`'s `git` then signs every boot-meta write.
 * - `agentArgs(fleet, install, extra, instance)`: the usual `agent` flags (instance `web-1` unless named).
 */

/** A node "server" of the given version: listens on $PORT, /health answers 200 (500 when broken); `PATH health` exits 0 (1). */
export function serverScript(version: string, healthy = true): string {
  return `#!/usr/bin/env node
// boot-meta test server ${version} (${healthy ? "healthy" : "broken"})
const version = ${JSON.stringify(version)};
const healthy = ${healthy};
if (process.argv[2] === "health") process.exit(healthy ? 0 : 1);
const http = require("node:http");
const server = http.createServer((req, res) => {
  if (req.url === "/health") { res.writeHead(healthy ? 200 : 500); res.end(healthy ? "ok" : "broken"); return; }
  if (req.url === "/pid") { res.end(String(process.pid)); return; }
  res.end(version);
});
server.listen(Number(process.env.PORT), "127.0.0.1");
process.on("SIGTERM", () => { server.close(); server.closeAllConnections(); process.exit(0); });
`;
}

export interface FleetRelease {
  id: string;
  version: string;
  sha256: string;
  /** The artifact (what the record's URL points at). */
  file: string;
  url: string;
}

export interface Fleet {
  remote: string;
  admin: string;
  artifacts: string;
  signer: { keyFile: string; line: string };
  /** An age identity file whose principal (`agent`) reads shop: it opens sealed binaries. */
  agentKey: { identity: string; recipient: string; file: string };
  os: string;
  arch: string;
  release(version: string, o?: { healthy?: boolean; sign?: "ci" | "none" | string; sealed?: boolean }): Promise<FleetRelease>;
  promote(version: string, percent?: number): Promise<void>;
}

const AUTHOR = "Test Author <author@test.invalid>";

export async function fleetRepo(o: { commitKey?: string } = {}): Promise<Fleet> {
  const remote = tempDir("boot-meta-fleet-remote-");
  git(remote, "init", "-q", "--bare", "-b", "main");
  const admin = join(tempDir("boot-meta-fleet-"), "meta");
  await initRepo(admin);
  if (o.commitKey) {
    git(admin, "config", "gpg.format", "ssh");
    git(admin, "config", "user.signingkey", o.commitKey);
    git(admin, "config", "commit.gpgsign", "true");
  }
  git(admin, "remote", "add", "origin", remote);
  const adminKey = await generateAgeKey();
  const ids = await identitySetFrom([adminKey.identity]);
  const agentKey = await ageKeyFile();
  await addKey(admin, "admin", [adminKey.recipient], { group: "admins", identities: ids });
  await addKey(admin, "agent", [agentKey.recipient], { group: "admins", identities: ids });
  await createProject(admin, "shop");
  const signer = sshKey("ci");
  mkdirSync(join(admin, "keys/signers"), { recursive: true });
  writeFileSync(join(admin, "keys/signers/ci.pub"), `${signer.line}\n`);
  git(admin, "add", "keys/signers/ci.pub");
  git(admin, "commit", "-q", "-m", "ci signs binaries");
  git(admin, "push", "-q", "-u", "origin", "main");
  const artifacts = tempDir("boot-meta-artifacts-");
  const { os, arch } = thisPlatform();
  const repos = [parseCommitSpec("app=https://example.invalid/org/app@3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c")];
  let n = 0;
  return {
    remote,
    admin,
    artifacts,
    signer,
    agentKey,
    os,
    arch,
    async release(version, r = {}) {
      n++;
      const rel = (await createRelease(admin, "shop", { version, repos, author: AUTHOR, push: true, now: `2026-01-01T00:00:${String(n).padStart(2, "0")}Z` })).value;
      const file = join(artifacts, `shop-${version}`);
      writeFileSync(file, serverScript(version, r.healthy ?? true));
      chmodSync(file, 0o755);
      const url = pathToFileURL(file).href;
      const sign = r.sign ?? "ci";
      const signing = sign === "none" ? {} : sign === "ci" ? { signKey: signer.keyFile, signer: "ci" } : { signKey: sign };
      const b = (await addBinary(admin, "shop", file, { release: rel.id, os, arch, urls: [url], ...signing, secret: r.sealed, author: AUTHOR, push: true })).value;
      return { id: rel.id, version, sha256: b.sha256, file, url };
    },
    async promote(version, percent) {
      await promoteChannel(admin, "shop", "stable", version, { percent, author: AUTHOR, push: true });
    },
  };
}

/** `agent` flags for an instance (web-1 unless named) of shop on stable, installing at `install`. */
export function agentArgs(f: Fleet, install: string, extra: string[] = [], instance = "web-1"): string[] {
  return ["agent", "--project", "shop", "--channel", "stable", "--instance", instance, "--install", install, "--identity", f.agentKey.file, ...extra];
}
