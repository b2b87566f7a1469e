import { describe, expect, it } from "vitest";
import { BootMetaError, ExitCode, internalError, isBootMetaError } from "../src/errors.js";

describe("BootMetaError", () => {
  it("serialises its code, message, data and suggestions for --json", () => {
    const e = new BootMetaError("SOPS_MAC_MISMATCH", "MAC mismatch", ExitCode.MacMismatch, {
      data: { file: "a.yaml" },
      suggestions: ["check the file's history"],
    });
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      code: "SOPS_MAC_MISMATCH",
      message: "MAC mismatch",
      data: { file: "a.yaml" },
      suggestions: ["check the file's history"],
    });
    expect(e.exitCode).toBe(51);
    expect(isBootMetaError(e, "SOPS_MAC_MISMATCH")).toBe(true);
    expect(isBootMetaError(e, "SOPS_DATA_KEY_UNAVAILABLE")).toBe(false);
  });

  it("marks unexpected failures as internal bugs", () => {
    const e = internalError(new TypeError("x is undefined"));
    expect(e.code).toBe("INTERNAL");
    expect(e.message).toMatch(/bug in boot-meta/);
  });
});
