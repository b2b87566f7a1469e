import { resolveSettings } from "../config/bootstrap.js";
import { readFileCapped } from "../io.js";
import { mergeFile, type MergeFileResult, textconv } from "../meta/git-drivers.js";
import { type IdentitySet, loadIdentities } from "../sops/identities.js";

/**
 * What `boot-meta git textconv` and `git merge-file` do once their arguments are read: the oclif
 * commands (commands/git/) and bin/run.js's fast path (fast-path.ts) both run these, so they
 * cannot differ. git runs them once per file of a diff or a merge, where oclif's start-up
 * would be most of the time taken.
 */

/**
 * The reader's identities as `identitiesOf({})` finds them (sops' lookup, then the bootstrap
 * file's) and the trust root; no identity when the lookup fails: a driver never fails on it.
 */
async function readerContext(): Promise<{ identities: IdentitySet; trustRoot?: string }> {
  const s = await resolveSettings({}).catch(() => undefined);
  try {
    return { identities: await loadIdentities({ extraIdentityFiles: s?.identity ? [s.identity] : [] }), trustRoot: s?.trustRoot };
  } catch {
    return { identities: { identities: [], recipients: [], searched: [] }, trustRoot: s?.trustRoot };
  }
}

/** `git textconv FILE`: writes what git shows for the file to stdout; never fails. */
export async function textconvVerb(file: string, stdout: (b: Uint8Array) => void): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = await readFileCapped(file);
  } catch {
    return; // git gave a file it cannot read back: nothing to show, and no failure of git diff
  }
  stdout(await textconv(bytes, file, { identities: (await readerContext()).identities }));
}

/** `git merge-file BASE OURS THEIRS PATH`: the merge driver; its result's `exitCode` is the one git expects. */
export async function mergeFileVerb(base: string, ours: string, theirs: string, path: string, stderr: (line: string) => void): Promise<MergeFileResult> {
  const r = await mergeFile(base, ours, theirs, path, await readerContext());
  if (r.how === "value-wise" && r.conflicts.length) stderr(`boot-meta: ${path}: both sides changed ${r.conflicts.join(", ")}; the conflict is inside the value(s): \`boot-meta edit ${path}\` to resolve`);
  if (r.how === "git" && r.reason) stderr(`boot-meta: ${path}: merged by git's line merge (${r.reason})`);
  return r;
}
