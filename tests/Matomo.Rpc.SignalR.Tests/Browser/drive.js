// Opens <pageUrl> in headless Chromium (a fresh profile, the Do Not Track preference on or off) and prints the page's
// result, one JSON line. Usage: node drive.js <pageUrl> <dnt: on|off>
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

async function main() {
  const [pageUrl, dnt] = process.argv.slice(2);
  if (!pageUrl || (dnt !== "on" && dnt !== "off")) {
    throw new Error("usage: node drive.js <pageUrl> <on|off>");
  }

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "matomo-rpc-chromium-"));
  fs.mkdirSync(path.join(profile, "Default"));
  fs.writeFileSync(path.join(profile, "Default", "Preferences"), JSON.stringify({ enable_do_not_track: dnt === "on" }));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      headless: true,
      timeout: 60000,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"],
    });
    const page = context.pages()[0] || (await context.newPage());
    await page.goto(pageUrl, { timeout: 30000 });
    const result = await page.waitForFunction(() => window.result, null, { timeout: 30000 });
    process.stdout.write(JSON.stringify(await result.jsonValue()) + "\n");
  } finally {
    if (context) await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + "\n");
  process.exit(1);
});
