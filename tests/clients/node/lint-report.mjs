// Prints one lint's result from the tool's JSON report: the line
// `e2e: <label>: 0 errors ... ok|FAILED`, then every finding, indented, one a line; then the
// line `e2e: <label>: no finding on tokenauth's operations, schemas and schemes ... ok|FAILED`.
//
//   node lint-report.mjs redocly|spectral LABEL REPORT.json [error|warning]
//
// The last argument is the severity that fails the check (default `error`: warnings are printed,
// not counted; `warning` fails on warnings too). Exits 1 when the check failed.
import { readFileSync } from "node:fs";

const [tool, label, file, failOn = "error"] = process.argv.slice(2);
if (!["redocly", "spectral"].includes(tool) || !label || !file || !["error", "warning"].includes(failOn)) {
  console.error("usage: node lint-report.mjs redocly|spectral LABEL REPORT.json [error|warning]");
  process.exit(2);
}

/** Each finding as { severity: "error"|"warning"|"info"|"hint", rule, where, message }. */
function findings(report) {
  if (tool === "redocly") {
    const severity = { error: "error", warn: "warning" };
    return report.problems.map((p) => ({
      severity: severity[p.severity] ?? p.severity,
      rule: p.ruleId,
      where: p.location?.[0]?.pointer ?? "",
      message: p.message,
    }));
  }
  const severity = ["error", "warning", "info", "hint"];
  return report.map((p) => ({
    severity: severity[p.severity] ?? String(p.severity),
    rule: p.code,
    where: `#/${p.path.map((s) => String(s).replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`,
    message: p.message,
  }));
}

let all;
try {
  all = findings(JSON.parse(readFileSync(file, "utf8")));
} catch (err) {
  console.log(`e2e: ${label}: 0 errors ... FAILED`);
  console.log(`    no report from ${tool}: ${err.message}`);
  process.exit(1);
}
const count = (severity) => all.filter((f) => f.severity === severity).length;
const errors = count("error");
const warnings = count("warning");
const failed = errors > 0 || (failOn === "warning" && warnings > 0);
const title = failOn === "warning" ? "0 errors, 0 warnings" : "0 errors";
console.log(`e2e: ${label}: ${title} ... ${failed ? "FAILED" : "ok"}`);
if (all.length > 0) {
  console.log(`    ${errors} error(s), ${warnings} warning(s), ${all.length - errors - warnings} other:`);
  for (const f of all) {
    console.log(`    ${f.severity} ${f.rule} at ${f.where}: ${f.message}`);
  }
}
// Issue 19's point: whatever the severity, no finding concerns what tokenauth documents — its
// operations (/auth/…), the 401 it adds to secured operations, its schemas and its security
// schemes. Findings on the application's own parts (the quickstart's /ping) only count above.
const tokenauths = /^#\/(paths\/~1auth~1|paths\/[^/]+\/[^/]+\/responses\/401(\/|$)|components\/schemas\/(ErrorDetail|ObtainTokenErrors|ObtainTokenRequest|ObtainedToken)(\/|$)|components\/securitySchemes\/)/;
const onTokenauth = all.filter((f) => tokenauths.test(f.where));
console.log(`e2e: ${label}: no finding on tokenauth's operations, schemas and schemes ... ${onTokenauth.length ? "FAILED" : "ok"}`);
for (const f of onTokenauth) {
  console.log(`    ${f.severity} ${f.rule} at ${f.where}: ${f.message}`);
}
process.exit(failed || onTokenauth.length ? 1 : 0);
