import { BootMetaError, ExitCode } from "../errors.js";
import { decodeUtf8 } from "../limits.js";
import { Git } from "./git.js";
import { CONFIG_FILE, KEYS_DIR, META_CONFIG, PROJECT_DIRS, PROJECT_FILE, validateName } from "./layout.js";
import { parseMetaConfig, parsePrincipalKeys, type RepoState } from "./model.js";
import { type Reader, withReader } from "./reader.js";

const validName = (kind: "project" | "principal", name: string): boolean => {
  try {
    validateName(kind, name);
    return true;
  } catch {
    return false;
  }
};

/**
 * Reads the repository's settings, keys and governed files as a reader or a write's
 * transaction sees them. Only keys/ and each project's defaults and envs/ are listed, so a
 * meta repo with 100,000 records costs no more here than an empty one.
 *
 * Names come from whoever committed them, so they are data: a key file or a project
 * directory whose name is not a valid principal or project name is not a principal or a
 * project (it gets no key and no rule); every file in a project's env folders is governed
 * whatever its name.
 */
export async function readState(tx: Pick<Reader, "read" | "list" | "children">): Promise<RepoState> {
  const raw = await tx.read(META_CONFIG);
  if (!raw) {
    throw new BootMetaError("META_NOT_INITIALISED", `this repository has no ${META_CONFIG}: it is not a boot-meta meta repository`, ExitCode.General, {
      suggestions: ["run `boot-meta init` in it first"],
    });
  }
  const config = parseMetaConfig(decodeUtf8(raw, META_CONFIG));
  const keys = new Map<string, string[]>();
  for (const c of await tx.children(KEYS_DIR)) {
    const name = c.name.endsWith(".txt") ? c.name.slice(0, -4) : undefined;
    if (c.dir || !name || !validName("principal", name)) continue;
    const text = decodeUtf8((await tx.read(`${KEYS_DIR}/${c.name}`)) ?? new Uint8Array(), `${KEYS_DIR}/${c.name}`);
    keys.set(name, parsePrincipalKeys(text, name));
  }
  const { projects, files } = await findProjects(tx);
  return { config, projects, keys, files };
}

/**
 * Every project (a folder holding a project.yaml, wherever it sits: project names may have
 * slashes) and its governed files (defaults and everything under envs/), both sorted. The
 * record directories beside a project.yaml, and the top-level keys/ and digest index, are not
 * descended into, nor is anything whose name no project could have.
 */
export async function findProjects(tx: Pick<Reader, "list" | "children">): Promise<{ projects: string[]; files: string[] }> {
  const files: string[] = [];
  const projects: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await tx.children(dir);
    const at = dir === "" ? "" : `${dir}/`;
    if (dir !== "" && entries.some((c) => !c.dir && c.name === PROJECT_FILE)) {
      projects.push(dir);
      if (entries.some((c) => !c.dir && c.name === CONFIG_FILE)) files.push(`${at}${CONFIG_FILE}`);
      if (entries.some((c) => c.dir && c.name === "envs")) files.push(...(await tx.list(`${at}envs`)));
    }
    for (const c of entries) {
      if (!c.dir || PROJECT_DIRS.includes(c.name) || (dir === "" && (c.name === KEYS_DIR || c.name === "binaries"))) continue;
      if (validName("project", `${at}${c.name}`)) await walk(`${at}${c.name}`);
    }
  };
  await walk("");
  return { projects: projects.sort(), files: files.sort() };
}

/** Reads the state at a commit (default HEAD) without writing. */
export async function readStateAt(repoDir: string, at = "HEAD"): Promise<RepoState & { commit: string; git: Git }> {
  const git = await Git.open(repoDir);
  return withReader(git.dir, at, async (r) => ({ ...(await readState(r)), commit: r.commit, git }));
}
