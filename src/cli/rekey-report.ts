import { BootMetaError } from "../errors.js";
import type { RekeyResult } from "../meta/access.js";

/**
 * After a re-key was committed: the files it left as they were are listed, and the command
 * exits 1 (`META_REKEY_INCOMPLETE`, with the whole result in `data` for `--json`), so a
 * script never mistakes a partial re-key for a finished one.
 */
export function reportRefused<T extends RekeyResult>(what: string, result: T, commit: string | undefined): void {
  if (result.refused.length === 0) return;
  throw new BootMetaError(
    "META_REKEY_INCOMPLETE",
    `${what}${commit ? ` (committed ${commit.slice(0, 12)})` : ""}, but ${result.refused.length} file(s) were left as they were:\n${result.refused.map((r) => `  ${r.path}: ${r.reason}`).join("\n")}`,
    1,
    {
      data: { ...(result as unknown as Record<string, unknown>), commit: commit ?? null },
      suggestions: ["each file above needs a human: `boot-meta access check` shows it; re-create it, or after review `boot-meta access sync --accept PATH`"],
    },
  );
}
