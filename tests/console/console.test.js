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

// RoutingDecisions over the console's recent window (15 min), for one route:
// the most-picked deployment under a strategy (most decisions, ties by
// name), the reason most of its decisions had, and its share — the sum of
// the RPC's own shares of its rows (each is count / the route's decisions
// under that strategy) — plus the route's fallbacks.
const RECENT_MS = 15 * 60 * 1000;
async function rpcPick(route, strategy) {
  const until = new Date();
  const r = await api(ADMIN, "llmgw.v1.AnalyticsService/RoutingDecisions",
    { since: new Date(until.getTime() - RECENT_MS).toISOString(), until: until.toISOString(), route });
  if (r.status !== 200) throw new Error("RoutingDecisions " + JSON.stringify(r.json));
  const rows = (r.json.decisions || []).filter((x) => x.route === route && x.strategy === strategy);
  const deps = {};
  let fallbacks = 0, total = 0;
  for (const x of rows) {
    total += x.count;
    if (x.reason === "fallback") fallbacks += x.count;
    if (!x.provider) continue;
    const k = x.provider + "/" + x.model;
    const d = deps[k] || (deps[k] = { name: k, count: 0, share: 0, reasons: {} });
    d.count += x.count; d.share += x.share;
    d.reasons[x.reason] = (d.reasons[x.reason] || 0) + x.count;
  }
  const best = Object.values(deps).sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : 1))[0];
  if (!best) return { pick: "", reason: "", share: 0, total, fallbacks, answer: r.json };
  const reason = Object.entries(best.reasons).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0];
  return { pick: best.name, reason, share: best.share, total, fallbacks, answer: r.json };
}

// The page's selection for a route equals the RPC's, within a few refreshes
// (the page re-reads on every 5 s tick; a batch may land in between).
async function samePick(page, route, strategy) {
  let want, got;
  for (let i = 0; i < 40; i++) {
    want = await rpcPick(route, strategy);
    got = await page.$eval(".route[data-route=" + route + "] .pick", (p) => ({
      pick: p.dataset.pick, reason: p.dataset.reason, share: Number(p.dataset.share), text: p.textContent }));
    if (want.pick && got.pick === want.pick && got.reason === want.reason && Math.abs(got.share - want.share) < 1e-3 &&
        got.text.includes(want.total + " decisions")) return { want, got };
    await new Promise((r) => setTimeout(r, T(500)));
  }
  throw new Error("page " + JSON.stringify(got) + " vs RoutingDecisions " + JSON.stringify({ ...want, answer: undefined }));
}

const pctOf = (x) => (x * 100).toFixed(x >= 0.995 || x === 0 ? 0 : 1) + "%";

// Every label of the bar charts ends inside its chart's view box.
async function labelsFit(page, sel) {
  return page.$$eval(sel + " svg", (svgs) => svgs.filter((s) => s.querySelector("rect")).map((s) => {
    const w = s.viewBox.baseVal.width;
    return Array.from(s.querySelectorAll("text")).map((t) => {
      const b = t.getBBox();
      return { text: t.textContent, right: b.x + b.width, w };
    }).filter((x) => x.right > x.w + 0.5);
  }).flat());
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
  // Counts the page's EventSources, to tell a leaked stream from a held one.
  await context.addInitScript(() => {
    const ES = window.EventSource;
    const all = [];
    window.__streams = () => ({ opened: all.length, open: all.filter((e) => e.readyState !== ES.CLOSED).length });
    window.EventSource = class extends ES {
      constructor(...a) { super(...a); all.push(this); }
    };
  });
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
  await check("Provider Registry lists sim, bad and spare with status from health", async () => {
    await page.waitForSelector("tr[data-provider=sim]");
    await page.waitForSelector("tr[data-provider=spare]");
    await page.waitForSelector("tr[data-provider=bad]");
    const where = await page.textContent("tr[data-provider=sim] td:nth-child(2)");
    assert(where === "local", "sim is " + where);
    const summary = await page.textContent("#registry-summary");
    assert(/^3 providers: 2 available \(enabled\), 3 local, 0 remote/.test(summary), summary);
    const st = async (p) => page.$eval("tr[data-provider=" + p + "] .health", (t) => t.textContent + " " + t.title);
    assert((await st("spare")).startsWith("✗ disabled"), "spare (disabled): " + (await st("spare")));
  });
  await check("status from ProviderPerformance: sim ✓ (all recent attempts ok), bad ✗ (its breaker opened)", async () => {
    const until = new Date();
    const perf = await api(ADMIN, "llmgw.v1.AnalyticsService/ProviderPerformance",
      { since: new Date(until.getTime() - RECENT_MS).toISOString(), until: until.toISOString() });
    const dep = (p) => perf.json.deployments.filter((x) => x.provider === p);
    const simAttempts = dep("sim").reduce((s, x) => s + x.attempts - x.errors_other, 0);
    const badOpened = dep("bad").reduce((s, x) => s + x.breaker_opened, 0);
    assert(simAttempts > 0 && dep("sim").every((x) => x.successes === x.attempts - x.errors_other), "sim " + JSON.stringify(dep("sim")));
    assert(badOpened > 0, "bad " + JSON.stringify(dep("bad")));
    const st = async (p) => page.$eval("tr[data-provider=" + p + "] .health", (t) => t.textContent + " " + t.title);
    await page.waitForFunction(() => document.querySelector("tr[data-provider=sim] .health").textContent === "✓" &&
      document.querySelector("tr[data-provider=bad] .health").textContent === "✗");
    // The figures of the title are the RPC's (more may have arrived since: at least these).
    const sim = await st("sim"), bad = await st("bad");
    const m = /^✓ (\d+) attempts in the last 15 min, all succeeded/.exec(sim);
    assert(m && Number(m[1]) >= simAttempts, "sim: " + sim + " (RPC " + simAttempts + " attempts)");
    const b = /^✗ circuit breaker opened (\d+)× in the last 15 min/.exec(bad);
    assert(b && Number(b[1]) >= badOpened, "bad: " + bad + " (RPC " + badOpened + " openings)");
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
  await check("the bar charts' labels are not clipped (latency: the p99 figure ends inside the chart)", async () => {
    const out = await labelsFit(page, "#panel-performance");
    assert(out.length === 0, JSON.stringify(out));
    assert(/p99 [0-9.]+ ms$/.test(await page.textContent("#chart-latency svg text:last-of-type")), "last label");
  });
  await check("Routing Intelligence: route chat, its strategy, configured selection and fallback chain", async () => {
    const v = await page.$eval("select[data-route=chat]", (s) => s.value);
    assert(v === "priority", "strategy " + v);
    const conf = await page.textContent(".route[data-route=chat] .config");
    assert(conf.includes("priority: sim/gpt-4o has the lowest priority"), conf);
    const items = await page.$$eval(".route[data-route=chat] li strong", (l) => l.map((x) => x.textContent));
    assert(items.join(",") === "sim/gpt-4o,sim/gpt-4o-mini", items.join(","));
  });
  await check("Routing Intelligence: route chat's pick, reason and share are RoutingDecisions'", async () => {
    const { want, got } = await samePick(page, "chat", "priority");
    assert(want.pick === "sim/gpt-4o" && want.reason === "first_choice", "RPC " + JSON.stringify({ ...want, answer: undefined }));
    assert(got.text.startsWith("selection: sim/gpt-4o — priority, first_choice, " + pctOf(want.share) + " of " + want.total + " decisions"), got.text);
  });
  await check("Routing Intelligence: route flaky picks its fallback, with the fallbacks and breaker openings", async () => {
    const { want, got } = await samePick(page, "flaky", "priority");
    assert(want.pick === "sim/gpt-4o-mini" && (want.reason === "fallback" || want.reason === "excluded"),
      "RPC " + JSON.stringify({ ...want, answer: undefined }));
    const opened = want.answer.deployments.filter((x) => x.provider === "bad").reduce((s, x) => s + x.breaker_opened, 0);
    assert(opened > 0, "RPC breaker openings " + JSON.stringify(want.answer.deployments));
    assert(got.text.includes("fallbacks " + want.fallbacks + ", breaker openings " + opened), got.text);
    const items = await page.$$eval(".route[data-route=flaky] li", (l) => l.map((x) => x.textContent));
    assert(items[0].startsWith("bad/flaky-1") && items[0].includes("breaker opened " + opened + "×"), items[0]);
    assert(items[1].startsWith("sim/gpt-4o-mini") && items[1].includes("picked "), items[1]);
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
  await check("a provider with no recent attempts is ⚠ (health unknown)", async () => {
    const t = await page.$eval("tr[data-provider=added-local] .health", (x) => x.textContent + " " + x.title);
    assert(t.startsWith("⚠ no attempts in the last 15 min: health unknown"), t);
  });
  await check("test connection from the console: then ✓", async () => {
    await page.click("tr[data-provider=added-local] button:text('test')");
    await page.waitForFunction(() => /added-local: ok, HTTP 200/.test(document.getElementById("notice").textContent));
    const t = await page.$eval("tr[data-provider=added-local] .health", (x) => x.textContent + " " + x.title);
    assert(/^✓ no attempts in the last 15 min; test connection ok in \d+ ms$/.test(t), t);
  });
  await check("the strategy switch offers every strategy but custom (the route has no weights)", async () => {
    const opts = await page.$$eval("select[data-route=chat] option", (o) => o.map((x) => x.value));
    assert(opts.join(",") === "priority,weighted,cost,latency,quality,balanced", opts.join(","));
  });
  await page.selectOption("select[data-route=chat]", "cost");
  await check("switch route chat to cost", async () => {
    await page.waitForFunction(() => document.getElementById("notice").textContent.includes("route chat now uses cost"));
    await page.waitForFunction(() => document.querySelector(".route[data-route=chat] .config").textContent.startsWith("configured: cost"));
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
  await check("after traffic under cost, route chat's pick and reason are RoutingDecisions'", async () => {
    const { want, got } = await samePick(page, "chat", "cost");
    assert(want.pick === "sim/gpt-4o-mini" && want.reason === "first_choice", "RPC " + JSON.stringify({ ...want, answer: undefined }));
    assert(got.text.startsWith("selection: sim/gpt-4o-mini — cost, first_choice, "), got.text);
  });
  await shot(page, "admin-changed");
  await check("edit an existing provider and save it", async () => {
    await page.click("tr[data-provider=added-local] button:text('edit')");
    assert((await page.inputValue("#provider-form [name=region]")) === "lab", "the form holds the stored region");
    await page.fill("#provider-form [name=region]", "lab-2");
    await page.fill("#provider-form [name=timeout_ms]", "7000");
    await page.click("#provider-save");
    await page.waitForFunction(() => document.getElementById("notice").textContent.startsWith("saved provider added-local"));
    const p = await api(ADMIN, "llmgw.v1.RegistryService/GetProvider", { name: "added-local" });
    assert(p.status === 200 && p.json.region === "lab-2" && p.json.timeout_ms === 7000 && p.json.base_url === SIM + "/v1",
      JSON.stringify(p));
    // The editor goes back to adding once the refresh after the save is done.
    await page.waitForFunction(() => document.getElementById("provider-save").textContent === "Add provider");
  });
  await check("remove a provider", async () => {
    await page.click("tr[data-provider=added-local] button:text('remove')");
    await page.waitForFunction(() => document.getElementById("notice").textContent.startsWith("removed provider added-local"));
    await page.waitForSelector("tr[data-provider=added-local]", { state: "detached" });
    const p = await api(ADMIN, "llmgw.v1.RegistryService/GetProvider", { name: "added-local" });
    assert(p.status === 404, JSON.stringify(p));
  });

  // --- the auditor ---------------------------------------------------------------------------
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await login(page, AUDITOR);
  await check("the auditor signs in and sees the providers", async () => {
    await page.waitForFunction(() => document.getElementById("who").textContent === "aud (auditor)");
    await page.waitForSelector("tr[data-provider=bad]");
    assert(!(await page.$("tr[data-provider=added-local]")), "the removed provider is listed");
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

  // --- no event stream to be had: the page polls ---------------------------------------------------
  // The control plane holds at most 16 streams (docs/console.md). Signed out,
  // the page holds none; 16 other clients then take every slot, so the page's
  // next stream is refused (503) and it must fall back to polling, and still
  // show new figures. Once the slots are free again it is live again.
  await page.click("#logout");
  await page.waitForSelector("#login:not([hidden])");
  await check("signed out, the page holds no event stream", async () => {
    const st = await page.evaluate(() => window.__streams());
    assert(st.opened > 0 && st.open === 0, JSON.stringify(st));
  });
  // A slot the page held frees within 0.5 s (the server looks at the socket).
  await new Promise((res) => setTimeout(res, T(1500)));
  const held = [];
  await check("with every event stream slot taken, a 17th stream is refused", async () => {
    let refused = null;
    for (let i = 0; i < 40 && refused === null; i++) {
      const t = await fetch(CONSOLE + "/api/events/ticket", { method: "POST", headers: { authorization: "Bearer " + ADMIN } });
      const { ticket } = await t.json();
      const ac = new AbortController();
      const r = await fetch(CONSOLE + "/api/events?ticket=" + ticket, { signal: ac.signal });
      if (r.status === 503) { refused = (await r.json()).error.message; break; }
      assert(r.status === 200, "stream " + r.status);
      held.push(ac);
      // Held only once it said hello: the slot is taken.
      const reader = r.body.getReader();
      let got = "";
      while (!got.includes("event: hello")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("stream ended before hello");
        got += Buffer.from(value).toString();
      }
    }
    assert(refused === "events: too many open streams", "refused: " + refused + " after " + held.length);
    assert(held.length === 16, held.length + " streams held; the page's: " + JSON.stringify(await page.evaluate(() => window.__streams())));
  });
  await login(page, ADMIN);
  await check("the stream refused: the page says polling", async () => {
    await page.waitForSelector("tr[data-provider=sim]");
    await page.waitForFunction(() => document.getElementById("conn").textContent === "polling", null, { timeout: T(15000) });
  });
  await check("while polling, new figures still arrive", async () => {
    const simRequests = async () => {
      const u = await api(ADMIN, "llmgw.v1.UsageService/GetUsageReport", { by: "provider", since_unix_ms: Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1) });
      return u.json.rows.find((r) => r.group === "sim").requests;
    };
    const start = await simRequests();
    for (let i = 0; i < 3; i++) assert((await chatReason()).status === 200, "chat");
    let n = start;
    for (let i = 0; i < 100 && n < start + 3; i++) { await new Promise((r) => setTimeout(r, T(100))); n = await simRequests(); }
    assert(n >= start + 3, "usage " + start + " -> " + n);
    const want = String(n);
    await page.waitForFunction((w) => document.querySelector("tr[data-provider=sim] td:nth-child(5)").textContent === w &&
      document.getElementById("conn").textContent === "polling", want, { timeout: T(20000) });
  });
  await shot(page, "polling");
  for (const ac of held) ac.abort();
  await check("the slots free again: the page is live again", async () => {
    await page.waitForFunction(() => document.getElementById("conn").textContent === "live", null, { timeout: T(20000) });
  });

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
