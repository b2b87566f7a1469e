import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./gitdir.js";

/** An ed25519 key made here (test-only): its file and its `ssh-ed25519 AAAA… comment` line. */
export function sshKey(name: string): { keyFile: string; line: string } {
  const keyFile = join(tempDir("boot-meta-ssh-"), "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@test (test-only key)`, "-f", keyFile]);
  return { keyFile, line: readFileSync(`${keyFile}.pub`, "utf8").trim() };
}
