import type { EvaluationContext } from "@openfeature/core";

/**
 * Where the code that evaluates a flag runs: the evaluation context boot-meta fills in
 * itself (DESIGN.md "Flags"), so that "on for channel beta", "on from release 1.4.0" or
 * "10% of instances" need nothing from the app.
 */
export interface RunsWhere {
  project: string;
  env: string;
  /** The meta repo commit the flags were read at. */
  commit: string;
  channel?: string;
  /** The release's version (what `sem_ver` compares). */
  release?: string;
  /** The release's id (`20261125T084621Z-1.1`). */
  releaseId?: string;
  /** The instance id; also the default targeting key, so `fractional` splits by instance. */
  instance?: string;
}

/**
 * The context of an evaluation: where it runs, then the app's own attributes on top (an app
 * may override any of them), then the targeting key: the one given, else the app's, else
 * the instance id.
 */
export function evaluationContext(where: RunsWhere, app: EvaluationContext = {}, targetingKey?: string): EvaluationContext {
  const ctx: EvaluationContext = { project: where.project, env: where.env, commit: where.commit };
  for (const k of ["channel", "release", "releaseId", "instance"] as const) {
    const v = where[k];
    if (v !== undefined) ctx[k] = v;
  }
  Object.assign(ctx, app);
  const key = targetingKey ?? app.targetingKey ?? where.instance;
  if (key !== undefined) ctx.targetingKey = key;
  else delete ctx.targetingKey;
  return ctx;
}
