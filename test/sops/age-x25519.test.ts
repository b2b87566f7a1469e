import { execFileSync } from "node:child_process";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { fc, test } from "@fast-check/vitest";
import { armor, Decrypter, Encrypter } from "age-encryption";
import { describe, expect, it } from "vitest";
import { generateAgeKey } from "../../src/sops/age.js";
import { decryptAgeX25519, nativeIdentity, x25519PrivateKey, x25519PublicKey, x25519RawPublic } from "../../src/sops/age-x25519.js";

const runs = process.env.SLOW ? 200 : 20;

describe("native X25519 age decryption", () => {
  it("opens what the age CLI wrote, and returns not-mine for someone else's key", async () => {
    const a = await generateAgeKey();
    const b = await generateAgeKey();
    const file = execFileSync("age", ["-r", a.recipient], { input: Buffer.alloc(32, 7) });
    expect(decryptAgeX25519(file, [nativeIdentity(a.identity)!])).toEqual({ kind: "ok", data: new Uint8Array(Buffer.alloc(32, 7)) });
    expect(decryptAgeX25519(file, [nativeIdentity(b.identity)!])).toEqual({ kind: "not-mine" });
  });

  test.prop([fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.integer({ min: 1, max: 3 })], { numRuns: runs })("agrees with the age-encryption package for several recipients", async (data, n) => {
    const keys = await Promise.all(Array.from({ length: n }, () => generateAgeKey()));
    const e = new Encrypter();
    for (const k of keys) e.addRecipient(k.recipient);
    const file = await e.encrypt(data);
    const last = keys[n - 1]!;
    const d = new Decrypter();
    d.addIdentity(last.identity);
    expect(decryptAgeX25519(file, [nativeIdentity(last.identity)!])).toEqual({ kind: "ok", data: await d.decrypt(file) });
  });

  it("refuses a damaged header MAC and payload, and leaves other stanza types to the package", async () => {
    const a = await generateAgeKey();
    const id = nativeIdentity(a.identity)!;
    const text = armor.decode(armor.encode(execFileSync("age", ["-r", a.recipient], { input: Buffer.alloc(32) })));
    const s = Buffer.from(text);
    const macAt = s.indexOf("\n--- ") + 5;
    const badMac = Buffer.from(s);
    badMac[macAt] = badMac[macAt] === 65 ? 66 : 65;
    expect(decryptAgeX25519(badMac, [id])).toMatchObject({ kind: "corrupt" });
    const badPayload = Buffer.from(s);
    badPayload[badPayload.length - 1] = (badPayload[badPayload.length - 1] as number) ^ 1;
    expect(decryptAgeX25519(badPayload, [id])).toMatchObject({ kind: "corrupt" });
    const pq = await generateAgeKey({ postQuantum: true });
    const e = new Encrypter();
    e.addRecipient(pq.recipient);
    expect(decryptAgeX25519(await e.encrypt(new Uint8Array(32)), [id])).toEqual({ kind: "unknown" });
    expect(nativeIdentity(pq.identity)).toBeUndefined();
  });

  test.prop([fc.uint8Array({ minLength: 32, maxLength: 32 })], { numRuns: runs })("keys read as JWK are the keys PKCS#8 and SPKI give", (scalar) => {
    // The JWK reading relies on Node taking a private key from `d` alone; this holds it to OpenSSL's own reading.
    const der = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), scalar]), format: "der", type: "pkcs8" });
    const spki = createPublicKey(der).export({ format: "der", type: "spki" });
    const ours = x25519PrivateKey(scalar);
    expect(ours.export({ format: "der", type: "pkcs8" })).toEqual(der.export({ format: "der", type: "pkcs8" }));
    expect(x25519RawPublic(ours)).toEqual(Buffer.from(spki.subarray(spki.length - 32)));
    expect(x25519PublicKey(x25519RawPublic(ours)).export({ format: "der", type: "spki" })).toEqual(spki);
  });
});
