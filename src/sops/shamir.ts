import { randomBytes } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";

// Shamir's secret sharing as sops does it for key groups (shamir/shamir.go, HashiCorp
// Vault's code): one random polynomial of degree threshold-1 per secret byte over GF(2^8)
// with the AES polynomial x^8+x^4+x^3+x+1 (0x11B), evaluated at x = i+1 for share i (sops'
// deterministic x, where Vault draws them at random). A share is the y-bytes followed by one
// byte x; it is what every key of group i wraps.

/** a·b in GF(2^8) mod 0x11B (shamir.go mult). */
export function gfMul(a: number, b: number): number {
  let acc = 0;
  for (let i = 7; i >= 0; i--) {
    acc = ((acc << 1) ^ (acc & 0x80 ? 0x1b : 0)) & 0xff;
    if ((b >> i) & 1) acc ^= a;
  }
  return acc;
}

// a^254 = a^-1 (Fermat, as shamir.go inverse); 0 maps to 0. Computed for all 256 on first
// use, not at import: the 65,000 multiplications cost every CLI start several milliseconds.
let inverse: Uint8Array | undefined;
function inverses(): Uint8Array {
  inverse ??= Uint8Array.from({ length: 256 }, (_, a) => {
    let r = 1;
    for (let i = 0; i < 254; i++) r = gfMul(r, a);
    return a === 0 ? 0 : r;
  });
  return inverse;
}

/** a/b in GF(2^8) (shamir.go div); throws on b = 0 where Go panics. */
export function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError("division by zero in GF(2^8)");
  return gfMul(a, inverses()[b] as number);
}

function fail(message: string): BootMetaError {
  return new BootMetaError("SOPS_SHAMIR", message, ExitCode.InvalidArgument, {
    suggestions: ["with several key_groups, shamir_threshold must be between 2 and the number of groups"],
  });
}

/**
 * Splits `secret` into `parts` shares, any `threshold` of which rebuild it: share i is
 * `y-bytes ‖ (i+1)`, one byte longer than the secret. The bounds are sops' (shamir.go
 * Split): 2 ≤ threshold ≤ parts ≤ 255, a non-empty secret. Throws `SOPS_SHAMIR`.
 */
export function split(secret: Uint8Array, parts: number, threshold: number): Uint8Array[] {
  if (!Number.isInteger(parts) || !Number.isInteger(threshold)) throw fail(`cannot split into ${parts} parts with a threshold of ${threshold}: both must be whole numbers`);
  if (parts < threshold) throw fail(`cannot split into ${parts} parts with a threshold of ${threshold}: there cannot be fewer parts than the threshold`);
  if (parts > 255) throw fail(`cannot split into ${parts} parts: at most 255`);
  if (threshold < 2) throw fail(`a threshold of ${threshold} cannot be used: it must be at least 2 (one key group needs no Shamir split)`);
  if (secret.length === 0) throw fail("cannot split an empty secret");
  const out = Array.from({ length: parts }, (_, i) => {
    const s = new Uint8Array(secret.length + 1);
    s[secret.length] = i + 1;
    return s;
  });
  const coeffs = new Uint8Array(threshold);
  for (let idx = 0; idx < secret.length; idx++) {
    coeffs[0] = secret[idx] as number;
    coeffs.set(randomBytes(threshold - 1), 1);
    for (let i = 0; i < parts; i++) {
      // Horner's rule at x = i+1 (shamir.go evaluate).
      const x = i + 1;
      let y = coeffs[threshold - 1] as number;
      for (let c = threshold - 2; c >= 0; c--) y = gfMul(y, x) ^ (coeffs[c] as number);
      (out[i] as Uint8Array)[idx] = y;
    }
    coeffs.fill(0);
  }
  return out;
}

/**
 * Rebuilds a secret from shares by Lagrange interpolation at 0 (shamir.go Combine): at least
 * two, all the same length, no two with the same x. Like sops it cannot tell whether enough
 * shares were given: fewer than the threshold give a wrong secret, not an error (the MAC
 * check after decryption is what catches it). Throws `SOPS_SHAMIR`.
 */
export function combine(shares: Uint8Array[]): Uint8Array {
  if (shares.length < 2) throw fail("less than two shares cannot rebuild the secret");
  const len = (shares[0] as Uint8Array).length;
  if (len < 2) throw fail("shares must be at least two bytes long");
  if (shares.some((s) => s.length !== len)) throw fail("all shares must be the same length");
  const xs = shares.map((s) => s[len - 1] as number);
  if (new Set(xs).size !== xs.length) throw fail("duplicate share detected: two shares have the same x");
  // The Lagrange basis at 0 depends only on the xs: once per combine, not per byte.
  const basis = xs.map((xi, i) => xs.reduce((acc, xj, j) => (i === j ? acc : gfMul(acc, gfDiv(xj, xi ^ xj))), 1));
  const secret = new Uint8Array(len - 1);
  for (let idx = 0; idx < len - 1; idx++) {
    let acc = 0;
    for (let i = 0; i < shares.length; i++) acc ^= gfMul((shares[i] as Uint8Array)[idx] as number, basis[i] as number);
    secret[idx] = acc;
  }
  return secret;
}
