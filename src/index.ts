/** boot-meta's public API. Everything else is internal. */
export { BootMetaError, ExitCode, isBootMetaError } from "./errors.js";
