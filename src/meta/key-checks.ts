import { BootMetaError, ExitCode } from "../errors.js";
import { META_CONFIG, KEYS_DIR, validateName } from "./layout.js";
import { parsePrincipalKeys, type RepoState } from "./model.js";
import { withReader } from "./reader.js";
import { readState } from "./state.js";

/**
 * Something about a `keys add` that is legal but most likely a mistake, so it is confirmed
 * before anything is written: a group that `.boot-meta.yaml` does not have (a typo makes a
 * new group that no access rule names, and the principal silently reads nothing), or a
 * public key that another principal already holds (whoever holds the private key then reads
 * what both principals read, and removing one of them no longer revokes it).
 */
export type KeyAddConcern =
  | { kind: "unknown-group"; group: string; groups: string[]; closest?: string; message: string; hint: string }
  | { kind: "key-held"; recipient: string; by: string; message: string; hint: string };

/** The concerns about adding `keys` as principal `name` (optionally to `group`) in a repository state. */
export function keyAddConcerns(state: Pick<RepoState, "config" | "keys">, name: string, keys: string[], group?: string): KeyAddConcern[] {
  validateName("principal", name);
  if (group !== undefined) validateName("group", group);
  const recipients = parsePrincipalKeys(keys.join("\n"), name);
  const out: KeyAddConcern[] = [];
  const groups = Object.keys(state.config.groups).sort();
  if (group !== undefined && !Object.hasOwn(state.config.groups, group)) {
    const closest = nearest(group, groups);
    out.push({
      kind: "unknown-group",
      group,
      groups,
      ...(closest ? { closest } : {}),
      message: `the group ${group} is not in ${META_CONFIG} (its groups: ${groups.join(", ") || "none"})`,
      hint: closest
        ? `did you mean --group ${closest}?`
        : `a new group reads nothing until an access rule in ${META_CONFIG} names it; add the rule, then run \`boot-meta access sync\``,
    });
  }
  for (const recipient of recipients) {
    for (const [other, held] of [...state.keys].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (other === name || !held.includes(recipient)) continue;
      out.push({
        kind: "key-held",
        recipient,
        by: other,
        message: `the key ${shortKey(recipient)} is already ${other}'s (${KEYS_DIR}/${other}.txt)`,
        hint: `give ${name} a key of its own; to rename ${other}, add the new name and then \`boot-meta keys remove ${other}\``,
      });
    }
  }
  return out;
}

/** {@link keyAddConcerns} against the repository's committed state (HEAD). */
export async function checkKeyAdd(repoDir: string, name: string, keys: string[], group?: string): Promise<KeyAddConcern[]> {
  const state = await withReader(repoDir, undefined, readState);
  return keyAddConcerns(state, name, keys, group);
}

/** A concern's identity, to confirm exactly the concerns a person was shown. */
export function concernId(c: KeyAddConcern): string {
  return c.kind === "unknown-group" ? `unknown-group:${c.group}` : `key-held:${c.recipient}:${c.by}`;
}

/** `KEYS_ADD_NOT_CONFIRMED` for the concerns nobody confirmed: nothing is written. */
export function notConfirmed(name: string, concerns: KeyAddConcern[]): BootMetaError {
  return new BootMetaError("KEYS_ADD_NOT_CONFIRMED", `not adding ${name}: ${concerns.map((c) => c.message).join("; ")}. Nothing was written`, ExitCode.General, {
    data: { name, concerns: concerns.map(({ message: _m, hint: _h, ...c }) => c) },
    suggestions: [...concerns.map((c) => c.hint), "if it is what you meant, run it again with --yes"],
  });
}

function shortKey(r: string): string {
  return r.length > 24 ? `${r.slice(0, 12)}…${r.slice(-8)}` : r;
}

/** The one known name a typo away from `name` (an edit per four letters, at least one), if exactly one is. */
function nearest(name: string, known: string[]): string | undefined {
  const close = known.filter((k) => distance(name, k) <= Math.max(1, Math.floor(name.length / 4)));
  return close.length === 1 ? close[0] : undefined;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length] as number;
}
