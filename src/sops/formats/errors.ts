import { BootMetaError, ExitCode } from "../../errors.js";

export function malformed(format: string, why: string): BootMetaError {
  return new BootMetaError("SOPS_MALFORMED_FILE", `the file is not valid ${format}: ${why}`, ExitCode.InvalidFormat, {
    data: { format },
    suggestions: ["fix the syntax, or pass --input-type if the extension does not say the format"],
  });
}

export function notEncrypted(): BootMetaError {
  return new BootMetaError("SOPS_NOT_ENCRYPTED", "the file is not a sops-encrypted file: it has no sops metadata", ExitCode.InvalidFormat, {
    suggestions: ["encrypt it first with `boot-meta encrypt`", "if it is encrypted in another format, pass --input-type"],
  });
}

export function invalidMetadata(why: string): BootMetaError {
  return new BootMetaError("SOPS_INVALID_METADATA", `the sops metadata is invalid: ${why}`, ExitCode.InvalidFormat);
}
