import { execa } from "execa";

/**
 * Unwraps a PGP-wrapped data key through the real `gpg` (decrypt only), so repositories
 * that sops encrypted for PGP open here too (sops pgp/keysource.go shells out the same way).
 * Resolves undefined when gpg is missing or holds no secret key for it.
 */
export async function unwrapPgp(enc: string, opts: { gnupgHome?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Uint8Array | undefined> {
  const env = { ...(opts.env ?? process.env), ...(opts.gnupgHome ? { GNUPGHOME: opts.gnupgHome } : {}) };
  const r = await execa("gpg", ["--batch", "--quiet", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", "", "--decrypt"], {
    input: enc,
    env,
    encoding: "buffer",
    reject: false,
    timeout: 30_000,
  });
  if (r.failed || r.exitCode !== 0) return undefined;
  return new Uint8Array(r.stdout as Uint8Array);
}
