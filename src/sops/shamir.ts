import { randomBytes } from "node:crypto";
import { BootMetaError, ExitCode } from "../errors.js";

// Shamir's secret sharing over GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1 (0x11B), as
// sops' shamir/shamir.go (HashiCorp Vault's) does it, with sops' deterministic x = i + 1.
// A share is the y-bytes followed by one byte x; it is what each key group wraps.

function mul(a: number, b: number): number {
  let acc = 0;
  for (let i = 7; i >= 0; i--) {
    acc = ((acc << 1) ^ (acc & 0x80 ? 0x1b : 0)) & 0xff;
    if ((b >> i) & 1) acc ^= a;
  }
  return acc;
}

/** a^254 = a^-1 in GF(2^8) (0 maps to 0). */
function inv(a: number): number {
  let r = 1;
  for (let i = 0; i < 254; i++) r = mul(r, a);
  return r;
}

function fail(message: string): BootMetaError {
  return new BootMetaError("SOPS_SHAMIR", message, ExitCode.InvalidArgument);
}

/** Splits `secret` into `parts` shares, any `threshold` of which rebuild it. */
export function split(secret: Uint8Array, parts: number, threshold: number): Uint8Array[] {
  if (parts < threshold) throw fail(`cannot split into ${parts} parts with a threshold of ${threshold}: parts cannot be fewer than the threshold`);
  if (parts > 255) throw fail("cannot split into more than 255 parts");
  if (threshold < 2) throw fail(`a threshold of ${threshold} makes no sense with several key groups: it must be at least 2`);
  if (secret.length === 0) throw fail("cannot split an empty secret");
  const out = Array.from({ length: parts }, (_, i) => {
    const s = new Uint8Array(secret.length + 1);
    s[secret.length] = i + 1;
    return s;
  });
  for (let idx = 0; idx < secret.length; idx++) {
    // A random polynomial of degree threshold-1 whose intercept is the secret byte.
    const coeffs = new Uint8Array([secret[idx] as number, ...randomBytes(threshold - 1)]);
    for (let i = 0; i < parts; i++) {
      const x = i + 1;
      let y = 0;
      for (let c = coeffs.length - 1; c >= 0; c--) y = mul(y, x) ^ (coeffs[c] as number);
      (out[i] as Uint8Array)[idx] = y;
    }
  }
  return out;
}

/** Rebuilds a secret from at least `threshold` distinct shares (Lagrange interpolation at 0). */
export function combine(shares: Uint8Array[]): Uint8Array {
  if (shares.length < 2) throw fail("less than two shares cannot rebuild the secret");
  const len = (shares[0] as Uint8Array).length;
  if (len < 2) throw fail("shares must be at least two bytes");
  if (shares.some((s) => s.length !== len)) throw fail("all shares must be the same length");
  const xs = shares.map((s) => s[len - 1] as number);
  if (new Set(xs).size !== xs.length) throw fail("duplicate share detected");
  const secret = new Uint8Array(len - 1);
  for (let idx = 0; idx < len - 1; idx++) {
    let acc = 0;
    for (let i = 0; i < shares.length; i++) {
      let basis = 1;
      for (let j = 0; j < shares.length; j++) {
        if (i === j) continue;
        // basis *= (0 - x_j) / (x_i - x_j); subtraction is xor in GF(2^8).
        basis = mul(basis, mul(xs[j] as number, inv((xs[i] as number) ^ (xs[j] as number))));
      }
      acc ^= mul((shares[i] as Uint8Array)[idx] as number, basis);
    }
    secret[idx] = acc;
  }
  return secret;
}
