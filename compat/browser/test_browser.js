// The authorization-code flow in a real browser: headless Chromium (driven by playwright-core)
// signs in on the emulator's page; `d365 auth login --browser` receives the redirect, checks
// `state`, redeems the code with PKCE and caches the session.
const { spawn, execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const [infoPath, d365, screenshot] = process.argv.slice(2);
const info = JSON.parse(fs.readFileSync(infoPath, "utf8"));
const home = fs.mkdtempSync(path.join(os.tmpdir(), "d365-browser-"));
const env = {
  ...process.env,
  AZURE_AUTHORITY_HOST: info.authority_host,
  AZURE_TENANT_ID: info.tenant_id,
  AZURE_CLIENT_ID: info.public_client_id,
  D365_URL: info.environment_url,
  D365_CA_FILE: info.ca_file,
  D365_CACHE_DIR: path.join(home, "cache"),
  D365_CONFIG: path.join(home, "config.toml"),
  BROWSER: "true", // the test is the browser
  D365_LOGIN_TIMEOUT: "60",
};

function loginUrl(child) {
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stderr.on("data", (chunk) => {
      buffer += chunk;
      const line = buffer.split("\n").find((l) => l.startsWith("https://"));
      if (line) resolve(line.trim());
    });
    child.on("exit", (code) => reject(new Error(`d365 exited (${code}) before printing the URL: ${buffer}`)));
  });
}

(async () => {
  let passed = 0, failed = 0;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const child = spawn(d365, ["auth", "login", "--browser"], { env, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise((resolve) => child.on("exit", resolve));
    const url = await loginUrl(child);
    // The emulator's CA is not in Chromium's store; TLS trust is covered by the other tests.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 900, height: 640 } });
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForSelector("#password");
    if (screenshot) await page.screenshot({ path: screenshot });
    await page.fill("#password", "not-the-password");
    await page.fill("#username", info.username);
    await page.click("#signin");
    await page.waitForSelector("#error");
    const error = await page.textContent("#error");
    if (!error.includes("incorrect")) throw new Error(`no error shown for a wrong password: ${error}`);
    await page.fill("#password", info.password);
    await page.click("#signin");
    await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/\?/);
    const done = await page.textContent("body");
    if (!done.includes("Sign-in complete")) throw new Error(`unexpected redirect page: ${done}`);
    const code = await exited;
    if (code !== 0) throw new Error(`d365 auth login --browser exited with ${code}`);
    const status = execFileSync(d365, ["auth", "status"], { env }).toString();
    if (!status.includes(info.username) || !status.includes("authorization_code")) throw new Error(`no cached session: ${status}`);
    passed++;
    console.log("ok      browser authorization code + PKCE sign-in, cached session");
  } catch (e) {
    failed++;
    console.log(`FAILED  browser sign-in\n${e.stack || e}`);
  } finally {
    await browser.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})();
