import { BootMetaError, ExitCode } from "../../errors.js";
import { badRequest } from "../http-errors.js";

/** The longest a long-poll may wait, in seconds (proxies commonly cut idle requests at 5 minutes). */
export const MAX_WAIT_SECONDS = 290;

/** `?wait=SECONDS`: a whole number from 0 to MAX_WAIT_SECONDS (0 or absent: do not wait). */
export function waitSeconds(v: string | undefined): number {
  if (v === undefined || v === "") return 0;
  if (!/^\d{1,6}$/.test(v) || Number(v) > MAX_WAIT_SECONDS) throw badRequest(`wait=${JSON.stringify(v).slice(1, -1)} is not a number of seconds from 0 to ${MAX_WAIT_SECONDS}`, { parameter: "wait" });
  return Number(v);
}

export function notReady(): BootMetaError {
  return new BootMetaError("SERVER_NOT_READY", "the service has not synced its clone of the meta repository yet", ExitCode.General, {
    suggestions: ["retry in a moment; /readyz says when the service is ready", "if it stays unready, the service cannot reach the meta repository's remote: see its log"],
  });
}
