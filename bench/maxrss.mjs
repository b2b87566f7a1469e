// Loaded with `node --import` by the records bench: reports the process's peak memory on exit.
process.on("exit", () => process.stderr.write(`\nbench-maxrss-kib ${process.resourceUsage().maxRSS}\n`));
