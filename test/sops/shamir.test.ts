import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { combine, gfDiv, gfMul, split } from "../../src/sops/shamir.js";

const runs = process.env.SLOW ? 1000 : 30;
const enc = (s: string) => new TextEncoder().encode(s);
const SHAMIR = { code: "SOPS_SHAMIR" };

describe("GF(2^8) with the AES polynomial 0x11B", () => {
  // Known answers from FIPS-197 §4.2 (the AES field sops' shamir.go works in).
  it("multiplies like FIPS-197's worked examples", () => {
    expect(gfMul(0x57, 0x83)).toBe(0xc1);
    expect(gfMul(0x57, 0x13)).toBe(0xfe);
    expect(gfMul(0x57, 0x02)).toBe(0xae);
  });

  // Ported from getsops/sops shamir/shamir_test.go (commit 15e36f97): TestField_Mult,
  // TestField_Divide, TestField_MulDivSmoke.
  it("passes sops' field tests", () => {
    expect(gfMul(3, 7)).toBe(9);
    expect(gfMul(3, 0)).toBe(0);
    expect(gfMul(0, 3)).toBe(0);
    expect(gfDiv(0, 7)).toBe(0);
    expect(gfDiv(3, 3)).toBe(1);
    expect(gfDiv(6, 3)).toBe(2);
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b++) {
        if (b === 0) expect(gfMul(a, b)).toBe(0);
        else if (gfDiv(gfMul(a, b), b) !== a) expect.fail(`(${a} * ${b}) / ${b} != ${a}`);
      }
    }
    expect(() => gfDiv(1, 0)).toThrow(RangeError);
  });
});

describe("split", () => {
  // shamir_test.go TestSplit: 5 shares of "test", threshold 3, each one byte longer.
  it("makes shares of y-bytes followed by x = i+1", () => {
    const out = split(enc("test"), 5, 3);
    expect(out).toHaveLength(5);
    out.forEach((share, i) => {
      expect(share).toHaveLength(5);
      expect(share[4]).toBe(i + 1);
    });
  });

  // shamir_test.go TestSplit_invalid, plus the same bounds stated in shamir.go Split.
  it.each([
    ["no parts, no threshold", enc("test"), 0, 0],
    ["fewer parts than the threshold", enc("test"), 2, 3],
    ["more than 255 parts", enc("test"), 1000, 3],
    ["a threshold of 1", enc("test"), 10, 1],
    ["an empty secret", new Uint8Array(0), 3, 2],
    ["a fractional threshold", enc("test"), 3, 2.5],
  ])("refuses %s", (_what, secret, parts, threshold) => {
    expect(() => split(secret, parts, threshold)).toThrowError(expect.objectContaining(SHAMIR));
  });

  it("explains the threshold rule in terms of key groups", () => {
    expect(() => split(enc("k"), 3, 1)).toThrowError(/at least 2 \(one key group needs no Shamir split\)/);
    expect(() => split(enc("k"), 2, 3)).toThrowError(/fewer parts than the threshold/);
  });
});

describe("combine", () => {
  // shamir_test.go TestCombine: every ordered choice of 3 of the 5 shares rebuilds "test".
  it("rebuilds the secret from every ordered choice of threshold shares (sops' TestCombine)", () => {
    const out = split(enc("test"), 5, 3);
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 5; j++) {
        for (let k = 0; k < 5; k++) {
          if (i === j || j === k || i === k) continue;
          expect(combine([out[i]!, out[j]!, out[k]!])).toEqual(enc("test"));
        }
      }
    }
  });

  // shamir_test.go TestCombine_invalid.
  it.each([
    ["no shares", []],
    ["one share", [enc("foo")]],
    ["shares of different lengths", [enc("foo"), enc("ba")]],
    ["shares too short to hold a byte", [enc("f"), enc("b")]],
    ["the same share twice", [enc("foo"), enc("foo")]],
  ])("refuses %s", (_what, shares) => {
    expect(() => combine(shares)).toThrowError(expect.objectContaining(SHAMIR));
  });

  // shamir_test.go TestInterpolate_Rand, through the public API: for every intercept, a
  // hand-made degree-2 polynomial 42 + 7x + 3x² evaluated at x = 1, 2, 3 is interpolated back.
  it("interpolates hand-evaluated polynomials back to their intercept", () => {
    const f = (c0: number, x: number) => c0 ^ gfMul(7, x) ^ gfMul(3, gfMul(x, x));
    for (let c0 = 0; c0 < 256; c0++) {
      expect(combine([1, 2, 3].map((x) => new Uint8Array([f(c0, x), x])))).toEqual(new Uint8Array([c0]));
    }
  });

  // Known answer worked by hand: 0x2a + 0x07·x gives 0x2a^0x07 = 0x2d at x=1, 0x2a^0x0e = 0x24 at x=2.
  it("opens hand-computed shares", () => {
    expect(combine([new Uint8Array([0x2d, 1]), new Uint8Array([0x24, 2])])).toEqual(new Uint8Array([0x2a]));
    expect(combine([new Uint8Array([0x24, 2]), new Uint8Array([0x2d, 1])])).toEqual(new Uint8Array([0x2a]));
  });
});

describe("properties", () => {
  const params = fc.integer({ min: 2, max: 5 }).chain((threshold) => fc.tuple(fc.constant(threshold), fc.integer({ min: threshold, max: threshold + 3 })));

  test.prop([fc.uint8Array({ minLength: 1, maxLength: 40 }), params, fc.infiniteStream(fc.nat())], { numRuns: runs })(
    "any threshold-sized subset of the shares, in any order, rebuilds the secret",
    (secret, [threshold, parts], picks) => {
      const shares = split(secret, parts, threshold);
      const pool = [...shares];
      const chosen: Uint8Array[] = [];
      const it = picks[Symbol.iterator]();
      while (chosen.length < threshold) chosen.push(pool.splice((it.next().value as number) % pool.length, 1)[0] as Uint8Array);
      expect(combine(chosen)).toEqual(secret);
      // More shares than needed are fine too.
      expect(combine(shares)).toEqual(secret);
    },
  );

  test.prop([fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 3, max: 5 })], { numRuns: runs })(
    "threshold-1 shares do not give the secret (a 32-byte key: a chance match is 2^-256)",
    (secret, threshold) => {
      const shares = split(secret, threshold + 1, threshold);
      expect(combine(shares.slice(1, threshold))).not.toEqual(secret);
    },
  );

  test.prop([fc.uint8Array({ minLength: 1, maxLength: 8 })], { numRuns: runs })("a threshold of 1 is refused, as sops refuses it", (secret) => {
    expect(() => split(secret, 3, 1)).toThrowError(expect.objectContaining(SHAMIR));
  });
});
