import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, realpath, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { BootMetaError, ExitCode, isBootMetaError } from "../errors.js";
import { Git } from "../meta/git.js";

/** A warning the loader wants a person to see (a stale copy served, say). */
export interface ConfigWarning {
  code: string;
  message: string;
}

/** A remote ref as BOOT_META_REF or the `ref` option give it: a branch or tag name, never an option or a refspec. */
function checkRef(ref: string): string {
  if (ref === "" || ref.startsWith("-") || ref.startsWith("/") || ref.endsWith("/") || ref.endsWith(".lock") || ref.includes("..") || ref.includes("//") || !/^[A-Za-z0-9._/-]+$/.test(ref)) {
    throw new BootMetaError("CONFIG_INVALID_REF", `${JSON.stringify(ref)} is not a branch or tag name the loader can follow`, ExitCode.InvalidArgument, {
      data: { ref },
      suggestions: ["give a branch or tag of the meta repository's remote (BOOT_META_REF=main, or the ref option), or leave it out to follow the remote's default branch"],
    });
  }
  return ref;
}

const sameDir = async (a: string, b: string) => (await realpath(a).catch(() => a)) === (await realpath(b).catch(() => b));

/** The cache's clone of `url`, when `dir` holds one (a directory that is not a repository of its own is not). */
async function openCache(dir: string): Promise<Git | undefined> {
  if (!existsSync(dir)) return undefined;
  const git = await Git.open(dir, { isolated: true }).catch(() => undefined);
  return git && (await sameDir(git.dir, dir)) ? git : undefined;
}

/**
 * The cached clone of a git URL, fetched: the remote's default branch (its HEAD) or `ref`
 * lands on a ref of its own, and that is what the config is read at. A cache whose remote
 * URL was changed is pointed back at `url`; one that is not a repository (a clone killed half
 * way) is made again. When the remote cannot be reached, the last fetched copy is served and
 * said to be stale; with none, META_REMOTE_UNAVAILABLE.
 */
export async function cachedClone(url: string, o: { cacheDir?: string; env: NodeJS.ProcessEnv; ref?: string; warn: (w: ConfigWarning) => void; originChecked?: boolean }): Promise<{ dir: string; at: string; stale: boolean }> {
  const e = o.env;
  const root = o.cacheDir ?? join(e.XDG_CACHE_HOME || join(e.HOME ?? homedir(), ".cache"), "boot-meta", "repos");
  const dir = join(root, createHash("sha256").update(url).digest("hex").slice(0, 16));
  const ref = o.ref === undefined ? undefined : checkRef(o.ref);
  const wanted = ref === undefined ? "refs/boot-meta/default" : `refs/boot-meta/ref/${Buffer.from(ref).toString("hex")}`;
  let git = await openCache(dir);
  if (!git) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(root, { recursive: true });
    // Cloned beside and renamed into place: a clone killed half way never looks like a cache.
    const tmp = `${dir}.clone-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await Git.clone(url, tmp);
      await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
        // Another loader got there first: its clone serves as well as ours.
        if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
      });
    } catch (err) {
      if (isBootMetaError(err, "META_REMOTE_UNAVAILABLE")) err.suggestions.push("nothing was cached from it yet, so there is no last known good copy to start from");
      throw err;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    git = (await openCache(dir)) as Git;
  } else if (!o.originChecked) {
    const origin = (await git.run(["config", "--get", "remote.origin.url"], { reject: false })).stdout.trim();
    if (origin !== url) await git.run(origin === "" ? ["remote", "add", "origin", url] : ["remote", "set-url", "origin", url]);
  }
  try {
    await git.fetch(["--quiet", "--prune", "--no-tags", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", `+${ref ?? "HEAD"}:${wanted}`], url);
  } catch (err) {
    if (!isBootMetaError(err, "META_REMOTE_UNAVAILABLE")) throw err;
    const last = await git.run(["rev-parse", "--verify", "-q", `${wanted}^{commit}`], { reject: false });
    if (last.exitCode !== 0) {
      err.suggestions.push(`nothing of ${ref ? `its ref ${ref}` : "its default branch"} was cached yet, so there is no last known good copy to start from`);
      throw err;
    }
    const commit = last.stdout.trim();
    o.warn({ code: "CONFIG_STALE", message: `${err.message}; serving the last fetched copy (commit ${commit.slice(0, 12)}), which may be out of date` });
    return { dir: git.dir, at: commit, stale: true };
  }
  return { dir: git.dir, at: wanted, stale: false };
}

