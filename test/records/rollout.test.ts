import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { channelHistory, promoteChannel, rollbackChannel, showChannel } from "../../src/records/channels.js";
import { createRelease, parseCommitSpec } from "../../src/records/releases.js";
import { rolloutCount, rolloutOf } from "../../src/records/rollout.js";
import type { Channel } from "../../src/records/types.js";
import { git } from "../helpers/gitdir.js";
import { recordsRemote, recordsRepo } from "../helpers/records.js";

const runs = process.env.SLOW ? 1000 : 60;
const HASH = "3f2c1a9d0e4b5a6c7d8e9f0a1b2c3d4e5f6a7b8c";
const channelOn = (name: string, percent: number, releaseId = "new", previousReleaseId = "old"): Channel => ({ project: "shop", name, releaseId, rollout: { percent, previousReleaseId }, updatedAt: "" });
/** ceil(p × n / 100) by a route of its own (BigInt), at least one when n > 0. */
const expected = (p: number, n: number) => (n === 0 ? 0 : Math.max(1, Number((BigInt(p) * BigInt(n) + 99n) / 100n)));

const fleets = fc.uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,11}$/), { maxLength: 300 });
const channels = fc.constantFrom("stable", "canary", "eu/stable");
const percents = fc.integer({ min: 1, max: 100 });

describe("the rollout rule", () => {
  test.prop([fleets, percents, channels], { numRuns: runs })("gives exactly ceil(percent × N / 100) of the fleet (at least one) the new release", (ids, p, ch) => {
    const ro = rolloutOf(channelOn(ch, p), ids);
    expect(ro.onRelease.size).toBe(expected(p, ids.length));
    expect(rolloutCount(p, ids.length)).toBe(expected(p, ids.length));
    expect(ids.filter((id) => ro.releaseFor(id) === "new").length).toBe(expected(p, ids.length));
    expect(ro.countOf("new") + ro.countOf("old")).toBe(ids.length);
  });

  test.prop([fleets, percents, percents, channels], { numRuns: runs })("widening is monotone: no instance leaves the new release when the percent grows", (ids, a, b, ch) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    const narrow = rolloutOf(channelOn(ch, lo), ids);
    const wide = rolloutOf(channelOn(ch, hi), ids);
    for (const id of narrow.onRelease) expect(wide.releaseFor(id)).toBe("new");
  });

  test.prop([fleets, percents, channels], { numRuns: runs })("the ranking is the channel's, not the release's: the next release goes to the same instances first, in any order of the fleet", (ids, p, ch) => {
    const first = rolloutOf(channelOn(ch, p, "1.1", "1.0"), ids);
    const next = rolloutOf(channelOn(ch, p, "1.2", "1.0"), [...ids].reverse());
    expect(new Set(ids.filter((id) => next.releaseFor(id) === "1.2"))).toEqual(new Set(ids.filter((id) => first.releaseFor(id) === "1.1")));
  });

  it("places an instance not recorded yet by its hash against the percent, the same answer every time", () => {
    const strangers = Array.from({ length: 10_000 }, (_, i) => `new-${i}`);
    const ro = rolloutOf(channelOn("stable", 10), ["web-1", "web-2"]);
    const onNew = strangers.filter((id) => ro.releaseFor(id) === "new");
    expect(onNew.length).toBeGreaterThan(900);
    expect(onNew.length).toBeLessThan(1100);
    expect(strangers.filter((id) => rolloutOf(channelOn("stable", 10), []).releaseFor(id) === "new")).toEqual(onNew);
    // Widening holds for them too.
    const wide = rolloutOf(channelOn("stable", 50), ["web-1"]);
    for (const id of onNew) expect(wide.releaseFor(id)).toBe("new");
  });

  it("gives everyone the channel's release when there is no rollout", () => {
    const ro = rolloutOf({ project: "shop", name: "stable", releaseId: "r", updatedAt: "" }, ["a", "b"]);
    expect([ro.releaseFor("a"), ro.releaseFor("zz"), ro.countOf("r"), ro.fleet]).toEqual(["r", "r", 2, 2]);
  });
});

async function threeReleases(dir: string) {
  const repos = [parseCommitSpec(`app=https://x/app@${HASH}`)];
  const ids: string[] = [];
  for (const [i, v] of ["1.0", "1.1", "1.2"].entries()) ids.push((await createRelease(dir, "shop", { version: v, repos, now: `2026-01-0${i + 1}T00:00:00Z` })).value.id);
  return ids as [string, string, string];
}

const state = async (dir: string) => {
  const c = (await showChannel(dir, "shop", "stable")).channel;
  return [c.releaseId, c.rollout?.percent ?? 100];
};

describe("channel promote and rollback", () => {
  it("widens a rollout of the same release instead of completing it", async () => {
    const dir = await recordsRepo();
    const [a, b] = await threeReleases(dir);
    await promoteChannel(dir, "shop", "stable", a);
    await promoteChannel(dir, "shop", "stable", "1.1", { percent: 10 });
    await promoteChannel(dir, "shop", "stable", "1.1", { percent: 50 });
    expect((await showChannel(dir, "shop", "stable")).channel.rollout).toEqual({ percent: 50, previousReleaseId: a });
    // The same again writes nothing; without a percent, it completes.
    expect((await promoteChannel(dir, "shop", "stable", "1.1", { percent: 50 })).commit).toBeUndefined();
    await promoteChannel(dir, "shop", "stable", "1.1");
    expect(await state(dir)).toEqual([b, 100]);
    // A percent with nothing to stay on: refused.
    await expect(promoteChannel(dir, "shop", "stable", "1.1", { percent: 20 })).rejects.toMatchObject({ code: "CHANNEL_ROLLOUT_INVALID", message: expect.stringContaining("already gives it to all its instances") });
    await expect(promoteChannel(dir, "shop", "beta", "1.1", { percent: 20 })).rejects.toMatchObject({ code: "CHANNEL_ROLLOUT_INVALID", message: expect.stringContaining("the channel is new") });
    await expect(promoteChannel(dir, "shop", "stable", "1.2", { percent: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("a new release during a rollout goes to the same instances, the rest staying on the release they all had", async () => {
    const dir = await recordsRepo();
    const [a, , c] = await threeReleases(dir);
    await promoteChannel(dir, "shop", "stable", a);
    await promoteChannel(dir, "shop", "stable", "1.1", { percent: 10 });
    await promoteChannel(dir, "shop", "stable", "1.2", { percent: 10 });
    expect((await showChannel(dir, "shop", "stable")).channel).toMatchObject({ releaseId: c, rollout: { percent: 10, previousReleaseId: a } });
  });

  it("rollback steps back through history, restoring each point's release and rollout; a promotion after it starts again from there", async () => {
    const dir = await recordsRepo();
    const [a, b, c] = await threeReleases(dir);
    await promoteChannel(dir, "shop", "stable", a);
    await promoteChannel(dir, "shop", "stable", b, { percent: 10 });
    await promoteChannel(dir, "shop", "stable", b, { percent: 50 });
    await promoteChannel(dir, "shop", "stable", c);
    const steps: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      await rollbackChannel(dir, "shop", "stable");
      steps.push(await state(dir));
    }
    expect(steps).toEqual([[b, 50], [b, 10], [a, 100]]);
    expect((await showChannel(dir, "shop", "stable")).channel.rollout).toBeUndefined();
    const head = git(dir, "rev-parse", "HEAD");
    await expect(rollbackChannel(dir, "shop", "stable")).rejects.toMatchObject({ code: "CHANNEL_NO_PREVIOUS", message: expect.stringContaining(`shop/stable has no earlier point in its history to step back to (it is at ${a}`) });
    expect(git(dir, "rev-parse", "HEAD")).toBe(head);
    // Like an undo: promote 1.2 again, and a rollback returns to where the channel stood (1.0), not to 1.1.
    await promoteChannel(dir, "shop", "stable", c);
    await rollbackChannel(dir, "shop", "stable");
    expect(await state(dir)).toEqual([a, 100]);
    const h = await channelHistory(dir, "shop", "stable");
    expect(h.map((x) => [x.generation, x.to === a ? "1.0" : x.to === b ? "1.1" : "1.2", x.percent ?? 100, x.restores ?? null])).toEqual([
      [9, "1.0", 100, 1],
      [8, "1.2", 100, null],
      [7, "1.0", 100, 1],
      [6, "1.1", 10, 2],
      [5, "1.1", 50, 3],
      [4, "1.2", 100, null],
      [3, "1.1", 50, null],
      [2, "1.1", 10, null],
      [1, "1.0", 100, null],
    ]);
  });

  it("rollback --to jumps to the newest earlier point with that release; a release the channel never had is refused", async () => {
    const dir = await recordsRepo();
    const [a, b, c] = await threeReleases(dir);
    await promoteChannel(dir, "shop", "stable", a);
    await promoteChannel(dir, "shop", "stable", b, { percent: 10 });
    await promoteChannel(dir, "shop", "stable", b, { percent: 50 });
    await promoteChannel(dir, "shop", "stable", c);
    const r = await rollbackChannel(dir, "shop", "stable", { to: "1.1" });
    expect(r.value.restored.generation).toBe(3);
    expect(await state(dir)).toEqual([b, 50]);
    // From there a plain rollback continues from that point: 1.1 at 10%.
    await rollbackChannel(dir, "shop", "stable");
    expect(await state(dir)).toEqual([b, 10]);
    await rollbackChannel(dir, "shop", "stable", { to: c });
    expect(await state(dir)).toEqual([c, 100]);
    await rollbackChannel(dir, "shop", "stable", { to: "1.0" });
    expect(await state(dir)).toEqual([a, 100]);

    const fresh = await recordsRepo();
    await threeReleases(fresh);
    await promoteChannel(fresh, "shop", "stable", "1.0");
    await promoteChannel(fresh, "shop", "stable", "1.1");
    const head = git(fresh, "rev-parse", "HEAD");
    await expect(rollbackChannel(fresh, "shop", "stable", { to: "1.2" })).rejects.toMatchObject({ code: "CHANNEL_NO_SUCH_POINT", message: expect.stringMatching(/shop\/stable has not pointed at .*-1\.2 before/) });
    await expect(rollbackChannel(fresh, "shop", "stable", { to: "9.9" })).rejects.toMatchObject({ code: "RECORD_NOT_FOUND" });
    expect(git(fresh, "rev-parse", "HEAD")).toBe(head);
    expect(git(fresh, "status", "--porcelain")).toBe("");
  });

  it("rollback keeps compare-and-swap: --expect, and a channel that moved after its history was read", async () => {
    const { clones } = await recordsRemote(2);
    const [x, y] = clones as [string, string];
    const [a, b] = await threeReleases(x);
    await promoteChannel(x, "shop", "stable", a);
    await promoteChannel(x, "shop", "stable", b, { percent: 10, push: true });
    await expect(rollbackChannel(x, "shop", "stable", { expect: a })).rejects.toMatchObject({ code: "CHANNEL_CONFLICT", message: expect.stringContaining(`points at ${b}, not ${a}`) });
    git(y, "pull", "-q", "--ff-only", "origin", "main");
    // y widens the rollout (same release); x, behind, plans its rollback from what it has and
    // learns on push that the channel moved: nothing is rolled back.
    await promoteChannel(y, "shop", "stable", b, { percent: 50, push: true });
    const before = git(x, "rev-parse", "HEAD");
    await expect(rollbackChannel(x, "shop", "stable", { expect: b, push: true })).rejects.toMatchObject({ code: "CHANNEL_CONFLICT", message: expect.stringContaining(`changed while its history was read (it now points at ${b} for 50%)`) });
    expect(git(x, "rev-parse", "HEAD")).toBe(before);
    expect(git(x, "status", "--porcelain")).toBe("");
  });

  it("steps back through records written before generations, by their place in history", async () => {
    const dir = await recordsRepo();
    const [a, b, c] = await threeReleases(dir);
    mkdirSync(join(dir, "shop/channels"));
    for (const id of [a, b, c]) {
      writeFileSync(join(dir, "shop/channels/stable.json"), `${JSON.stringify({ project: "shop", name: "stable", releaseId: id, updatedAt: "2026-01-01T00:00:00Z" }, null, 2)}\n`);
      git(dir, "add", "-A");
      git(dir, "commit", "-qm", `stable → ${id}, by an older boot-meta`);
    }
    await rollbackChannel(dir, "shop", "stable");
    expect(await state(dir)).toEqual([b, 100]);
    await rollbackChannel(dir, "shop", "stable");
    expect(await state(dir)).toEqual([a, 100]);
    await promoteChannel(dir, "shop", "stable", c);
    expect((await showChannel(dir, "shop", "stable")).channel).toMatchObject({ generation: 6, backTo: 1 });
    await rollbackChannel(dir, "shop", "stable");
    expect(await state(dir)).toEqual([a, 100]);
  });
});
