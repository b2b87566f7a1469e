// Copies the dashboard's browser files (plain HTML, CSS and ES modules: no build step of their
// own) from src/server/dashboard/assets/ to dist/server/dashboard/assets/, where the service
// finds them beside its compiled routes (src/server/dashboard/routes.ts). Run by `npm run build`.
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");
const to = join(root, "dist/server/dashboard/assets");
rmSync(to, { recursive: true, force: true });
cpSync(join(root, "src/server/dashboard/assets"), to, { recursive: true });
