import { Flags } from "@oclif/core";
import { resolveSettings } from "../config/bootstrap.js";
import { BootMetaError, ExitCode } from "../errors.js";
import { redactSecrets } from "../redact.js";
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
  identity: Flags.string({ description: "age identity file (default: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, the bootstrap file, ~/.config/sops/age/keys.txt)" }),
};

export const targetFlags = {
  project: Flags.string({ char: "p", description: "project (default: BOOT_META_PROJECT or the bootstrap file)" }),
  env: Flags.string({ char: "e", description: "environment: dev, stage, prod, dev/<developer>… (default: BOOT_META_ENV or the bootstrap file)" }),
};

export async function repoOf(flags: { meta?: string }): Promise<string> {
  const s = await resolveSettings({ repo: flags.meta });
  return s.repo ?? process.cwd();
}

export async function identitiesOf(flags: { identity?: string }): Promise<IdentitySet> {
  const s = await resolveSettings({ identity: flags.identity });
  // Loaded here, not at the top: commands that never decrypt start without the crypto modules.
  const { loadIdentities } = await import("../sops/identities.js");
  return loadIdentities({ extraIdentityFiles: s.identity ? [s.identity] : [] });
}

export async function targetOf(flags: { project?: string; env?: string }, opts: { envRequired?: boolean } = {}): Promise<{ project: string; env?: string }> {
  const s = await resolveSettings({ project: flags.project, envName: flags.env });
  if (!s.project) throw new BootMetaError("CONFIG_NOT_CONFIGURED", "no project was given", ExitCode.InvalidArgument, { suggestions: ["pass --project, set BOOT_META_PROJECT, or run `boot-meta bootstrap`"] });
  if (opts.envRequired && !s.env) throw new BootMetaError("CONFIG_NOT_CONFIGURED", "no environment was given", ExitCode.InvalidArgument, { suggestions: ["pass --env, set BOOT_META_ENV, or run `boot-meta bootstrap`"] });
  return { project: s.project, env: s.env };
}

export function progress(cmd: { jsonEnabled(): boolean }): (line: string) => void {
  return (line) => {
    if (!cmd.jsonEnabled()) process.stderr.write(`${redactSecrets(line)}\n`);
  };
}
