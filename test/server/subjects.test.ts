import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { isBootMetaError } from "../../src/errors.js";
import type { Change } from "../../src/server/mirror.js";
import { livenessKey } from "../../src/server/nats-liveness.js";
import { parseNatsUrl } from "../../src/server/nats.js";
import { changeFor, changesSubject, channelSubject, channelsOf, decodeToken, encodeToken, HEAD_SUBJECT } from "../../src/server/subjects.js";

/**
 * NATS subjects of the config service (DESIGN.md "Project names in URLs and subjects"): a
 * name is one token, every byte outside [A-Za-z0-9_-] written %XX; the liveness bucket's keys
 * use = instead (KV keys refuse %). And the NATS URL, whose credentials never reach a log.
 */
const runs = process.env.SLOW ? 500 : 40;

describe("encodeToken", () => {
  it.each([
    ["shop", "shop"],
    ["main/maintemplatev2", "main%2Fmaintemplatev2"],
    ["web.eu-1", "web%2Eeu-1"],
    ["a b", "a%20b"],
    ["ü", "%C3%BC"],
    ["日本", "%E6%97%A5%E6%9C%AC"],
    ["🚀", "%F0%9F%9A%80"],
    ["*", "%2A"],
    [">", "%3E"],
    ["100%", "100%25"],
    ["snake_case-name", "snake_case-name"],
  ])("writes %j as %j", (name, token) => {
    expect(encodeToken(name)).toBe(token);
    expect(decodeToken(token)).toBe(name);
  });

  it("uses = as the escape for key-value keys, escaping = itself", () => {
    expect(encodeToken("main/maintemplatev2", "=")).toBe("main=2Fmaintemplatev2");
    expect(encodeToken("a=b", "=")).toBe("a=3Db");
    expect(livenessKey("main/maintemplatev2", "web.1")).toBe("main=2Fmaintemplatev2.web=2E1");
  });

  test.prop([fc.string({ unit: "grapheme", maxLength: 40 })], { numRuns: runs })("gives one token of [A-Za-z0-9_%-] that decodes back", (name) => {
    const t = encodeToken(name);
    expect(t).toMatch(/^[A-Za-z0-9_%-]*$/);
    expect(decodeToken(t)).toBe(name);
    const k = encodeToken(name, "=");
    // A JetStream key-value key's characters, with no dot: one token.
    expect(k).toMatch(/^[-=\w]*$/);
    expect(decodeToken(k, "=")).toBe(name);
  });

  test.prop([fc.string({ unit: "grapheme", maxLength: 12 }), fc.string({ unit: "grapheme", maxLength: 12 })], { numRuns: runs })("never gives two names the same token", (a, b) => {
    fc.pre(a !== b);
    expect(encodeToken(a)).not.toBe(encodeToken(b));
  });

  it.each(["a%2", "a%2f", "%41", "a.b", "a b", "%FF", "%C3"])("refuses to decode %j, which it never makes", (token) => {
    expect(decodeToken(token)).toBeUndefined();
  });
});

describe("subjects", () => {
  it("puts a project and a channel each in one token", () => {
    expect(changesSubject("shop")).toBe("bootmeta.shop.changes");
    expect(changesSubject("main/maintemplatev2")).toBe("bootmeta.main%2Fmaintemplatev2.changes");
    expect(changesSubject("my.app")).toBe("bootmeta.my%2Eapp.changes");
    expect(channelSubject("main/maintemplatev2", "stable")).toBe("bootmeta.main%2Fmaintemplatev2.channels.stable");
    expect(channelSubject("shop", "beta.eu")).toBe("bootmeta.shop.channels.beta%2Eeu");
    for (const s of [changesSubject("x y.z"), channelSubject("a.b", "c d")]) expect(s.split(".")).toHaveLength(s.endsWith("changes") ? 3 : 4);
  });

  it("keeps the repository's head subject apart from every project's", () => {
    // Two tokens: never a project's subject, and bootmeta.<project>.> or bootmeta.*.changes
    // (three tokens or more) never match it, whatever the project is called.
    expect(HEAD_SUBJECT).toBe("bootmeta.head");
    for (const p of ["head", "_repo", "bootmeta"]) {
      expect(changesSubject(p)).not.toBe(HEAD_SUBJECT);
      expect(changesSubject(p).split(".")).toHaveLength(3);
    }
  });
});

describe("what a change publishes", () => {
  const change: Change = {
    commit: "a".repeat(40),
    parent: "b".repeat(40),
    time: "2026-01-01T00:00:00.000Z",
    projects: ["main", "main/maintemplatev2", "shop"],
    paths: [
      "main/config.sops.yaml",
      "main/maintemplatev2/channels/stable.json",
      "main/maintemplatev2/envs/prod/config.sops.yaml",
      "shop/channels/beta.eu.json",
      "shop/channels/old/nested.json",
      "shop/envs/prod/config.sops.yaml",
      "keys/admin.txt",
    ],
  };

  it("gives each project its own paths only: a nested project's paths are not its parent's", () => {
    expect(changeFor(change, "main")).toEqual({ ...change, projects: ["main"], paths: ["main/config.sops.yaml"] });
    expect(changeFor(change, "main/maintemplatev2").paths).toEqual(["main/maintemplatev2/channels/stable.json", "main/maintemplatev2/envs/prod/config.sops.yaml"]);
    expect(changeFor(change, "shop").paths).toEqual(["shop/channels/beta.eu.json", "shop/channels/old/nested.json", "shop/envs/prod/config.sops.yaml"]);
  });

  it("finds the channel files it changed, in their projects", () => {
    expect(channelsOf(change)).toEqual([
      { project: "main/maintemplatev2", channel: "stable", path: "main/maintemplatev2/channels/stable.json" },
      { project: "shop", channel: "beta.eu", path: "shop/channels/beta.eu.json" },
    ]);
  });
});

describe("parseNatsUrl", () => {
  it("takes the credentials out of the URL and masks them where it is shown", () => {
    const t = parseNatsUrl("nats://serve:s3cr%40t@nats.internal:4333");
    expect(t).toEqual({ servers: ["nats.internal:4333"], user: "serve", pass: "s3cr@t", tls: false, shown: "nats://***@nats.internal:4333" });
    expect(parseNatsUrl("nats://tok3n@127.0.0.1")).toMatchObject({ servers: ["127.0.0.1:4222"], token: "tok3n", shown: "nats://***@127.0.0.1" });
  });

  it("takes a cluster as comma-separated URLs, a bare HOST:PORT, IPv6 and tls://", () => {
    expect(parseNatsUrl("a:4222, nats://b:4223").servers).toEqual(["a:4222", "b:4223"]);
    expect(parseNatsUrl("nats://[::1]:4222").servers).toEqual(["[::1]:4222"]);
    expect(parseNatsUrl("tls://u:p@a:4222,tls://u:p@b:4222")).toMatchObject({ tls: true, user: "u", pass: "p", servers: ["a:4222", "b:4222"] });
  });

  it.each([
    ["", "it is empty"],
    ["http://u:hunter2@host:4222", "the scheme is http, not nats or tls"],
    ["nats://u:hunter2@host:4222/x", "it has a path, query or fragment"],
    ["nats://u:hunter2@a:1,nats://v:other@b:2", "its servers carry different credentials"],
    ["nats://u:hunter2@ho st", "it does not parse as a URL"],
  ])("refuses %j (%s) without repeating a password", (url, why) => {
    let err: unknown;
    try {
      parseNatsUrl(url);
    } catch (e) {
      err = e;
    }
    expect(isBootMetaError(err, "INVALID_ARGUMENT")).toBe(true);
    const text = JSON.stringify((err as { toJSON(): unknown }).toJSON());
    expect((err as Error).message).toContain(why);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("other");
  });
});
