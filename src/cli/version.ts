import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { arch, platform, release } from "node:os";
import { join } from "node:path";

interface Pjson {
  name: string;
  version: string;
  oclif?: { additionalVersionFlags?: string[]; hooks?: Record<string, unknown>; plugins?: string[]; devPlugins?: string[] };
}

/**
 * The line `boot-meta --version` prints — oclif's `config.userAgent`, word for word — when
 * `argv` asks for the version and nothing could change the answer, without loading oclif;
 * `undefined` when oclif must answer: when an `init` hook, ours or a plugin's, runs first (or a
 * plugin's package.json cannot be read to tell), and on Windows' Linux, which oclif names `wsl`.
 */
export function versionLine(argv: readonly string[], root: string): string | undefined {
  const pjson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Pjson;
  const flags = ["--version", ...(pjson.oclif?.additionalVersionFlags ?? [])];
  if (argv[0] === undefined || !flags.includes(argv[0])) return undefined;
  if (hasInitHook(pjson)) return undefined;
  const require = createRequire(join(root, "package.json"));
  for (const name of [...(pjson.oclif?.plugins ?? []), ...(pjson.oclif?.devPlugins ?? [])]) {
    try {
      if (hasInitHook(require(`${name}/package.json`) as Pjson)) return undefined;
    } catch {
      return undefined;
    }
  }
  // is-wsl, which oclif asks, says yes only where the kernel names Microsoft.
  if (platform() === "linux" && (release().toLowerCase().includes("microsoft") || procVersion().includes("microsoft"))) return undefined;
  return `${pjson.name}/${pjson.version} ${platform()}-${arch() === "ia32" ? "x86" : arch()} node-${process.version}`;
}

function hasInitHook(pjson: Pjson): boolean {
  return pjson.oclif?.hooks?.init !== undefined;
}

function procVersion(): string {
  try {
    return readFileSync("/proc/version", "utf8").toLowerCase();
  } catch {
    return "";
  }
}
