// Flag evaluation in-process (issue 12: goal ≥ 0.9× flagd-core's evaluations per second):
// boot-meta's FlagSet.evaluate — per-flag compiled flagd-core, the context of where the code
// runs filled in, the reason and metadata boot-meta adds — beside flagd-core alone
// (FlagdCore.resolve*Evaluation) on the very same flag definitions and contexts, interleaved.
import { layerFlags } from "../dist/flags/layers.js";
import { buildFlagSet } from "../dist/flags/flag-set.js";
import { fmtMs, measure, table } from "./harness.mjs";

const { FlagdCore } = await import("@openfeature/flagd-core");

const flags = {
  static_on: true,
  color: { state: "ENABLED", variants: { red: "red", blue: "blue", green: "green" }, defaultVariant: "red" },
  beta_banner: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { if: [{ $ref: "beta" }, "on", null] } },
  rollout: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: "off", targeting: { fractional: [{ var: "instance" }, ["on", 10], ["off", 90]] } },
  new_api: { state: "ENABLED", variants: { v1: "v1", v2: "v2" }, defaultVariant: "v1", targeting: { if: [{ sem_ver: [{ var: "release" }, ">=", "1.4.0"] }, "v2", "v1"] } },
  $evaluators: { beta: { in: [{ var: "channel" }, ["beta", "canary"]] } },
};
const where = { project: "shop", env: "prod", commit: "0".repeat(40), channel: "beta", release: "1.4.2", instance: "web-7" };
const set = await buildFlagSet(layerFlags([{ name: "env", path: "shop/envs/prod/config.sops.yaml", value: { flags } }]), where);

// flagd-core alone: the same definitions as a flagd file (shorthand expanded as flagd needs it).
const core = new FlagdCore();
const { static_on, $evaluators, ...full } = flags;
core.setConfigurations(JSON.stringify({ flags: { ...full, static_on: { state: "ENABLED", variants: { on: true, off: false }, defaultVariant: static_on ? "on" : "off" } }, $evaluators }));
const ctx = { project: "shop", env: "prod", commit: where.commit, channel: "beta", release: "1.4.2", releaseId: "", instance: "web-7", targetingKey: "web-7" };

const cases = [
  ["static_on", "boolean", false],
  ["color", "string", "red"],
  ["beta_banner", "boolean", false],
  ["rollout", "boolean", false],
  ["new_api", "string", "v1"],
];
for (const [key, type, def] of cases) {
  const a = set.evaluate(key, { type, defaultValue: def });
  const b = type === "boolean" ? core.resolveBooleanEvaluation(key, def, ctx) : core.resolveStringEvaluation(key, def, ctx);
  if (a.value !== b.value) throw new Error(`${key}: boot-meta says ${a.value}, flagd-core ${b.value}`);
}
const all = () => {
  for (const [key, type, def] of cases) set.evaluate(key, { type, defaultValue: def });
};
const allCore = () => {
  for (const [key, type, def] of cases) (type === "boolean" ? core.resolveBooleanEvaluation(key, def, ctx) : core.resolveStringEvaluation(key, def, ctx));
};
const r = await measure({ bootMeta: all, flagdCore: allCore }, { rounds: 15, minMs: 1500 });
const per = (ms) => ms / cases.length;
const rate = (ms) => `${Math.round(1000 / per(ms)).toLocaleString("en")}/s`;
console.log(`in-process evaluation of ${cases.length} flags (static, split, $ref targeting, sem_ver), median per evaluation:`);
table([
  ["contender", "per evaluation", "evaluations", "ratio"],
  ["boot-meta FlagSet.evaluate", fmtMs(per(r.bootMeta)), rate(r.bootMeta), `${(r.flagdCore / r.bootMeta).toFixed(2)}× flagd-core's rate`],
  ["flagd-core alone (resolve*Evaluation)", fmtMs(per(r.flagdCore)), rate(r.flagdCore), "1.00"],
]);
