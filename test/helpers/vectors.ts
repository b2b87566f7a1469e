import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Branch, type Tree, toPlain } from "../../src/sops/tree.js";
import { tempDir } from "./gitdir.js";

/**
 * Files written by the real sops binary, with their keys and expected plaintexts: copied
 * byte for byte into test/fixtures/sops-upstream, each file's origin in its provenance.json.
 */
export const VECTORS = join(import.meta.dirname, "../fixtures/sops-upstream");

export interface VectorEntry {
  file: string;
  format: "yaml" | "json" | "binary" | "dotenv" | "ini";
  keys: string[];
  expect: "ok" | "mac-mismatch" | "value-auth-fail";
  expected?: string;
  sops_version: string;
  features: string[];
}

export const manifest: VectorEntry[] = JSON.parse(readFileSync(join(VECTORS, "manifest.json"), "utf8"));

/**
 * The files from sops' own repository, whose data key is wrapped for PGP with the
 * functional-tests key (README.md in test/fixtures/sops-upstream): name → [format, expected].
 */
export const pgpVectors: { file: string; format: VectorEntry["format"]; expected?: string; expect: "ok" | "no-mac" }[] = [
  { file: "getsops-sops/example.yaml", format: "yaml", expected: "expected/example.yaml.json", expect: "ok" },
  { file: "getsops-sops/example.json", format: "json", expected: "expected/example.json.json", expect: "ok" },
  { file: "getsops-sops/example.txt", format: "binary", expected: "expected/example.txt.plain", expect: "ok" },
  { file: "getsops-sops/example.ini", format: "ini", expect: "ok" },
  { file: "getsops-sops/format.enc.yaml", format: "yaml", expected: "expected/format.enc.yaml.json", expect: "ok" },
  { file: "getsops-sops/format.enc.json", format: "json", expected: "expected/format.enc.json.json", expect: "ok" },
  { file: "getsops-sops/format.enc.env", format: "dotenv", expected: "expected/format.enc.env.json", expect: "ok" },
  { file: "getsops-sops/format.enc.ini", format: "ini", expect: "ok" },
  { file: "getsops-sops/format-2.enc.ini", format: "ini", expect: "ok" },
  { file: "getsops-sops/comments.enc.yaml", format: "yaml", expected: "expected/comments.enc.yaml.json", expect: "ok" },
  { file: "getsops-sops/comments_unencrypted_comments.yaml", format: "yaml", expected: "expected/comments_unencrypted_comments.yaml.json", expect: "ok" },
  { file: "getsops-sops/multiple_keys.yaml", format: "yaml", expected: "expected/multiple_keys.yaml.json", expect: "ok" },
  { file: "getsops-sops/no_mac.yaml", format: "yaml", expect: "no-mac" },
];

/** humphd/sops-age's files: age-wrapped, not in the manifest but with expected plaintexts. */
export const humphdVectors: { file: string; format: VectorEntry["format"]; expected: string }[] = [
  { file: "humphd-sops-age/secret.enc.yaml", format: "yaml", expected: "expected/secret.enc.yaml.json" },
  { file: "humphd-sops-age/secret.enc.json", format: "json", expected: "expected/secret.enc.json.json" },
  { file: "humphd-sops-age/secret.enc.env", format: "dotenv", expected: "expected/secret.enc.env.json" },
];

/** The decrypted tree as the expected/ files hold it: plain JSON (comments dropped). */
export function plainOf(tree: Tree): unknown {
  return tree.length === 1 ? toPlain(tree[0] as Branch) : tree.map((b) => toPlain(b));
}

export function readExpected(rel: string): unknown {
  const text = readFileSync(join(VECTORS, rel), "utf8");
  return JSON.parse(text);
}

/** A throwaway GNUPGHOME with sops' functional-tests key imported (the real gpg binary). */
export function gnupgHomeWithTestKey(): string {
  const home = tempDir("boot-meta-gpg-");
  execFileSync("gpg", ["--batch", "--quiet", "--import", join(VECTORS, "getsops-sops/sops_functional_tests_key.asc")], {
    env: { ...process.env, GNUPGHOME: home },
    stdio: ["ignore", "ignore", "ignore"],
  });
  return home;
}

export function killGpgAgent(home: string): void {
  try {
    execFileSync("gpgconf", ["--kill", "gpg-agent"], { env: { ...process.env, GNUPGHOME: home }, stdio: "ignore" });
  } catch {
    /* no agent was started */
  }
}
