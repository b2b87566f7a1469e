import { join } from "node:path";
import { createProject, initRepo } from "../../src/meta/repo.js";
import { bareRemoteWithClones, git, gitRepo, tempDir } from "./gitdir.js";

/** A meta repo with a project `shop` (no keys needed for records). */
export async function recordsRepo(): Promise<string> {
  const dir = join(tempDir(), "meta");
  await initRepo(dir);
  await createProject(dir, "shop");
  return dir;
}

/** A bare remote holding a meta repo with project `shop`, and `n` clones of it. */
export async function recordsRemote(n: number): Promise<{ remote: string; clones: string[] }> {
  const { remote, clones } = bareRemoteWithClones(n + 1);
  const seed = clones[0] as string;
  await initRepo(seed);
  await createProject(seed, "shop");
  git(seed, "push", "-q", "origin", "main");
  for (const c of clones.slice(1)) git(c, "pull", "-q", "--ff-only", "origin", "main");
  return { remote, clones: clones.slice(1) };
}

/** A source repo with one commit, on branch main, with a remote URL. */
export function sourceRepo(name = "app"): string {
  const d = gitRepo();
  git(d, "remote", "add", "origin", `https://example.invalid/org/${name}.git`);
  return d;
}
