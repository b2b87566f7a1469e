import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { armor, Encrypter } from "age-encryption";
import { describe, expect, it } from "vitest";
import { generateAgeKey, unwrapDataKey, wrapDataKey } from "../../src/sops/age.js";
import { defaultKeysFile, type IdentitySet, identitySetFrom, loadIdentities, parseIdentityFile } from "../../src/sops/identities.js";
import { tempDir } from "../helpers/gitdir.js";

const key = () => generateAgeKey();

/** Runs `fn` expecting a BootMetaError; returns it. */
async function failure(fn: () => Promise<unknown> | unknown): Promise<Error & { code: string; data: Record<string, unknown> }> {
  try {
    await fn();
  } catch (e) {
    return e as Error & { code: string; data: Record<string, unknown> };
  }
  throw new Error("expected a failure");
}

// One contract for every place sops reads an age key file from (keysource.go:319-485): the
// same text put into each source must load the same keys, and the same bad text must fail
// the same way, naming the source and the line, never the line.
interface SourceCase {
  kind: IdentitySet["searched"][number]["source"]["kind"];
  /** Puts `text` where this source reads it; returns loadIdentities options and the name the errors use. */
  put(home: string, text: string): { opts: Parameters<typeof loadIdentities>[0]; names: string };
}

const sources: Record<string, SourceCase> = {
  SOPS_AGE_KEY: { kind: "SOPS_AGE_KEY", put: (home, text) => ({ opts: { env: { SOPS_AGE_KEY: text }, homeDir: home, platform: "linux" }, names: "SOPS_AGE_KEY" }) },
  SOPS_AGE_KEY_FILE: {
    kind: "SOPS_AGE_KEY_FILE",
    put(home, text) {
      const f = join(home, "my keys.txt");
      writeFileSync(f, text);
      return { opts: { env: { SOPS_AGE_KEY_FILE: f }, homeDir: home, platform: "linux" }, names: f };
    },
  },
  SOPS_AGE_KEY_CMD: {
    kind: "SOPS_AGE_KEY_CMD",
    put(home, text) {
      const f = join(home, "from a command.txt");
      writeFileSync(f, text);
      // A real command, shlex-split like sops does: the quoted path has spaces.
      return { opts: { env: { SOPS_AGE_KEY_CMD: `cat "${f}"`, PATH: process.env.PATH }, homeDir: home, platform: "linux" }, names: "SOPS_AGE_KEY_CMD" };
    },
  },
  "default keys.txt under XDG_CONFIG_HOME": {
    kind: "default-keys-file",
    put(home, text) {
      mkdirSync(join(home, "xdg/sops/age"), { recursive: true });
      writeFileSync(join(home, "xdg/sops/age/keys.txt"), text);
      return { opts: { env: { XDG_CONFIG_HOME: join(home, "xdg") }, homeDir: home, platform: "linux" }, names: join(home, "xdg/sops/age/keys.txt") };
    },
  },
  "default keys.txt under ~/.config": {
    kind: "default-keys-file",
    put(home, text) {
      mkdirSync(join(home, ".config/sops/age"), { recursive: true });
      writeFileSync(join(home, ".config/sops/age/keys.txt"), text);
      return { opts: { env: {}, homeDir: home, platform: "linux" }, names: join(home, ".config/sops/age/keys.txt") };
    },
  },
  "default keys.txt on macOS": {
    kind: "default-keys-file",
    put(home, text) {
      mkdirSync(join(home, "Library/Application Support/sops/age"), { recursive: true });
      writeFileSync(join(home, "Library/Application Support/sops/age/keys.txt"), text);
      return { opts: { env: {}, homeDir: home, platform: "darwin" }, names: join(home, "Library/Application Support/sops/age/keys.txt") };
    },
  },
  "an explicit identity file": {
    kind: "explicit",
    put(home, text) {
      const f = join(home, "explicit.txt");
      writeFileSync(f, text);
      return { opts: { env: {}, homeDir: home, platform: "linux", extraIdentityFiles: [f] }, names: f };
    },
  },
};

describe.each(Object.entries(sources))("identity source: %s", (_name, source) => {
  it("loads every key of an age-keygen style file: comments, blank lines, CRLF, no final newline", async () => {
    const [a, b, pq] = await Promise.all([key(), key(), generateAgeKey({ postQuantum: true })]);
    const home = tempDir();
    const { opts } = source.put(home, `# created: 2024-01-01T00:00:00Z\r\n# public key: ${a!.recipient}\r\n${a!.identity}\r\n\r\n${b!.identity}\n${pq!.identity}`);
    const set = await loadIdentities(opts);
    expect(set.identities).toEqual([a!.identity, b!.identity, pq!.identity]);
    expect(set.recipients).toEqual([a!.recipient, b!.recipient, pq!.recipient]);
    expect(set.searched.find((s) => s.source.kind === source.kind)).toMatchObject({ found: 3 });
  });

  it("refuses a file that is not a key file, naming the source and the line but not its content", async () => {
    const a = await key();
    const home = tempDir();
    const { opts, names } = source.put(home, `# fine\n${a.identity}\nsecret-looking-garbage SUPERSECRET\n`);
    const e = await failure(() => loadIdentities(opts));
    expect(e.code).toBe("SOPS_INVALID_IDENTITY");
    expect(e.message).toContain(source.kind === "SOPS_AGE_KEY_CMD" ? "SOPS_AGE_KEY_CMD" : names);
    expect(e.message).toContain("line 3");
    expect(e.message).not.toContain("SUPERSECRET");
    expect(e.message).not.toContain(a.identity);
    expect(JSON.stringify(e)).not.toContain("SUPERSECRET");
  });

  it("refuses a damaged key (bad checksum) without echoing it", async () => {
    const a = await key();
    const damaged = `${a.identity.slice(0, -3)}${a.identity.endsWith("QQQ") ? "PPP" : "QQQ"}`;
    const home = tempDir();
    const { opts } = source.put(home, `${damaged}\n`);
    const e = await failure(() => loadIdentities(opts));
    expect(e.code).toBe("SOPS_INVALID_IDENTITY");
    expect(e.message).toContain("line 1 is a damaged age secret key");
    expect(e.message).not.toContain(damaged.slice(20));
  });

  it("refuses a passphrase-protected identity file with the way out", async () => {
    const e = new Encrypter();
    e.setPassphrase("not used here");
    e.setScryptWorkFactor(2);
    const encrypted = armor.encode(await e.encrypt(`${(await key()).identity}\n`));
    const home = tempDir();
    const { opts } = source.put(home, encrypted);
    const err = await failure(() => loadIdentities(opts));
    expect(err.code).toBe("SOPS_INVALID_IDENTITY");
    expect(err.message).toContain("passphrase-protected");
    expect((err as unknown as { suggestions: string[] }).suggestions.join(" ")).toContain("age -d");
  });
});

describe("loadIdentities: sops' lookup", () => {
  it("combines SOPS_AGE_KEY (several keys per line), SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and the default keys.txt, in sops' order", async () => {
    const home = tempDir();
    const [k1, k2, k3, k4, k5, k6] = await Promise.all([1, 2, 3, 4, 5, 6].map(() => key()));
    writeFileSync(join(home, "file.txt"), `${k4!.identity}\n${k1!.identity}\n`);
    writeFileSync(join(home, "cmd.txt"), `${k5!.identity}\n`);
    mkdirSync(join(home, "xdg/sops/age"), { recursive: true });
    writeFileSync(join(home, "xdg/sops/age/keys.txt"), `${k6!.identity}\n`);
    const set = await loadIdentities({
      env: {
        SOPS_AGE_KEY: `${k1!.identity} ${k2!.identity}\t${k3!.identity}\n`,
        SOPS_AGE_KEY_FILE: join(home, "file.txt"),
        SOPS_AGE_KEY_CMD: `cat ${join(home, "cmd.txt")}`,
        XDG_CONFIG_HOME: join(home, "xdg"),
        PATH: process.env.PATH,
      },
      homeDir: home,
      platform: "linux",
    });
    // k1 appears twice (inline and in the file): kept once.
    expect(set.recipients).toEqual([k1, k2, k3, k4, k5, k6].map((k) => k!.recipient));
    expect(set.searched.map((s) => [s.source.kind, s.found])).toEqual([
      ["SOPS_AGE_KEY", 3],
      ["SOPS_AGE_KEY_FILE", 2],
      ["SOPS_AGE_KEY_CMD", 1],
      ["default-keys-file", 1],
    ]);
    expect(set.searched[2]?.source.where).toBe("cat");
  });

  it("is fine with nothing at all: the missing default file is recorded, not an error", async () => {
    const home = tempDir();
    const set = await loadIdentities({ env: {}, homeDir: home, platform: "linux" });
    expect(set.identities).toEqual([]);
    expect(set.searched).toEqual([{ source: { kind: "default-keys-file", where: join(home, ".config/sops/age/keys.txt") }, found: 0, error: "missing" }]);
  });

  it("treats empty variables as unset", async () => {
    const home = tempDir();
    const set = await loadIdentities({ env: { SOPS_AGE_KEY: "", SOPS_AGE_KEY_FILE: "", SOPS_AGE_KEY_CMD: "", XDG_CONFIG_HOME: "" }, homeDir: home, platform: "linux" });
    expect(set.searched.map((s) => s.source.kind)).toEqual(["default-keys-file"]);
    expect(set.searched[0]?.source.where).toBe(join(home, ".config/sops/age/keys.txt"));
  });

  it("refuses a missing SOPS_AGE_KEY_FILE when no other source has a key", async () => {
    const home = tempDir();
    const e = await failure(() => loadIdentities({ env: { SOPS_AGE_KEY_FILE: join(home, "nope.txt") }, homeDir: home }));
    expect(e.code).toBe("SOPS_INVALID_IDENTITY");
    expect(e.message).toBe(`cannot read the identity file ${join(home, "nope.txt")} named by SOPS_AGE_KEY_FILE: it does not exist`);
  });

  it("refuses a failing SOPS_AGE_KEY_CMD, and one that does not exist", async () => {
    const home = tempDir();
    const failing = await failure(() => loadIdentities({ env: { SOPS_AGE_KEY_CMD: "sh -c 'echo oops >&2; exit 3'", PATH: process.env.PATH }, homeDir: home }));
    expect(failing.code).toBe("SOPS_INVALID_IDENTITY");
    expect(failing.message).toBe("SOPS_AGE_KEY_CMD (sh) failed with exit code 3");
    const missing = await failure(() => loadIdentities({ env: { SOPS_AGE_KEY_CMD: "/nonexistent/age-key-helper --x", PATH: process.env.PATH }, homeDir: home }));
    expect(missing.message).toBe("SOPS_AGE_KEY_CMD (/nonexistent/age-key-helper) failed: command not found");
  });

  it("keeps going past a broken source when another one has keys, as sops does, and records why", async () => {
    const home = tempDir();
    const k = await key();
    mkdirSync(join(home, ".config/sops/age"), { recursive: true });
    writeFileSync(join(home, ".config/sops/age/keys.txt"), `${k.identity}\n`);
    const set = await loadIdentities({ env: { SOPS_AGE_KEY_FILE: join(home, "gone.txt"), SOPS_AGE_KEY_CMD: "false", PATH: process.env.PATH }, homeDir: home, platform: "linux" });
    expect(set.recipients).toEqual([k.recipient]);
    expect(set.searched.map((s) => [s.source.kind, s.found, s.error])).toEqual([
      ["SOPS_AGE_KEY_FILE", 0, expect.stringContaining("does not exist")],
      ["SOPS_AGE_KEY_CMD", 0, "SOPS_AGE_KEY_CMD (false) failed with exit code 1"],
      ["default-keys-file", 1, undefined],
    ]);
  });

  it("names every broken source when none gave a key", async () => {
    const home = tempDir();
    const e = await failure(() => loadIdentities({ env: { SOPS_AGE_KEY_FILE: join(home, "gone.txt"), SOPS_AGE_KEY_CMD: "false", PATH: process.env.PATH }, homeDir: home, platform: "linux" }));
    expect(e.code).toBe("SOPS_INVALID_IDENTITY");
    expect(e.message).toContain("no age identity could be loaded");
    expect(e.message).toContain("gone.txt");
    expect(e.message).toContain("SOPS_AGE_KEY_CMD (false)");
  });

  it("fails on a broken explicit identity file even when the defaults have keys", async () => {
    const home = tempDir();
    mkdirSync(join(home, ".config/sops/age"), { recursive: true });
    writeFileSync(join(home, ".config/sops/age/keys.txt"), `${(await key()).identity}\n`);
    const e = await failure(() => loadIdentities({ env: {}, homeDir: home, platform: "linux", extraIdentityFiles: [join(home, "missing.txt")] }));
    expect(e.code).toBe("SOPS_INVALID_IDENTITY");
    expect(e.message).toContain("missing.txt");
  });

  it("skips age plugin identities and says so", async () => {
    const home = tempDir();
    const k = await key();
    const f = join(home, "keys.txt");
    writeFileSync(f, `AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n${k.identity}\n`);
    const set = await loadIdentities({ env: { SOPS_AGE_KEY_FILE: f }, homeDir: home, platform: "linux" });
    expect(set.recipients).toEqual([k.recipient]);
    expect(set.searched[0]).toMatchObject({ found: 1, error: "1 age plugin identity skipped: plugins are not supported" });
  });

  it("puts extra identities first and the set opens what it should", async () => {
    const home = tempDir();
    const [a, b] = await Promise.all([key(), key()]);
    const set = await loadIdentities({ env: { SOPS_AGE_KEY: b.identity }, homeDir: home, platform: "linux", extraIdentities: [a.identity] });
    expect(set.recipients).toEqual([a.recipient, b.recipient]);
    expect(set.searched[0]?.source).toEqual({ kind: "explicit", where: "option" });
    const data = new Uint8Array(32).fill(1);
    expect(await unwrapDataKey(await wrapDataKey(data, b.recipient), set)).toEqual(data);
  });
});

describe("SSH identity sources (sops 3.10+)", () => {
  const sshKey = (dir: string, name: string, passphrase = "") => {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", "x@example", "-f", join(dir, name)]);
    return { pub: readFileSync(join(dir, `${name}.pub`), "utf8").split(" ").slice(0, 2).join(" "), path: join(dir, name) };
  };

  it("reads SOPS_AGE_SSH_PRIVATE_KEY_FILE, SOPS_AGE_SSH_PRIVATE_KEY_CMD and ~/.ssh/id_ed25519, before the age sources", async () => {
    const home = tempDir();
    mkdirSync(join(home, ".ssh"));
    const viaFile = sshKey(home, "deploy");
    const viaCmd = sshKey(home, "from-cmd");
    const dflt = sshKey(join(home, ".ssh"), "id_ed25519");
    const age = await key();
    const set = await loadIdentities({
      env: { SOPS_AGE_SSH_PRIVATE_KEY_FILE: viaFile.path, SOPS_AGE_SSH_PRIVATE_KEY_CMD: `cat ${viaCmd.path}`, SOPS_AGE_KEY: age.identity, PATH: process.env.PATH },
      homeDir: home,
      platform: "linux",
    });
    expect(set.recipients).toEqual([viaFile.pub, viaCmd.pub, dflt.pub, age.recipient]);
    expect(set.searched.map((s) => s.source.kind)).toEqual(["ssh", "ssh", "ssh", "SOPS_AGE_KEY", "default-keys-file"]);
    const data = new Uint8Array(32).fill(4);
    expect(await unwrapDataKey(await wrapDataKey(data, readFileSync(`${dflt.path}.pub`, "utf8").trim()), set)).toEqual(data);
  });

  it("records a passphrase-protected ~/.ssh/id_ed25519 without failing when an age key is there", async () => {
    const home = tempDir();
    mkdirSync(join(home, ".ssh"));
    sshKey(join(home, ".ssh"), "id_ed25519", "hunter2 hunter2");
    const age = await key();
    const set = await loadIdentities({ env: { SOPS_AGE_KEY: age.identity }, homeDir: home, platform: "linux" });
    expect(set.recipients).toEqual([age.recipient]);
    expect(set.searched[0]).toMatchObject({ source: { kind: "ssh", where: join(home, ".ssh/id_ed25519") }, found: 0, error: expect.stringContaining("passphrase-protected") });
  });
});

describe("parseIdentityFile and identitySetFrom", () => {
  it("parses one bare line with no newline, and skips comments", async () => {
    const k = await key();
    expect(parseIdentityFile(k.identity, "x")).toEqual([k.identity]);
    expect(parseIdentityFile(`#${k.identity}\n\n`, "x")).toEqual([]);
  });

  it("does not split a key file line on whitespace (only SOPS_AGE_KEY may hold several per line)", async () => {
    const [a, b] = await Promise.all([key(), key()]);
    const e = await failure(() => parseIdentityFile(`${a.identity} ${b.identity}\n`, "f.txt"));
    expect(e.code).toBe("SOPS_INVALID_IDENTITY");
    expect(e.message).toContain("line 1");
  });

  it("builds a set from literal keys, whitespace lists and SSH private keys, and refuses anything else", async () => {
    const [a, b] = await Promise.all([key(), key()]);
    const dir = tempDir();
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "id")]);
    const set = await identitySetFrom([`${a.identity} ${b.identity}`, readFileSync(join(dir, "id"), "utf8")]);
    expect(set.recipients).toEqual([a.recipient, b.recipient, readFileSync(join(dir, "id.pub"), "utf8").split(" ").slice(0, 2).join(" ")]);
    expect(set.searched).toEqual([
      { source: { kind: "explicit", where: "the given identities" }, found: 2 },
      { source: { kind: "explicit", where: "the given identities" }, found: 1 },
    ]);
    const e = await failure(() => identitySetFrom(["AGE-SECRET-KEY-1-not-really"], "--identity"));
    expect(e.code).toBe("SOPS_INVALID_IDENTITY");
    expect(e.message).toContain("--identity");
    expect(e.message).not.toContain("not-really");
  });
});

describe("defaultKeysFile", () => {
  it("follows Go's os.UserConfigDir, with sops' XDG_CONFIG_HOME rule on macOS", () => {
    expect(defaultKeysFile({}, "/home/u", "linux")).toBe("/home/u/.config/sops/age/keys.txt");
    expect(defaultKeysFile({ XDG_CONFIG_HOME: "/x" }, "/home/u", "linux")).toBe("/x/sops/age/keys.txt");
    expect(defaultKeysFile({}, "/Users/u", "darwin")).toBe("/Users/u/Library/Application Support/sops/age/keys.txt");
    expect(defaultKeysFile({ XDG_CONFIG_HOME: "/x" }, "/Users/u", "darwin")).toBe("/x/sops/age/keys.txt");
    expect(defaultKeysFile({ APPDATA: "/w/Roaming" }, "/w", "win32")).toBe(join("/w/Roaming", "sops", "age", "keys.txt"));
  });
});
