import { configDefaults, defineConfig } from "vitest/config";

// Two suites (README "Development"):
// - unit: the quick loop, `npm test` — every test/**/*.test.ts that is not an integration test,
//   so a new test file lands here unless it says otherwise.
// - integration: many processes at once, kill -9, servers — `npm run test:integration`. A file
//   joins it by its name (`*.int.test.ts`) or its folder (test/integration/).
const integration = ["test/**/*.int.test.ts", "test/integration/**/*.test.ts"];

export default defineConfig({
  test: {
    // Tests spawn git and age and change the working directory of their process while a CLI
    // command runs in it (test/helpers/cli.ts): forks, not threads, where process.chdir works.
    pool: "forks",
    // Two cores are all CI has.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...integration],
          // A worker runs its files one after another in one process instead of a fresh one per
          // file: loading src/ once per worker, not once per file (48 s of a 190 s run went to
          // imports). Safe here because every test works in its own temp directory, puts back
          // any variable or limit it changes, and nothing is mocked; checked with shuffled file
          // order (`--sequence.shuffle.files`). Integration suites keep a process per file.
          isolate: false,
          // Sized for a busy 2-core machine (load ~10): a test that takes 5 s alone may take a
          // minute there. A timeout is for a hang, not for a slow machine.
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: integration,
          testTimeout: 1_200_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
