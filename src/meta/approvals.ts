import { BootMetaError, ExitCode } from "../errors.js";
import { type CommitResult, commitChanges } from "./commit.js";
import { commitOpts, type WriteOptions } from "./keys.js";
import { APPROVALS_DIR, validateName } from "./layout.js";
import { adminChangeOf } from "./verify.js";

/**
 * `boot-meta approve COMMIT --as NAME`: an admin's signed approval of the admin-area change a
 * commit makes (a change to the rules or keys/ proposed on another branch), for a quorum of
 * admins (write.quorum.admin). Commits `approvals/admin/<change>/<NAME>.json` on the current
 * branch; the change counts it once it is committed after the approval (rebased on top). The
 * file is only NAME's to write, so the commit that adds it must be signed by NAME's key —
 * `boot-meta verify` and readers with a trust root check that.
 */
export async function approveAdminChange(repoDir: string, rev: string, o: WriteOptions & { as: string }): Promise<CommitResult<{ change: string; commit: string; paths: string[]; path: string }>> {
  const name = validateName("principal", o.as);
  const c = await adminChangeOf(repoDir, rev);
  if (c.paths.length === 0) {
    throw new BootMetaError("INVALID_ARGUMENT", `commit ${c.commit.slice(0, 12)} changes nothing in the admin area (the rules, keys/, tokens/, subscriptions/): it needs no approval`, ExitCode.InvalidArgument, { data: { commit: c.commit } });
  }
  const path = `${APPROVALS_DIR}/admin/${c.change}/${name}.json`;
  const body = `${JSON.stringify({ change: c.change, commit: c.commit, paths: c.paths, approvedBy: name }, null, 2)}\n`;
  return commitChanges(repoDir, commitOpts(o, `approve: ${name} approves admin change ${c.change.slice(0, 12)} (${c.paths.join(", ")})`), async (tx) => {
    tx.write(path, body);
    return { change: c.change, commit: c.commit, paths: c.paths, path };
  });
}
