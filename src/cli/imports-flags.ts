import { Flags } from "@oclif/core";
import { targetOf } from "./meta-flags.js";

/** `-p/--project` and `--channel` of the imports verbs: whose pins, on which of its channels. */
export const importsTargetFlags = {
  project: Flags.string({ char: "p", description: "the project that builds against the pinned modules (default: BOOT_META_PROJECT or the bootstrap file)" }),
  channel: Flags.string({ description: "the project's channel the pins are for (e.g. stable)", required: true }),
};

export async function importsTargetOf(flags: { project?: string; channel: string }): Promise<{ project: string; channel: string }> {
  return { project: (await targetOf(flags)).project, channel: flags.channel };
}
