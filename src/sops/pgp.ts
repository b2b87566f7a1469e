import { BootMetaError, type ErrorCode, ExitCode } from "../errors.js";

// PGP is decrypt-only in boot-meta: repositories sops encrypted for PGP still open, through
// the real gpg binary as sops' own fallback does it (pgp/keysource.go:449-471, gpgExec
// 622-646: `gpg [--homedir H] -d`, binary overridable with SOPS_GPG_EXEC).

function failed(code: ErrorCode, message: string, suggestions: string[] = [], cause?: unknown): BootMetaError {
  return new BootMetaError(code, message, ExitCode.CouldNotRetrieveKey, { suggestions, cause });
}

/** The `[GNUPG:] KEYWORD args` lines gpg writes with --status-fd. */
function statusLines(stderr: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of stderr.split("\n")) {
    const m = /^\[GNUPG:\] (\S+) ?(.*)$/.exec(line);
    if (m) out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), m[2] as string]);
  }
  return out;
}

/**
 * Unwraps a PGP-wrapped data key (the `enc` of a `pgp` entry) with `gpg --batch --quiet
 * --decrypt`, in `gnupgHome` if given (else gpg's own default: $GNUPGHOME, ~/.gnupg).
 * Resolves `undefined` when gpg holds no secret key for it. Throws `SOPS_PGP_UNAVAILABLE`
 * when gpg cannot be run, `SOPS_WRAPPED_KEY_CORRUPT` when `enc` is not a decryptable PGP
 * message, and `SOPS_PGP_FAILED` when gpg has the key but could not use it (e.g. no
 * passphrase for it).
 */
export async function unwrapPgp(enc: string, opts: { gnupgHome?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Uint8Array | undefined> {
  const env = opts.env ?? process.env;
  const gpg = env.SOPS_GPG_EXEC || "gpg";
  const args = [...(opts.gnupgHome ? ["--homedir", opts.gnupgHome] : []), "--batch", "--quiet", "--no-tty", "--status-fd", "2", "--decrypt"];
  const { execa } = await import("execa");
  const r = await execa(gpg, args, { input: enc, env, extendEnv: false, encoding: "buffer", stripFinalNewline: false, reject: false });
  if ((r as { code?: string }).code === "ENOENT") {
    throw failed("SOPS_PGP_UNAVAILABLE", `cannot unwrap a PGP data key: ${gpg} is not installed or not on PATH`, ["install GnuPG, or set SOPS_GPG_EXEC to the gpg binary", "or ask for your age key to be added to the file"], r);
  }
  const stderr = Buffer.from(r.stderr as Uint8Array).toString("utf8");
  const status = statusLines(stderr);
  const out = new Uint8Array(r.stdout as Uint8Array);
  // gpg writes what it decrypted even when the MDC check fails: only a clean run counts.
  if (r.exitCode === 0 && status.has("DECRYPTION_OKAY") && !status.has("BADMDC") && !status.has("DECRYPTION_FAILED")) {
    // An old gpg meeting an AEAD packet it drops "succeeds" with nothing (keysource.go:458-467).
    if (out.length === 0) throw failed("SOPS_WRAPPED_KEY_CORRUPT", "gpg decrypted the PGP data key to zero bytes; the enc may use a cipher this gpg does not know", ["upgrade GnuPG"]);
    return out;
  }
  const restore = ["restore the file from git history; the `enc` entries of the sops section must not be edited by hand"];
  if (status.has("NODATA") || !status.has("ENC_TO")) throw failed("SOPS_WRAPPED_KEY_CORRUPT", "a PGP-wrapped data key in the sops metadata is not a PGP message gpg can read", restore);
  // DECRYPTION_KEY means gpg had the session key: what failed after it is the message itself.
  if (status.has("DECRYPTION_KEY")) throw failed("SOPS_WRAPPED_KEY_CORRUPT", "a PGP-wrapped data key in the sops metadata failed its integrity check (damaged or tampered with)", restore);
  // gpg only considers keys it holds the secret of; none considered means none of ours.
  const encTo = (status.get("ENC_TO") ?? []).length;
  if (!status.has("KEY_CONSIDERED") || (status.get("NO_SECKEY") ?? []).length >= encTo) return undefined;
  if (status.has("MISSING_PASSPHRASE") || status.has("BAD_PASSPHRASE") || status.has("PINENTRY_LAUNCHED")) {
    throw failed("SOPS_PGP_FAILED", "gpg has the secret key for this PGP data key but could not unlock it (no passphrase was given)", ["unlock the key in gpg-agent first (e.g. `gpg --decrypt` anything encrypted to it) and retry"]);
  }
  if (status.has("DECRYPTION_FAILED")) {
    // gpg reports a key it could not unlock and a damaged key packet alike.
    throw failed("SOPS_PGP_FAILED", "gpg has the secret key for this PGP data key but could not use it: the key is passphrase-protected and no passphrase could be asked for, or the wrapped key is damaged", [
      "unlock the key in gpg-agent first (e.g. `gpg --decrypt` anything encrypted to it) and retry",
      "if that does not help, restore the file from git history",
    ]);
  }
  const said = stderr
    .split("\n")
    .filter((l) => l.startsWith("gpg:"))
    .at(-1);
  throw failed("SOPS_PGP_FAILED", `gpg could not unwrap a PGP data key (exit code ${r.exitCode ?? "none"})${said ? `: ${said.slice(5).trim()}` : ""}`, ["run `gpg --decrypt` on the enc by hand to see why"]);
}
