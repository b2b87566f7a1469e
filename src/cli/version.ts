import { readFileSync } from "node:fs";
import { arch, platform, release } from "node:os";
import { join } from "node:path";

interface Pjson {
  name: string;
  version: string;
  oclif?: { additionalVersionFlags?: string[]; hooks?: Record<string, unknown>; plugins?: string[] };
}

/**
 * The line `boot-meta --version` prints — oclif's `config.userAgent`, word for word — when
 * `argv` asks for the version and nothing could change the answer, without loading oclif;
 * `undefined` when oclif must answer. oclif answers when an `init` hook or a plugin (which may
 * bring one) would run first, and on Windows' Linux, which it names `wsl`.
 */
export function versionLine(argv: readonly string[], root: string): string | undefined {
  const pjson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Pjson;
  const flags = ["--version", ...(pjson.oclif?.additionalVersionFlags ?? [])];
  if (argv[0] === undefined || !flags.includes(argv[0])) return undefined;
  if (pjson.oclif?.hooks?.init !== undefined || (pjson.oclif?.plugins?.length ?? 0) > 0) return undefined;
  // is-wsl, which oclif asks, says yes only where the kernel names Microsoft.
  if (platform() === "linux" && (release().toLowerCase().includes("microsoft") || procVersion().includes("microsoft"))) return undefined;
  return `${pjson.name}/${pjson.version} ${platform()}-${arch() === "ia32" ? "x86" : arch()} node-${process.version}`;
}

function procVersion(): string {
  try {
    return readFileSync("/proc/version", "utf8").toLowerCase();
  } catch {
    return "";
  }
}
