import { BootMetaError, ExitCode } from "../errors.js";

/**
 * The versions Go gives a commit of a module (go.dev/ref/mod#versions, #pseudo-versions,
 * #major-version-suffixes): a semver tag on the commit itself, else a pseudo-version made of
 * the newest tagged version before it, the commit's UTC committer time and its hash.
 */

/** A canonical semantic version as Go takes a tag: vMAJOR.MINOR.PATCH[-PRERELEASE], no leading zeros, no +build. */
const SEMVER = /^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?$/;

/** The major version a Go module path implies: N for a `/vN` suffix (N ≥ 2) or gopkg.in's `.vN`, else 0. */
export function goMajor(module: string): number {
  if (module.startsWith("gopkg.in/")) return Number(/\.v(\d+)(?:-unstable)?$/.exec(module)?.[1] ?? 0);
  const n = Number(/\/v(\d+)$/.exec(module)?.[1] ?? 0);
  return n >= 2 ? n : 0;
}

/**
 * Whether Go takes `tag` as a version of `module`: canonical semver of the major version the
 * path implies (v0 or v1 for a path without a suffix). Without a Go module path (an npm
 * package), any canonical semver tag.
 */
export function isVersionOf(tag: string, goModule: string | undefined): boolean {
  const m = SEMVER.exec(tag);
  if (!m) return false;
  if (goModule === undefined) return true;
  const major = Number(m[1]);
  const want = goMajor(goModule);
  return goModule.startsWith("gopkg.in/") || want >= 2 ? major === want : major <= 1;
}

/** Semantic version precedence (semver.org §11): -1, 0 or 1. Both must be canonical (see {@link isVersionOf}). */
export function compareVersions(a: string, b: string): number {
  const pa = SEMVER.exec(a) as RegExpExecArray;
  const pb = SEMVER.exec(b) as RegExpExecArray;
  for (const i of [1, 2, 3]) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d) return Math.sign(d);
  }
  const [ra, rb] = [pa[4], pb[4]];
  if (ra === rb) return 0;
  if (ra === undefined) return 1;
  if (rb === undefined) return -1;
  const [xa, xb] = [ra.split("."), rb.split(".")];
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const [x, y] = [xa[i], xb[i]];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const [nx, ny] = [/^\d+$/.test(x), /^\d+$/.test(y)];
    if (nx && ny) return Math.sign(Number(x) - Number(y));
    if (nx !== ny) return nx ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** The highest of `tags` that is a version of the module (as Go's RecentTag picks among the tags merged into a commit). */
export function highestVersion(tags: readonly string[], goModule: string | undefined): string | undefined {
  let best: string | undefined;
  for (const t of tags) if (isVersionOf(t, goModule) && (best === undefined || compareVersions(t, best) > 0)) best = t;
  return best;
}

/**
 * The version a go.mod requires a commit of `module` at: `tag`, when it is a version tag of the
 * module on the commit itself; else a pseudo-version of the UTC commit (committer) time and the
 * first 12 hex digits of the hash, on the base `base` (the highest version tag before it):
 * vX.0.0-yyyymmddhhmmss-abcdefabcdef without one (X the path's major version),
 * vX.Y.(Z+1)-0.yyyymmddhhmmss-abcdefabcdef after a release vX.Y.Z,
 * vX.Y.Z-pre.0.yyyymmddhhmmss-abcdefabcdef after a pre-release vX.Y.Z-pre.
 */
export function goVersionOf(module: string, commit: string, commitTime: string, o: { tag?: string; base?: string } = {}): string {
  if (o.tag && isVersionOf(o.tag, module)) return o.tag;
  const d = new Date(commitTime);
  if (Number.isNaN(d.getTime())) throw new BootMetaError("RECORD_INVALID", `the commit time of ${module} (${JSON.stringify(commitTime)}) is not an RFC 3339 time`, ExitCode.InvalidFormat);
  const rev = `${d.toISOString().replace(/\.\d{3}Z$/, "").replace(/[-:T]/g, "")}-${commit.slice(0, 12)}`;
  const base = o.base && isVersionOf(o.base, module) ? (SEMVER.exec(o.base) as RegExpExecArray) : undefined;
  if (!base) return `v${goMajor(module)}.0.0-${rev}`;
  if (base[4] !== undefined) return `${o.base}.0.${rev}`;
  return `v${base[1]}.${base[2]}.${Number(base[3]) + 1}-0.${rev}`;
}
