import { Flags } from "@oclif/core";
import { resolveSettings } from "../config/bootstrap.js";
import { BootMetaError, ExitCode } from "../errors.js";
import type { IdentitySet } from "../sops/identities.js";

/** Flags of every command that works on the meta repository. */
export const repoFlags = {
  meta: Flags.string({ description: "the meta repository (default: BOOT_META_REPO, the bootstrap file's repo, or the current directory)" }),
};

export const writeFlags = {
  push: Flags.boolean({ description: "push the commit (default: git config boot-meta.push); a rejected push is rebased and retried, never forced", allowNo: true }),
  author: Flags.string({ description: 'commit author, "Name <email>" (default: git config)' }),
};

export const identityFlag = {
  // Non-greedy: `--identity a.txt KEY` must leave KEY an argument (repeat the flag for more).
  identity: Flags.string({
    multiple: true,
    multipleNonGreedy: true,
    description:
      "age identity file to use instead of every other: SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, SSH keys, the bootstrap file's and ~/.config/sops/age/keys.txt are not read, so you see what that key sees (repeatable)",
  }),
  "add-identity": Flags.string({ multiple: true, multipleNonGreedy: true, description: "age identity file to use as well as those found in SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, the bootstrap file and ~/.config/sops/age/keys.txt (repeatable)" }),
};

export const targetFlags = {
  project: Flags.string({ char: "p", description: "project (default: BOOT_META_PROJECT or the bootstrap file)" }),
  env: Flags.string({ char: "e", description: "environment: dev, stage, prod, dev/<developer>… (default: BOOT_META_ENV or the bootstrap file)" }),
};

export async function repoOf(flags: { meta?: string }): Promise<string> {
  const s = await resolveSettings({ repo: flags.meta });
  return s.repo ?? process.cwd();
}

/**
 * The identities a command decrypts with: only the `--identity` files when given (an admin
 * asking "what can alice see"), else the sops lookup and the bootstrap file's identity; the
 * `--add-identity` files join either.
 */
export async function identitiesOf(flags: { identity?: string[]; "add-identity"?: string[] }): Promise<IdentitySet> {
  // Loaded here, not at the top: commands that never decrypt start without the crypto modules.
  const { identitiesFromFiles, loadIdentities } = await import("../sops/identities.js");
  const added = flags["add-identity"] ?? [];
  if (flags.identity?.length) return identitiesFromFiles([...flags.identity, ...added]);
  const s = await resolveSettings({});
  return loadIdentities({ extraIdentityFiles: [...added, ...(s.identity ? [s.identity] : [])] });
}

export async function targetOf(flags: { project?: string; env?: string }, opts: { envRequired?: boolean } = {}): Promise<{ project: string; env?: string }> {
  const s = await resolveSettings({ project: flags.project, envName: flags.env });
  if (!s.project) throw new BootMetaError("CONFIG_NOT_CONFIGURED", "no project was given", ExitCode.InvalidArgument, { suggestions: ["pass --project, set BOOT_META_PROJECT, or run `boot-meta bootstrap`"] });
  if (opts.envRequired && !s.env) throw new BootMetaError("CONFIG_NOT_CONFIGURED", "no environment was given", ExitCode.InvalidArgument, { suggestions: ["pass --env, set BOOT_META_ENV, or run `boot-meta bootstrap`"] });
  return { project: s.project, env: s.env };
}

