import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { BootMetaError, ExitCode } from "../errors.js";
import { Git } from "./git.js";

/**
 * `boot-meta git setup`: wires a clone's git to boot-meta's drivers (git-drivers.ts) and its
 * pre-commit check (commit-check.ts). Idempotent: a second run changes nothing. Whatever is
 * already there is kept — every `.gitattributes` line, and an existing pre-commit hook, which
 * the new hook runs first. `diff.boot-meta.cachetextconv` is never set (git would keep the
 * decrypted text in `refs/notes/textconv/boot-meta`, a plaintext copy anyone who clones the
 * notes could read) and is removed when found.
 */

export const DRIVER = "boot-meta";
/** The first line of the hook boot-meta writes: how a later run knows the hook is its own. */
export const HOOK_MARKER = "# boot-meta: pre-commit check (written by `boot-meta git setup`)";
/** Where an existing hook is moved so the new one can run it first. */
export const CHAINED_HOOK = "pre-commit.before-boot-meta";

/**
 * The governed paths as git attribute patterns: each project's defaults, everything in its env
 * folders (layout.ts parseGovernedPath: a project name never holds an `envs` segment) and the
 * sealed records. Patterns rather than one line per project, so a project created later is
 * covered without running setup again; a file they match that is not a SOPS file is shown and
 * merged by the drivers exactly as git would.
 */
export const ATTRIBUTE_LINES = [
  "# boot-meta: decrypted diffs and value-wise merges of SOPS files (`boot-meta git setup`)",
  `**/config.sops.yaml diff=${DRIVER} merge=${DRIVER}`,
  `**/envs/** diff=${DRIVER} merge=${DRIVER}`,
  `**/binaries/**/*.sops.json diff=${DRIVER} merge=${DRIVER}`,
];

/** A word for `sh -c`: single-quoted, so a path with spaces or `$` is itself. */
export const shQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

export interface SetupOptions {
  /** The command that runs this boot-meta: absolute paths, e.g. [process.execPath, "/…/bin/run.js"]. */
  command: string[];
}

export interface SetupResult {
  repo: string;
  /** Whether anything was written. */
  changed: boolean;
  gitattributes: { path: string; added: string[] };
  config: { key: string; value: string; changed: boolean }[];
  /** `diff.boot-meta.cachetextconv` found and removed. */
  removedCachetextconv: boolean;
  hook: { path: string; changed: boolean; chained: string | null };
}

/** Installs the drivers and the hook in the repository at `repoDir` (see the module comment). */
export async function gitSetup(repoDir: string, o: SetupOptions): Promise<SetupResult> {
  const git = await Git.open(repoDir);
  const cmd = o.command.map(shQuote).join(" ");
  const wanted: [string, string][] = [
    [`diff.${DRIVER}.textconv`, `${cmd} git textconv`],
    // A hunk's header names the nearest line above it that matches: for a non-reader, the
    // "# encrypted to …; you are …" line textconv puts first, so every hunk says it.
    [`diff.${DRIVER}.xfuncname`, "^# encrypted to .*$"],
    [`merge.${DRIVER}.name`, "boot-meta: value-wise merge of SOPS files"],
    // git expands %O %A %B %P itself and runs the line with sh; %A receives the result.
    [`merge.${DRIVER}.driver`, `${cmd} git merge-file %O %A %B %P`],
  ];
  const config: SetupResult["config"] = [];
  for (const [key, value] of wanted) {
    const now = await git.run(["config", "--local", "--get", key], { reject: false });
    const changed = now.exitCode !== 0 || now.stdout !== value;
    if (changed) await git.run(["config", "--local", key, value]);
    config.push({ key, value, changed });
  }
  const cache = await git.run(["config", "--local", "--get-all", `diff.${DRIVER}.cachetextconv`], { reject: false });
  const removedCachetextconv = cache.exitCode === 0;
  if (removedCachetextconv) await git.run(["config", "--local", "--unset-all", `diff.${DRIVER}.cachetextconv`]);

  const attrPath = join(git.dir, ".gitattributes");
  const text = await readFile(attrPath, "utf8").catch(() => "");
  const have = new Set(text.split(/\r?\n/).map((l) => l.trim()));
  const added = ATTRIBUTE_LINES.filter((l) => !have.has(l));
  if (added.length) await writeFile(attrPath, `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${added.join("\n")}\n`);

  const hook = await installHook(git, cmd);
  return {
    repo: git.dir,
    changed: config.some((c) => c.changed) || removedCachetextconv || added.length > 0 || hook.changed,
    gitattributes: { path: attrPath, added },
    config,
    removedCachetextconv,
    hook,
  };
}

async function installHook(git: Git, cmd: string): Promise<SetupResult["hook"]> {
  // --git-path: the hooks folder of this worktree's repository, core.hooksPath honoured.
  const rel = (await git.run(["rev-parse", "--git-path", "hooks/pre-commit"])).stdout.trim();
  const path = isAbsolute(rel) ? rel : join(git.dir, rel);
  const dir = join(path, "..");
  const chainedPath = join(dir, CHAINED_HOOK);
  const existing = await readFile(path, "utf8").catch(() => undefined);
  let chained = (await readFile(chainedPath, "utf8").then(() => true).catch(() => false)) ? CHAINED_HOOK : null;
  if (existing !== undefined && !existing.startsWith(`#!/bin/sh\n${HOOK_MARKER}`)) {
    if (chained) {
      // Both a foreign hook and an earlier chained one: keep both, never overwrite either.
      throw new BootMetaError(
        "GIT_SETUP_HOOK_CONFLICT",
        `${path} is not boot-meta's and ${chainedPath} already exists: not overwriting either`,
        ExitCode.General,
        { data: { hook: path, chained: chainedPath }, suggestions: [`merge the two hooks into ${CHAINED_HOOK} by hand, remove ${path}, and run \`boot-meta git setup\` again`] },
      );
    }
    await rename(path, chainedPath);
    chained = CHAINED_HOOK;
  }
  const body = [
    "#!/bin/sh",
    HOOK_MARKER,
    ...(chained ? [`# The hook that was here before runs first; its refusal stops the commit.`, `"$(dirname "$0")/${CHAINED_HOOK}" "$@" || exit $?`] : []),
    `exec ${cmd} check --staged`,
    "",
  ].join("\n");
  const changed = existing !== body;
  if (changed) {
    await mkdir(dir, { recursive: true });
    await writeFile(path, body);
  }
  await chmod(path, 0o755);
  return { path, changed, chained };
}
