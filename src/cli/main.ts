// What bin/run.js runs for every command: oclif's entry points and our redaction, bundled with
// the commands (scripts/bundle.mjs) so that they all share one copy of oclif, loaded from one
// file instead of some 200 (README "Start-up").
export { flush, handle, run } from "@oclif/core";
export { redactError } from "../redact.js";
