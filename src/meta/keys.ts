import { BootMetaError, ExitCode } from "../errors.js";
import type { IdentitySet } from "../sops/identities.js";
import { type RekeyResult, refuseUncommittedAccessEdits, rekey } from "./access.js";
import { Git } from "./git.js";
import { concernId, keyAddConcerns, notConfirmed } from "./key-checks.js";
import { KEYS_DIR, META_CONFIG, validateName } from "./layout.js";
import { type MetaConfig, own, parsePrincipalKeys, renderMetaConfig } from "./model.js";
import { readState, readStateAt } from "./state.js";
import { type CommitOptions, type CommitResult, commitChanges, type Tx } from "./commit.js";

export interface WriteOptions {
  author?: string;
  push?: boolean;
  onProgress?: (line: string) => void;
}

export const commitOpts = <T>(o: WriteOptions, message: CommitOptions<T>["message"]): CommitOptions<T> => ({ message, author: o.author, push: o.push });

const fileList = (paths: string[]) => paths.map((p) => `- ${p}`).join("\n");
const refusedNote = (v: RekeyResult) => (v.refused.length ? `\nLeft as they were, for a human to review (\`boot-meta access check\`):\n${v.refused.map((r) => `- ${r.path}: ${r.reason}`).join("\n")}\n` : "");

/**
 * `boot-meta keys add NAME --key age1…`: the principal can read what the rules give it, from
 * now on. Every governed file it may now read is re-wrapped for it — after its MAC and path
 * binding are checked, so a ciphertext copied to a path NAME reads is never handed to NAME
 * (see access.ts `rekey`); such files are listed in `refused` and left as they were.
 */
export async function addKey(
  repoDir: string,
  name: string,
  keys: string[],
  o: WriteOptions & {
    group?: string;
    identities: IdentitySet;
    /**
     * Checks, inside the write, for a group the rules do not have or a key another principal
     * holds (key-checks.ts): "all" accepts any, a list accepts the concerns with those ids
     * (`concernId`, what a person was shown and confirmed); anything else is
     * `KEYS_ADD_NOT_CONFIRMED`. Without it no such check is made.
     */
    confirm?: "all" | string[];
  },
): Promise<CommitResult<{ name: string; group: string | null; recipients: string[] } & RekeyResult>> {
  const recipients = principalKeys(name, keys, o.group);
  await refuseUncommittedAccessEdits(await Git.open(repoDir), "keys add");
  return commitChanges(
    repoDir,
    commitOpts(o, (v: RekeyResult) =>
        `keys: add ${name}${o.group ? ` to ${o.group}` : ""}\n\n${name} may now read ${v.rewrapped.length + v.rotated.length} file(s); their data keys were re-wrapped for the new recipients (values untouched).\n${fileList([...v.rewrapped, ...v.rotated])}\n${refusedNote(v)}`,
    ),
    async (tx) => {
      const before = await readState(tx);
      // Checked against the state this write builds on, so a change pushed since the person
      // was asked is asked about again rather than slipped through.
      if (o.confirm !== undefined && o.confirm !== "all") {
        const accepted = o.confirm;
        const open = keyAddConcerns(before, name, keys, o.group).filter((c) => !accepted.includes(concernId(c)));
        if (open.length) throw notConfirmed(name, open);
      }
      writePrincipal(tx, before.config, name, recipients, o.group);
      const result = await rekey(tx, await readState(tx), { identities: o.identities, before, onProgress: o.onProgress });
      return { name, group: o.group ?? null, recipients, ...result };
    },
  );
}

/** Checks a principal's name, group and public keys before anything is written; returns the keys as they will be stored. */
export function principalKeys(name: string, keys: readonly string[], group?: string): string[] {
  validateName("principal", name);
  if (group) validateName("group", group);
  const recipients = parsePrincipalKeys(keys.join("\n"), name);
  if (recipients.length === 0) throw new BootMetaError("INVALID_ARGUMENT", "give at least one public key with --key age1…", ExitCode.InvalidArgument);
  return recipients;
}

/** Writes keys/NAME.txt and, with `group`, NAME's membership into `.boot-meta.yaml` (`config` is the state it builds on). */
export function writePrincipal(tx: Pick<Tx, "write">, config: MetaConfig, name: string, recipients: readonly string[], group?: string): MetaConfig {
  tx.write(`${KEYS_DIR}/${name}.txt`, `# ${name}: public age key(s)\n${recipients.join("\n")}\n`);
  const members = group ? (own(config.groups, group) ?? []) : [];
  if (!group || members.includes(name)) return config;
  const next = { ...config, groups: { ...config.groups, [group]: [...members, name].sort() } };
  tx.write(META_CONFIG, renderMetaConfig(next));
  return next;
}

/**
 * `boot-meta keys remove NAME`: the key leaves keys/ and every group, and every file the rules
 * let it read gets a new data key, so it can open nothing written from now on. A file that
 * cannot be rotated (nobody here can open it, it is damaged) does not stop the rest: it is
 * listed in `refused`. A removal that would leave a file with no reader is refused whole.
 */
export async function removeKey(repoDir: string, name: string, o: WriteOptions & { identities: IdentitySet }): Promise<CommitResult<{ name: string; groups: string[] } & RekeyResult>> {
  validateName("principal", name);
  await refuseUncommittedAccessEdits(await Git.open(repoDir), "keys remove");
  return commitChanges(
    repoDir,
    commitOpts(o, (v: RekeyResult) =>
        `keys: remove ${name}\n\n${name} can no longer read anything written from now on: ${v.rotated.length} file(s) got a new data key and every value was re-encrypted.\n${fileList(v.rotated)}\n${refusedNote(v)}`,
    ),
    async (tx) => {
      const before = await readState(tx);
      const hadKey = before.keys.has(name);
      const inGroups = Object.entries(before.config.groups).filter(([, m]) => m.includes(name));
      if (hadKey) tx.remove(`${KEYS_DIR}/${name}.txt`);
      if (inGroups.length) {
        const groups = Object.fromEntries(Object.entries(before.config.groups).map(([g, m]) => [g, m.filter((x) => x !== name)]));
        tx.write(META_CONFIG, renderMetaConfig({ ...before.config, groups }));
      }
      const result = await rekey(tx, await readState(tx), { identities: o.identities, before, removed: [name], onProgress: o.onProgress });
      if (!hadKey && !inGroups.length && result.rotated.length === 0) {
        throw new BootMetaError("META_NO_PRINCIPAL", `there is no principal ${name} (no keys/${name}.txt, in no group), and no file is still encrypted to a removed key`, ExitCode.General);
      }
      return { name, groups: inGroups.map(([g]) => g), ...result };
    },
  );
}

/**
 * `boot-meta access sync`: regenerate .sops.yaml and bring every governed file to its rules'
 * recipients, binding existing files to their paths (see access.ts `rekey`). `accept` names
 * files a human reviewed: each is bound where it stands and rotated to the rules.
 */
export async function syncAccess(repoDir: string, o: WriteOptions & { identities: IdentitySet; accept?: string[] }): Promise<CommitResult<RekeyResult>> {
  await refuseUncommittedAccessEdits(await Git.open(repoDir), "access sync");
  return commitChanges(
    repoDir,
    commitOpts(o, (v: RekeyResult) => `access: sync recipients with the rules\n\n${v.rotated.length} rotated, ${v.rewrapped.length} re-wrapped, ${v.bound.length} bound to their path.\n${o.accept?.length ? `Accepted after review: ${o.accept.join(", ")}\n` : ""}${refusedNote(v)}`),
    async (tx) => rekey(tx, await readState(tx), { identities: o.identities, accept: o.accept, onProgress: o.onProgress }),
  );
}

export interface Principal {
  name: string;
  recipients: string[];
  groups: string[];
}

export async function listKeys(repoDir: string): Promise<Principal[]> {
  const s = await readStateAt(repoDir);
  const names = new Set([...s.keys.keys(), ...Object.values(s.config.groups).flat()]);
  return [...names].sort().map((name) => ({
    name,
    recipients: s.keys.get(name) ?? [],
    groups: Object.entries(s.config.groups).filter(([, m]) => m.includes(name)).map(([g]) => g).sort(),
  }));
}
