import { execFileSync } from "node:child_process";
import { createDecipheriv } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unwrapPgp } from "../../src/sops/pgp.js";
import { tempDir } from "../helpers/gitdir.js";
import { gnupgHomeWithTestKey, killGpgAgent, VECTORS } from "../helpers/vectors.js";

// sops' own example files wrap their data key for the functional-tests PGP key
// (getsops/sops pgp/sops_functional_tests_key.asc, copied to test/fixtures/sops-upstream).

interface PgpEntry {
  fp: string;
  enc: string;
}

function metadata(file: string): { pgp: PgpEntry[]; mac: string; lastmodified: string } {
  const text = readFileSync(join(VECTORS, file), "utf8");
  return file.endsWith(".json") ? JSON.parse(text).sops : parse(text).sops;
}

/** A data key is right when it opens the file's MAC (AES-256-GCM, AAD = lastmodified). */
function macOpens(file: string, key: Uint8Array): string {
  const m = metadata(file);
  const [, data, iv, tag] = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:str\]/.exec(m.mac) as RegExpExecArray;
  const d = createDecipheriv("aes-256-gcm", key, Buffer.from(iv as string, "base64"));
  d.setAAD(Buffer.from(String(m.lastmodified)));
  d.setAuthTag(Buffer.from(tag as string, "base64"));
  return Buffer.concat([d.update(Buffer.from(data as string, "base64")), d.final()]).toString();
}

const homes: string[] = [];
let home: string;
beforeAll(() => {
  home = gnupgHomeWithTestKey();
  homes.push(home);
});
afterAll(() => {
  for (const h of homes) killGpgAgent(h);
});

/**
 * Flips one base64 character in body line `pick(bodyLines)` of an armored PGP message and
 * drops the armor checksum, as someone editing it would.
 */
function tamper(enc: string, pick: (body: number[]) => number): string {
  const lines = enc.replace(/\n$/, "").split("\n");
  const body = lines.flatMap((l, i) => (l !== "" && !l.startsWith("-----") && !l.startsWith("=") && !l.includes(": ") ? [i] : []));
  const i = body[pick(body)] as number;
  const line = lines[i] as string;
  lines[i] = `${line.slice(0, 5)}${line[5] === "A" ? "B" : "A"}${line.slice(6)}`;
  return `${lines.filter((l) => !l.startsWith("=")).join("\n")}\n`;
}

function emptyHome(): string {
  const h = tempDir("boot-meta-gpg-");
  chmodSync(h, 0o700);
  homes.push(h);
  return h;
}

describe("unwrapPgp through the real gpg", () => {
  it.each(["getsops-sops/example.yaml", "getsops-sops/example.json", "getsops-sops/format.enc.yaml"])("unwraps the pgp enc of %s to its 32-byte data key", async (file) => {
    const [entry] = metadata(file).pgp;
    expect(entry?.fp).toBe("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4");
    const key = await unwrapPgp(entry!.enc, { gnupgHome: home });
    expect(key).toHaveLength(32);
    expect(macOpens(file, key as Uint8Array)).toMatch(/^[0-9A-F]{128}$/);
  });

  it("opens both recipients of multiple_keys.yaml to the same data key (the test keyring holds both)", async () => {
    const [a, b] = metadata("getsops-sops/multiple_keys.yaml").pgp;
    const ka = await unwrapPgp(a!.enc, { gnupgHome: home });
    expect(ka).toHaveLength(32);
    expect(await unwrapPgp(b!.enc, { gnupgHome: home })).toEqual(ka);
  });

  it("takes GNUPGHOME from the environment when no home is given", async () => {
    const [entry] = metadata("getsops-sops/example.yaml").pgp;
    expect(await unwrapPgp(entry!.enc, { env: { ...process.env, GNUPGHOME: home } })).toHaveLength(32);
  });

  it("resolves undefined when gpg has no secret key for it", async () => {
    const [entry] = metadata("getsops-sops/example.yaml").pgp;
    expect(await unwrapPgp(entry!.enc, { gnupgHome: emptyHome() })).toBeUndefined();
  });

  it("refuses an enc that is not a PGP message, and one whose encrypted data was tampered with, with SOPS_WRAPPED_KEY_CORRUPT", async () => {
    await expect(unwrapPgp("-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n", { gnupgHome: home })).rejects.toMatchObject({ code: "SOPS_WRAPPED_KEY_CORRUPT" });
    // gpg prints the manipulated plaintext before it notices the bad MDC: it must not be taken.
    const tampered = tamper(metadata("getsops-sops/example.yaml").pgp[0]!.enc, (body) => body.length - 1);
    await expect(unwrapPgp(tampered, { gnupgHome: home })).rejects.toMatchObject({ code: "SOPS_WRAPPED_KEY_CORRUPT" });
  });

  it("reports a damaged key packet for a key gpg holds as a key it could not use", async () => {
    const tampered = tamper(metadata("getsops-sops/example.yaml").pgp[0]!.enc, () => 3);
    await expect(unwrapPgp(tampered, { gnupgHome: home })).rejects.toMatchObject({ code: "SOPS_PGP_FAILED", message: expect.stringContaining("or the wrapped key is damaged") });
  });

  it("says so when gpg cannot be run (SOPS_GPG_EXEC as sops reads it)", async () => {
    const [entry] = metadata("getsops-sops/example.yaml").pgp;
    await expect(unwrapPgp(entry!.enc, { gnupgHome: home, env: { ...process.env, SOPS_GPG_EXEC: "/nonexistent/gpg" } })).rejects.toMatchObject({
      code: "SOPS_PGP_UNAVAILABLE",
      message: expect.stringContaining("/nonexistent/gpg is not installed"),
    });
  });

  it("refuses to pretend a locked key is missing: SOPS_PGP_FAILED, and no prompt", async () => {
    const h = emptyHome();
    // A pinentry that fails at once, so no dialog can wait for a person during the test.
    writeFileSync(join(h, "gpg-agent.conf"), "pinentry-program /bin/false\n");
    const env = { ...process.env, GNUPGHOME: h };
    execFileSync("gpg", ["--batch", "--quiet", "--passphrase", "correct horse", "--pinentry-mode", "loopback", "--quick-gen-key", "locked@example.invalid", "future-default", "default", "never"], { env, stdio: "ignore" });
    const enc = execFileSync("gpg", ["--batch", "--quiet", "--trust-model", "always", "--armor", "--encrypt", "-r", "locked@example.invalid"], { env, input: Buffer.alloc(32, 1) }).toString();
    // Forget any passphrase the agent cached while generating.
    killGpgAgent(h);
    const e = await unwrapPgp(enc, { gnupgHome: h }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "SOPS_PGP_FAILED", message: expect.stringContaining("passphrase-protected") });
    expect((e as Error).message).not.toContain("correct horse");
  });
});
