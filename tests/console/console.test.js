// console.test.js: the control plane's web console in Debian's headless
// chromium, driven by playwright-core. Started by
// tests/integration/test_console.sh, which sets up PostgreSQL, the control
// plane (--http-listen), llmgw-sim and a managed data plane with traffic, and
// passes everything here through the environment. Prints "ok - …" / "FAIL - …"
// lines; exits 1 when any check failed. Screenshots go to OUT_DIR.
"use strict";

const { chromium } = require("playwright-core");
const { execFileSync } = require("child_process");
const path = require("path");

const env = (k) => {
  if (!process.env[k]) throw new Error("missing environment variable " + k);
  return process.env[k];
};
const CONSOLE = env("CONSOLE_URL");
const ADMIN = env("ADMIN_TOKEN");
const AUDITOR = env("AUDITOR_TOKEN");
const DP = env("DP_URL");
const SIM = env("SIM_URL");
const OUT = env("OUT_DIR");
// Waits stretched by LLMGW_TEST_TIMEOUT_SCALE (the valgrind stage slows the control plane).
const SCALE = Math.max(1, Number(process.env.LLMGW_TEST_TIMEOUT_SCALE) || 1);
const T = (ms) => ms * SCALE;
const CP_STOP = env("CP_STOP_CMD");
const CP_START = env("CP_START_CMD");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

let fails = 0;
const pass = (name) => console.log("ok - " + name);
const fail = (name, why) => { fails++; console.error("FAIL - " + name + (why ? ": " + why : "")); };
async function check(name, fn) {
  try { await fn(); pass(name); } catch (e) { fail(name, e.message.split("\n")[0]); }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

async function api(token, rpc, body) {
  const r = await fetch(CONSOLE + "/api/" + rpc, {
    method: "POST", headers: { authorization: "Bearer " + token, "content-type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  return { status: r.status, json: await r.json() };
}

async function chatReason() {
  const r = await fetch(DP + "/v1/chat/completions", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "chat", messages: [{ role: "user", content: "hello there" }] }),
  });
  await r.text();
  return { status: r.status, reason: r.headers.get("x-llmgw-route-reason") || "" };
}

async function login(page, token) {
  await page.fill("#token", token);
  await page.click("#login-form button[type=submit]");
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT, "console-" + name + ".png"), fullPage: true });
}

(async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const context = await browser.newContext({ viewport: { width: 1680, height: 900 } });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push("pageerror: " + e.message));
  page.on("dialog", (d) => d.accept());
  page.setDefaultTimeout(T(15000));

  await page.goto(CONSOLE + "/");
  await check("the page opens on the login screen", async () => {
    await page.waitForSelector("#login:not([hidden])");
    assert(await page.isHidden("#panels"), "panels shown before login");
  });
  await login(page, "not-a-valid-token");
  await check("a bad token: the login screen with the server's message", async () => {
    await page.waitForFunction(() => document.getElementById("login-error").textContent.includes("admin token not valid"));
    assert(await page.isVisible("#login"), "login screen gone");
    assert(await page.isHidden("#panels"), "panels shown");
  });
  await shot(page, "login");

  // --- the admin's four panels ---------------------------------------------------
  await login(page, ADMIN);
  await check("the admin signs in: four panels", async () => {
    await page.waitForSelector("#panels:not([hidden])");
    const titles = await page.$$eval(".panel h2", (hs) => hs.map((h) => h.textContent));
    assert(JSON.stringify(titles) === JSON.stringify(["Provider Registry", "Routing Intelligence", "Performance Analytics", "Optimization"]), titles.join(","));
    await page.waitForFunction(() => document.getElementById("who").textContent === "bootstrap (admin)");
  });
  await check("Provider Registry lists sim and spare with status from health", async () => {
    await page.waitForSelector("tr[data-provider=sim]");
    await page.waitForSelector("tr[data-provider=spare]");
    const sim = await page.textContent("tr[data-provider=sim] .health");
    assert(sim === "✓", "sim status " + sim);
    const where = await page.textContent("tr[data-provider=sim] td:nth-child(2)");
    assert(where === "local", "sim is " + where);
    const summary = await page.textContent("#registry-summary");
    assert(/^2 providers: 1 available \(enabled\), 2 local, 0 remote/.test(summary), summary);
    assert((await page.textContent("tr[data-provider=spare] .health")) === "✗", "spare (disabled) is not ✗");
  });
  const usage = await api(ADMIN, "llmgw.v1.UsageService/GetUsageReport", { by: "provider", since_unix_ms: Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1) });
  const simRow = usage.json.rows.find((r) => r.group === "sim");
  await check("Performance Analytics shows this month's requests as the usage report has them", async () => {
    assert(simRow && simRow.requests >= 13, "report " + JSON.stringify(usage.json));
    await page.waitForFunction((n) => document.getElementById("perf-summary").textContent.includes(n + " requests this month"), simRow.requests);
    const req = await page.textContent("tr[data-provider=sim] td:nth-child(5)");
    assert(req === String(simRow.requests), "registry requests " + req);
  });
  await check("the charts are drawn in SVG with the report's cost", async () => {
    const n = await page.$$eval("#panel-performance svg", (s) => s.length);
    assert(n >= 3, n + " charts");
    const cost = await page.textContent("#chart-cost svg");
    const c = simRow.cost_usd;
    const want = "$" + (c > 0 && c < 0.01 ? c.toPrecision(2) : c >= 100 ? c.toFixed(0) : c.toFixed(2));
    assert(cost.includes(want), "cost chart '" + cost + "' lacks " + want);
    const succ = await page.textContent("#chart-success svg");
    assert(succ.includes("100% of " + simRow.requests), "success chart " + succ);
  });
  await check("Performance Analytics charts latency from AnalyticsService (p50, p99 per deployment)", async () => {
    for (let i = 0; i < 80; i++) {
      if (/sim\/gpt-4o(?!-mini).*p50 [0-9.]+ ms · p99 [0-9.]+ ms/.test(await page.textContent("#chart-latency"))) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    const perf = await api(ADMIN, "llmgw.v1.AnalyticsService/ProviderPerformance", {});
    throw new Error("latency chart: " + (await page.textContent("#chart-latency")) + " | API: " + JSON.stringify(perf).slice(0, 600));
  });
  await check("Routing Intelligence: route chat, its strategy, selection and fallback chain", async () => {
    const v = await page.$eval("select[data-route=chat]", (s) => s.value);
    assert(v === "priority", "strategy " + v);
    const pick = await page.textContent(".route[data-route=chat] .pick");
    assert(pick.includes("priority: sim/gpt-4o has the lowest priority"), pick);
    const items = await page.$$eval(".route[data-route=chat] li strong", (l) => l.map((x) => x.textContent));
    assert(items.join(",") === "sim/gpt-4o,sim/gpt-4o-mini", items.join(","));
  });
  await check("Optimization: month-to-date cost vs budget and a computed suggestion", async () => {
    const b = await page.textContent("[data-budget=org-monthly]");
    assert(/org-monthly \(org, monthly\): \$[0-9.]+ of \$50\.00 — [0-9.]+%/.test(b), b);
    const s = await page.textContent("#suggestions");
    assert(/route chat: cost strategy \(all on sim\/gpt-4o-mini, success 100%\) would have saved \$[0-9.]+ of \$[0-9.]+ over its models' \d+ requests this month at equal success/.test(s), s);
    const q = await page.textContent("#scores");
    assert(/quality \(registry scores × requests\)0\.50/.test(q), q);
  });
  await check("live updates by server-sent events", async () => {
    await page.waitForFunction(() => document.getElementById("conn").textContent === "live");
  });
  await shot(page, "admin");

  // --- an admin's changes -------------------------------------------------------------
  await page.click("#provider-editor summary");
  await page.fill("#provider-form [name=name]", "added-local");
  await page.fill("#provider-form [name=base_url]", SIM + "/v1");
  await page.fill("#provider-form [name=region]", "lab");
  await page.click("#provider-save");
  await check("add a provider from the console", async () => {
    await page.waitForSelector("tr[data-provider=added-local]");
    const n = await page.textContent("#notice");
    assert(n.includes("added provider added-local"), n);
    const p = await api(ADMIN, "llmgw.v1.RegistryService/GetProvider", { name: "added-local" });
    assert(p.status === 200 && p.json.region === "lab" && p.json.base_url === SIM + "/v1", JSON.stringify(p));
  });
  await check("test connection from the console", async () => {
    await page.click("tr[data-provider=added-local] button:text('test')");
    await page.waitForFunction(() => /added-local: ok, HTTP 200/.test(document.getElementById("notice").textContent));
  });
  await check("the strategy switch offers every strategy but custom (the route has no weights)", async () => {
    const opts = await page.$$eval("select[data-route=chat] option", (o) => o.map((x) => x.value));
    assert(opts.join(",") === "priority,weighted,cost,latency,quality,balanced", opts.join(","));
  });
  await page.selectOption("select[data-route=chat]", "cost");
  await check("switch route chat to cost", async () => {
    await page.waitForFunction(() => document.getElementById("notice").textContent.includes("route chat now uses cost"));
    await page.waitForFunction(() => document.querySelector(".route[data-route=chat] .pick").textContent.startsWith("selection: cost"));
  });
  await check("the data plane serves route chat with the new strategy", async () => {
    let last = null;
    for (let i = 0; i < 100; i++) {
      last = await chatReason();
      if (last.status === 200 && last.reason.startsWith("cost:")) return;
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new Error("last answer " + JSON.stringify(last));
  });
  await shot(page, "admin-changed");

  // --- the auditor ---------------------------------------------------------------------------
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await login(page, AUDITOR);
  await check("the auditor signs in and sees the providers", async () => {
    await page.waitForFunction(() => document.getElementById("who").textContent === "aud (auditor)");
    await page.waitForSelector("tr[data-provider=added-local]");
    await page.waitForSelector(".route[data-route=chat]");
  });
  await page.click("tr[data-provider=sim] button:text('edit')");
  await page.fill("#provider-form [name=region]", "changed-by-auditor");
  await page.click("#provider-save");
  await check("the auditor's edit is refused: 403 shown in the console", async () => {
    await page.waitForFunction(() => document.getElementById("notice").textContent.startsWith("403 PERMISSION_DENIED: permission: role 'auditor' may not call llmgw.v1.RegistryService/UpdateProvider (registry)"));
    const p = await api(ADMIN, "llmgw.v1.RegistryService/GetProvider", { name: "sim" });
    assert(p.json.region === "", "region " + p.json.region);
  });
  await shot(page, "auditor");
  const revoked = await api(ADMIN, "llmgw.v1.AdminTokenService/RevokeAdminToken", { name: "aud" });
  await check("a token revoked while signed in: back to the login screen with the message", async () => {
    assert(revoked.status === 200, "revoke " + JSON.stringify(revoked));
    await page.waitForFunction(() => !document.getElementById("login").hidden &&
      document.getElementById("login-error").textContent === "authorization: admin token not valid", null, { timeout: T(20000) });
    assert(await page.isHidden("#panels"), "panels still shown");
  });
  await login(page, ADMIN);
  await page.waitForSelector("tr[data-provider=sim]");
  await page.waitForFunction(() => document.getElementById("conn").textContent === "live");

  // --- the control plane goes away, then comes back ------------------------------------------------
  // The figures settle first: the data plane's last usage batch (sent every
  // second) may still be on its way after the strategy check's requests.
  await new Promise((r) => setTimeout(r, 2500));
  const settled = await api(ADMIN, "llmgw.v1.UsageService/GetUsageReport", { by: "provider", since_unix_ms: Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1) });
  const before = String(settled.json.rows.find((r) => r.group === "sim").requests);
  await page.waitForFunction((w) => document.querySelector("tr[data-provider=sim] td:nth-child(5)").textContent === w, before, { timeout: T(20000) });
  execFileSync("bash", ["-c", CP_STOP]);
  await check("a stopped control plane: the page says so and keeps the last figures", async () => {
    await page.waitForFunction(() => /^control plane unreachable — last update \d\d:\d\d:\d\d, retrying$/.test(document.getElementById("banner").textContent) && !document.getElementById("banner").hidden, null, { timeout: T(20000) });
    assert(await page.isVisible("#panels"), "panels gone");
    const after = await page.textContent("tr[data-provider=sim] td:nth-child(5)");
    assert(after === before, "figures changed: " + before + " -> " + after);
    assert((await page.textContent("#conn")) === "unreachable", "conn " + (await page.textContent("#conn")));
  });
  await shot(page, "unreachable");
  execFileSync("bash", ["-c", CP_START]);
  await check("the control plane is back: the page reconnects", async () => {
    await page.waitForFunction(() => document.getElementById("banner").hidden && document.getElementById("conn").textContent === "live", null, { timeout: T(30000) });
  });
  await check("no script errors in the page", async () => {
    const real = consoleErrors.filter((e) => !/Failed to load resource|net::ERR_|EventSource/.test(e));
    assert(real.length === 0, real.join(" | "));
  });
  await browser.close();
  process.exit(fails ? 1 : 0);
})().catch((e) => { console.error("FAIL - the browser run: " + e.stack); process.exit(1); });
