import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BootMetaError } from "../../src/errors.js";
import { parseOpenSshPrivateKey, parseSshPublicKey, sshFingerprint, sshSign, sshVerify } from "../../src/ssh/sshsig.js";
import { tempDir } from "../helpers/gitdir.js";

// The key handling of SSH signatures, now that the keys are read by src/ssh/keys.ts: the
// codes and messages a signer sees. Signatures checked by ssh-keygen both ways: records.test.ts.

const dir = tempDir();
let n = 0;
function keygen(...args: string[]): { priv: string; pub: string; path: string } {
  const path = join(dir, `k${n++}`);
  execFileSync("ssh-keygen", ["-q", "-C", "ci", "-f", path, ...args]);
  return { priv: readFileSync(path, "utf8"), pub: readFileSync(`${path}.pub`, "utf8").trim(), path };
}
const ed = keygen("-t", "ed25519", "-N", "");

function failure(f: () => unknown): BootMetaError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BootMetaError);
    return e as BootMetaError;
  }
  throw new Error("expected a BootMetaError");
}

describe("signing keys", () => {
  it("reads an ed25519 key ssh-keygen made, with the public line and fingerprint ssh-keygen has", () => {
    const k = parseOpenSshPrivateKey(ed.priv, ed.path);
    expect(k.publicLine).toBe(ed.pub.split(" ").slice(0, 2).join(" "));
    expect(k.publicKey).toEqual(parseSshPublicKey(ed.pub));
    expect(sshFingerprint(k.publicKey)).toBe(execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${ed.path}.pub`]).toString().split(" ")[1]);
  });

  it.each([
    ["a passphrase-protected key", () => keygen("-t", "ed25519", "-N", "s3cret s3cret").priv, "is passphrase-protected"],
    ["an RSA key", () => keygen("-t", "rsa", "-b", "2048", "-N", "").priv, "is a key of type ssh-rsa; boot-meta signs with ed25519 keys"],
    ["an ECDSA key", () => keygen("-t", "ecdsa", "-N", "").priv, "is a key of type ecdsa-sha2-nistp256; boot-meta signs with ed25519 keys"],
    ["a public key given as the private one", () => ed.pub, "is not a usable signing key"],
    ["a damaged key", () => ed.priv.replace(/\n[A-Za-z0-9+/]{10}/, "\nAAAAAAAAAA"), "is not a usable signing key"],
  ])("refuses %s with SIGNING_KEY_INVALID naming the file", (_what, text, why) => {
    const e = failure(() => parseOpenSshPrivateKey(text(), "ci-key"));
    expect(e.code).toBe("SIGNING_KEY_INVALID");
    expect(e.message).toContain(`ci-key ${why}`);
  });

  it.each([
    ["an RSA key line", () => keygen("-t", "rsa", "-b", "2048", "-N", "").pub, "only ssh-ed25519"],
    ["a truncated line", () => "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA", "truncated"],
    ["a comment", () => "# alice's old key", "not a public key line"],
  ])("refuses %s as a signer's key with SIGNATURE_INVALID", (_what, line, why) => {
    const e = failure(() => parseSshPublicKey(line()));
    expect(e.code).toBe("SIGNATURE_INVALID");
    expect(e.message).toContain(why);
  });
});

describe("sshVerify on damaged signatures", () => {
  const message = Buffer.from("a binary");
  const file = join(dir, "msg");
  writeFileSync(file, message);
  execFileSync("ssh-keygen", ["-Y", "sign", "-f", ed.path, "-n", "boot-meta", file], { stdio: "ignore" });
  const theirs = readFileSync(`${file}.sig`, "utf8");
  const ours = sshSign(parseOpenSshPrivateKey(ed.priv), message);
  const body = (armored: string) => Buffer.from(armored.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const armor = (b: Buffer) => `-----BEGIN SSH SIGNATURE-----\n${b.toString("base64")}\n-----END SSH SIGNATURE-----\n`;

  it("checks ssh-keygen's signature and our own", () => {
    expect(sshVerify(theirs, message)).toMatchObject({ valid: true, publicKey: parseSshPublicKey(ed.pub) });
    expect(sshVerify(ours, message).valid).toBe(true);
    expect(sshVerify(ours, Buffer.from("another binary")).valid).toBe(false);
  });

  it("finds every single-byte change invalid or malformed, and every truncation malformed: never valid, never a crash", () => {
    for (const sig of [theirs, ours]) {
      const b = body(sig);
      for (let i = 0; i < b.length; i++) {
        const flipped = Buffer.from(b);
        flipped[i] = (flipped[i] as number) ^ 0x55;
        try {
          expect(sshVerify(armor(flipped), message).valid).toBe(false);
        } catch (e) {
          expect(e).toMatchObject({ code: "SIGNATURE_INVALID" });
        }
        expect(() => sshVerify(armor(b.subarray(0, i)), message)).toThrowError(expect.objectContaining({ code: "SIGNATURE_INVALID" }));
      }
    }
  });
});
