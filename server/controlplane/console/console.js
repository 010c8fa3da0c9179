/* llmgw console: four panels over the control plane's JSON admin API
 * (POST /api/<package.Service>/<Method>, docs/console.md).
 *
 * Every figure comes from an RPC answer; nothing is invented. The token sits
 * in sessionStorage; a 401 anywhere returns to the login screen with the
 * server's message. Live updates: an EventSource on /api/events (a ticket
 * from POST /api/events/ticket) triggers a refresh on "changed" and "tick";
 * when the stream fails the page polls every POLL_MS, and while the control
 * plane cannot be reached it says so and keeps the last figures.
 */
"use strict";

const POLL_MS = 5000;
/* Every strategy a route may have (docs/routing-table.md); "custom" only for
 * a route that has weights, which it requires. */
const STRATEGIES_ALL = ["priority", "weighted", "cost", "latency", "quality", "balanced", "custom"];
const strategiesFor = (r) => STRATEGIES_ALL.filter((s) => s !== "custom" || r.weights || r.strategy === "custom");
const BUCKET_MS = 5 * 60 * 1000;
const BUCKETS = 12;
/* "Recently", for provider health and the routing picks: the same 15 minutes
 * `llmgw top` shows by default, long enough to hold a quiet route's last
 * requests, short enough that a breaker from an hour ago no longer counts. */
const RECENT_MS = 15 * 60 * 1000;
const RECENT_TEXT = "last 15 min";

/* A map keyed by names from the server (providers, routes, reasons): no
 * prototype, so a provider named "__proto__" is just a key. */
const dict = () => Object.create(null);

const state = {
  token: sessionStorage.getItem("llmgw.token") || "",
  caller: null,
  methods: {},
  stream: null,
  pollTimer: null,
  lastOk: null,
  refreshing: false,
  pendingRefresh: false,
  probes: dict(), // provider -> TestConnection answer (admin/operator only)
  data: null,     // the last complete set of answers
  editing: null,  // provider name being edited, null when adding
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
}

const SVGNS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid) e.append(kid);
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
function usd(x) {
  if (x > 0 && x < 0.01) return "$" + x.toPrecision(2);
  return "$" + (x >= 100 ? x.toFixed(0) : x.toFixed(2));
}
function pct(x) { return (x * 100).toFixed(x >= 0.995 || x === 0 ? 0 : 1) + "%"; }
function hhmmss(d) { return d.toTimeString().slice(0, 8); }

/* --- the API ---------------------------------------------------------------- */

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function request(method, path, body) {
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: { "authorization": "Bearer " + state.token, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (e) {
    throw new ApiError(0, "UNREACHABLE", "control plane unreachable");
  }
  let j = null;
  try { j = await resp.json(); } catch (e) { j = null; }
  if (!resp.ok) {
    const err = j && j.error ? j.error : { code: "HTTP_" + resp.status, message: resp.statusText };
    throw new ApiError(resp.status, err.code, err.message);
  }
  return j || {};
}

/* One RPC by its full name, e.g. rpc("llmgw.v1.RegistryService/ListProviders"). */
function rpc(name, body) { return request("POST", "/api/" + name, body || {}); }
function has(name) { return Object.prototype.hasOwnProperty.call(state.methods, name); }
function allowed(name) { return has(name) && state.methods[name].allowed; }

/* A read that the caller's role may not make is "not visible", not an error. */
async function optional(name, body) {
  if (!allowed(name)) return { hidden: true, reason: has(name) ? "not visible to role " + state.caller.role : "not on this control plane" };
  try { return await rpc(name, body); } catch (e) {
    if (e.status === 0 || e.status === 401) throw e;
    return { failed: true, reason: e.status + " " + e.code + ": " + e.message };
  }
}

/* --- login -------------------------------------------------------------------- */

function showLogin(message) {
  stopLive();
  state.caller = null;
  $("panels").hidden = true;
  $("footer").hidden = true;
  $("banner").hidden = true;
  $("notice").hidden = true;
  $("conn").hidden = true;
  $("who").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  /* Nothing of the last session stays on the page. */
  resetEditor();
  $("provider-editor").open = false;
  state.probes = dict();
  state.data = null;
  $("token").focus();
}

async function login(token) {
  state.token = token;
  let idx;
  try {
    idx = await request("GET", "/api/");
  } catch (e) {
    sessionStorage.removeItem("llmgw.token");
    showLogin(e.status === 0 ? "control plane unreachable: " + location.host : e.message);
    return;
  }
  sessionStorage.setItem("llmgw.token", token);
  state.caller = idx.caller;
  state.methods = {};
  for (const m of idx.methods) state.methods[m.path] = m;
  $("login").hidden = true;
  $("panels").hidden = false;
  $("footer").hidden = false;
  $("who").hidden = false;
  $("who").textContent = idx.caller.name + " (" + idx.caller.role + ")";
  $("logout").hidden = false;
  $("conn").hidden = false;
  await refresh();
  startLive();
}

/* --- live updates ------------------------------------------------------------------- */

function setConn(kind, text) {
  const c = $("conn");
  c.className = "conn " + kind;
  c.textContent = text;
}

function stopLive() {
  if (state.stream) { state.stream.close(); state.stream = null; }
  if (state.pollTimer) { clearInterval(state.pollTimer); state.pollTimer = null; }
}

async function startLive() {
  stopLive();
  if (!state.caller) return;
  let t;
  try {
    t = await request("POST", "/api/events/ticket");
  } catch (e) {
    if (e.status === 401) { showLogin(e.message); return; }
    startPolling();
    return;
  }
  const es = new EventSource("/api/events?ticket=" + encodeURIComponent(t.ticket));
  state.stream = es;
  es.addEventListener("hello", () => setConn("live", "live"));
  es.addEventListener("changed", () => refresh());
  es.addEventListener("tick", () => refresh());
  es.onerror = () => {
    /* A ticket is single-use: EventSource's own retry would be refused. */
    es.close();
    if (state.stream === es) state.stream = null;
    startPolling();
  };
}

function startPolling() {
  if (state.pollTimer || !state.caller) return;
  setConn("polling", "polling");
  state.pollTimer = setInterval(async () => {
    /* The last refresh that finished decides: on a control plane slower
     * than POLL_MS a tick finds one still running, and a flag cleared when
     * each starts would never be seen set, leaving the page polling. */
    await refresh();
    if (state.lastOkFresh && state.pollTimer) {
      /* Reachable again: back to the stream. */
      clearInterval(state.pollTimer);
      state.pollTimer = null;
      startLive();
    }
  }, POLL_MS);
}

function unreachable() {
  const b = $("banner");
  b.hidden = false;
  b.textContent = "control plane unreachable — last update " +
    (state.lastOk ? hhmmss(state.lastOk) : "never") + ", retrying";
  setConn("down", "unreachable");
}

/* --- data ------------------------------------------------------------------------------ */

function monthStartMs(now) { return Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1); }

async function load() {
  const now = Date.now();
  const mtd = monthStartMs(new Date(now));
  const hourStart = now - BUCKETS * BUCKET_MS;
  const R = "llmgw.v1.RegistryService/", U = "llmgw.v1.UsageService/";
  const buckets = [];
  for (let i = 0; i < BUCKETS; i++) {
    const since = hourStart + i * BUCKET_MS;
    buckets.push(optional(U + "GetUsageReport", { by: "provider", since_unix_ms: since, until_unix_ms: since + BUCKET_MS }));
  }
  const [providers, models, routes, nodes, budgets, byProvider, byModel, ...series] = await Promise.all([
    optional(R + "ListProviders"), optional(R + "ListModels"), optional(R + "ListRoutes"),
    optional("llmgw.v1.DistributionService/ListNodes"), optional("llmgw.v1.BudgetService/ListBudgets"),
    optional(U + "GetUsageReport", { by: "provider", since_unix_ms: mtd, until_unix_ms: 0 }),
    optional(U + "GetUsageReport", { by: "model", since_unix_ms: mtd, until_unix_ms: 0 }),
    ...buckets,
  ]);
  const analytics = await loadAnalytics();
  return { now, mtd, hourStart, providers, models, routes, nodes, budgets, byProvider, byModel, series, analytics };
}

/* AnalyticsService (the fleet's merged metrics, docs/analytics.md), when
 * this control plane has it: performance and quality over the last 24 hours
 * (latency chart, ensemble consistency), and over the recent window the
 * performance behind each provider's status and the routing decisions behind
 * each route's selection. */
async function loadAnalytics() {
  const svc = "llmgw.v1.AnalyticsService/";
  const present = Object.keys(state.methods).some((n) => n.startsWith(svc));
  if (!present) return { present, perf: null, quality: null, recentPerf: null, routing: null };
  const until = new Date();
  const iso = (ms) => new Date(ms).toISOString();
  const win = { since: iso(until.getTime() - 24 * 3600 * 1000), until: until.toISOString() };
  const recent = { since: iso(until.getTime() - RECENT_MS), until: until.toISOString() };
  const call = (m, w) => has(svc + m) ? optional(svc + m, w) : Promise.resolve(null);
  const [perf, quality, recentPerf, routing] = await Promise.all([
    call("ProviderPerformance", win), call("Quality", win),
    call("ProviderPerformance", recent), call("RoutingDecisions", recent),
  ]);
  return { present, perf, quality, recentPerf, routing };
}

async function refresh() {
  if (!state.caller) return;
  if (state.refreshing) { state.pendingRefresh = true; return; }
  state.refreshing = true;
  try {
    const d = await load();
    state.data = d;
    state.lastOk = new Date();
    state.lastOkFresh = true;
    $("banner").hidden = true;
    if (!state.pollTimer) setConn("live", "live");
    render(d);
  } catch (e) {
    if (e.status === 401) { showLogin(e.message); return; }
    state.lastOkFresh = false;
    unreachable();
    if (state.stream) { state.stream.close(); state.stream = null; }
    startPolling();
  } finally {
    state.refreshing = false;
    if (state.pendingRefresh) { state.pendingRefresh = false; setTimeout(refresh, 0); }
  }
}

function notice(kind, text) {
  const n = $("notice");
  n.hidden = false;
  n.className = "notice " + kind;
  n.textContent = text;
}

/* A change: the RPC, then a refresh; a refusal is shown as the server said it. */
async function change(name, body, okText) {
  try {
    const r = await rpc(name, body);
    notice("good", okText + (r.table_version ? " — routing table v" + r.table_version : ""));
    await refresh();
    return r;
  } catch (e) {
    if (e.status === 401) { showLogin(e.message); return null; }
    notice("bad", (e.status ? e.status + " " + e.code + ": " : "") + e.message);
    return null;
  }
}

/* --- derived figures ----------------------------------------------------------------------- */

function rowsOf(ans) { return ans && ans.rows ? ans.rows : []; }

function byGroup(ans) {
  const m = dict();
  for (const r of rowsOf(ans)) m[r.group] = r;
  return m;
}

function isLocal(url) {
  try {
    const h = new URL(url).hostname;
    return h === "localhost" || h === "127.0.0.1" || h === "[::1]" || h === "::1" || h.endsWith(".local");
  } catch (e) { return false; }
}

/* A provider's recent figures from ProviderPerformance over RECENT_MS,
 * summed over its deployments; null when the answer is not there (the
 * reason is in the answer). */
function recentHealth(d) {
  const a = d.analytics;
  const perf = a && a.recentPerf;
  if (!perf || perf.hidden || perf.failed) return null;
  const m = dict();
  for (const x of perf.deployments || []) {
    const h = m[x.provider] || (m[x.provider] = { attempts: 0, results: 0, successes: 0, breaker: 0, observed: 0, down: 0 });
    const results = Number(x.attempts || 0) - Number(x.errors_other || 0);
    h.attempts += Number(x.attempts || 0);
    h.results += results;
    h.successes += Number(x.successes || 0);
    h.breaker += Number(x.breaker_opened || 0);
    if (results > 0) { h.observed++; if (Number(x.availability || 0) === 0) h.down++; }
  }
  return m;
}

/* ✓ ⚠ ✗ with where it came from (docs/console.md, "Provider Registry"):
 * ✗ disabled, a failed "test", a breaker that opened recently, or no
 *   deployment of it available in any recent minute (availability 0);
 * ⚠ some recent attempts failed, or no recent attempts (health unknown);
 * ✓ recent attempts all succeeded, or none but a passing "test". */
function health(p, recent, probe, whyUnknown) {
  if (!p.enabled) return { sym: "✗", cls: "st-bad", why: "disabled: left out of the routing table" };
  if (probe && !probe.ok) return { sym: "✗", cls: "st-bad", why: "test connection failed: " + (probe.error || "HTTP " + probe.http_status) };
  const okProbe = probe && probe.ok ? "; test connection ok in " + probe.latency_ms + " ms" : "";
  if (!recent) return { sym: "⚠", cls: "st-warn", why: "health unknown: ProviderPerformance " + whyUnknown + okProbe };
  const h = recent[p.name];
  if (h && h.breaker > 0)
    return { sym: "✗", cls: "st-bad", why: "circuit breaker opened " + h.breaker + "× in the " + RECENT_TEXT };
  if (h && h.observed && h.down === h.observed)
    return { sym: "✗", cls: "st-bad", why: "availability 0: no successful attempt in the " + RECENT_TEXT + " (" + h.attempts + " attempts)" };
  if (!h || !h.results) {
    if (okProbe) return { sym: "✓", cls: "st-ok", why: "no attempts in the " + RECENT_TEXT + okProbe };
    return { sym: "⚠", cls: "st-warn", why: "no attempts in the " + RECENT_TEXT + ": health unknown (try \"test\")" };
  }
  if (h.successes < h.results)
    return { sym: "⚠", cls: "st-warn", why: "success " + pct(h.successes / h.results) + " of " + h.results + " attempts in the " + RECENT_TEXT };
  return { sym: "✓", cls: "st-ok", why: h.results + " attempts in the " + RECENT_TEXT + ", all succeeded" + okProbe };
}

/* The order a route tries its deployments, from its configuration. */
function chain(route) {
  const ds = (route.deployments || []).slice();
  if (route.strategy === "weighted") {
    const total = ds.reduce((s, d) => s + (d.weight || 1), 0);
    ds.sort((a, b) => (b.weight || 1) - (a.weight || 1));
    return { ds, total };
  }
  ds.sort((a, b) => a.priority - b.priority);
  return { ds, total: 0 };
}

function modelPrice(models, provider, name) {
  return (models || []).find((m) => m.provider === provider && m.name === name) || null;
}

/* --- rendering ------------------------------------------------------------------------------- */

function render(d) {
  renderRegistry(d);
  renderRouting(d);
  renderPerformance(d);
  renderOptimization(d);
}

function renderRegistry(d) {
  const tb = clear($("providers").querySelector("tbody"));
  if (d.providers.hidden || d.providers.failed) {
    $("registry-summary").textContent = "providers: " + d.providers.reason;
    return;
  }
  const ps = d.providers.providers || [];
  const models = d.models.models || [];
  const usage = byGroup(d.byProvider);
  const recent = recentHealth(d);
  const rp = d.analytics && d.analytics.recentPerf;
  const whyUnknown = !d.analytics || !d.analytics.present ? "not on this control plane" : rp ? rp.reason : "not on this control plane";
  const local = ps.filter((p) => isLocal(p.base_url)).length;
  const available = ps.filter((p) => p.enabled).length;
  $("registry-summary").textContent = ps.length + " providers: " + available + " available (enabled), " +
    local + " local, " + (ps.length - local) + " remote" +
    (d.nodes.nodes ? "; " + d.nodes.nodes.length + " data plane node(s), table v" + d.nodes.latest_version : "");
  for (const p of ps) {
    const u = usage[p.name];
    const h = health(p, recent, state.probes[p.name], whyUnknown);
    const nm = models.filter((m) => m.provider === p.name).length;
    const tr = el("tr", { "data-provider": p.name },
      el("td", {}, el("strong", { text: p.name }), el("div", { class: "url", text: (p.preset && p.preset !== "custom" ? p.preset + " · " : "") + (p.base_url || "(preset URL)") })),
      el("td", { text: isLocal(p.base_url) ? "local" : "remote" }),
      el("td", { class: h.cls + " health", title: h.why, text: h.sym }),
      el("td", { text: String(nm) }),
      el("td", { text: u ? String(u.requests) : "0" }),
      el("td", {},
        el("button", { class: "small", type: "button", onclick: () => testConnection(p.name), text: "test" }), " ",
        el("button", { class: "small", type: "button", onclick: () => editProvider(p), text: "edit" }), " ",
        el("button", { class: "small danger", type: "button", onclick: () => removeProvider(p.name), text: "remove" })));
    tb.append(tr);
  }
}

async function testConnection(name) {
  const r = await change("llmgw.v1.RegistryService/TestConnection", { name }, "tested " + name);
  if (r) {
    state.probes[name] = r;
    notice(r.ok ? "good" : "bad", name + ": " + (r.ok ? "ok, HTTP " + r.http_status + " in " + r.latency_ms + " ms, " + r.models_listed + " models listed" : "failed: " + r.error));
    if (state.data) renderRegistry(state.data);
  }
}

function editProvider(p) {
  state.editing = p.name;
  const f = $("provider-form");
  for (const k of ["name", "preset", "base_url", "auth_style", "region"]) f.elements[k].value = p[k] || "";
  f.elements.timeout_ms.value = p.timeout_ms || "";
  f.elements.api_key.value = "";
  f.elements.enabled.checked = !!p.enabled;
  f.elements.name.readOnly = true;
  $("editor-title").textContent = "Edit provider " + p.name;
  $("provider-save").textContent = "Save " + p.name;
  $("provider-editor").open = true;
}

function resetEditor() {
  state.editing = null;
  const f = $("provider-form");
  f.reset();
  f.elements.name.readOnly = false;
  $("editor-title").textContent = "Add a provider";
  $("provider-save").textContent = "Add provider";
}

async function saveProvider(ev) {
  ev.preventDefault();
  const f = ev.target;
  const p = {
    name: f.elements.name.value.trim(),
    preset: f.elements.preset.value.trim(),
    base_url: f.elements.base_url.value.trim(),
    auth_style: f.elements.auth_style.value,
    region: f.elements.region.value.trim(),
    timeout_ms: f.elements.timeout_ms.value ? Number(f.elements.timeout_ms.value) : 0,
    enabled: f.elements.enabled.checked,
  };
  if (f.elements.api_key.value) p.api_key = f.elements.api_key.value;
  let r;
  if (state.editing) {
    // state.data is null until the first load after a sign-in finishes.
    const known = (state.data && state.data.providers && state.data.providers.providers) || [];
    const old = known.find((x) => x.name === state.editing);
    if (old && old.headers) p.headers = old.headers;
    p.wire_format = old ? old.wire_format : "";
    p.api_version = old ? old.api_version : "";
    r = await change("llmgw.v1.RegistryService/UpdateProvider", { provider: p }, "saved provider " + p.name);
  } else {
    r = await change("llmgw.v1.RegistryService/CreateProvider", { provider: p }, "added provider " + p.name);
  }
  if (r) resetEditor();
}

async function removeProvider(name) {
  if (!window.confirm("Remove provider " + name + " and its models?")) return;
  await change("llmgw.v1.RegistryService/DeleteProvider", { name }, "removed provider " + name);
}

/* What RoutingDecisions says of one route under its current strategy: the
 * most-picked deployment (most decisions; a tie goes to the name first in
 * order), the reason most of its decisions had, its share of the route's
 * decisions, and the route's fallbacks, exclusions and failures. null when
 * there were none in the window. */
function routePicks(rd, route) {
  const rows = (rd.decisions || []).filter((x) => x.route === route.name && x.strategy === route.strategy);
  if (!rows.length) return null;
  const total = rows.reduce((s, x) => s + Number(x.count || 0), 0);
  const deps = dict();
  const byReason = dict();
  for (const x of rows) {
    const n = Number(x.count || 0);
    byReason[x.reason] = (byReason[x.reason] || 0) + n;
    if (!x.provider) continue; /* "failed": no deployment served */
    const k = x.provider + "/" + x.model;
    const dep = deps[k] || (deps[k] = { name: k, count: 0, reasons: dict() });
    dep.count += n;
    dep.reasons[x.reason] = (dep.reasons[x.reason] || 0) + n;
  }
  const top = (m) => Object.entries(m).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0];
  const ranked = Object.values(deps).sort((x, y) => y.count - x.count || (x.name < y.name ? -1 : 1));
  const pick = ranked[0] || null;
  return {
    total, deps, byReason, pick,
    reason: pick ? top(pick.reasons)[0] : "failed",
    share: pick && total ? pick.count / total : 0,
  };
}

/* The selection the configuration implies, said as such. */
function configuredSelection(r, c) {
  const first = c.ds[0];
  const scored = { cost: "the lowest expected cost", latency: "the lowest predicted latency",
    quality: "the highest quality score", balanced: "the best blend of cost, latency, quality and success",
    custom: "the best score under the route's own weights" }[r.strategy];
  return !first ? "no deployments" : r.strategy === "weighted"
    ? "weighted: each request picks by weight; " + first.provider + "/" + first.model + " has the largest share (" + pct((first.weight || 1) / c.total) + ")"
    : scored ? r.strategy + ": each data plane ranks these deployments per request by " + scored + " from its live metrics"
    : "priority: " + first.provider + "/" + first.model + " has the lowest priority (" + first.priority + "); the rest are the fallback chain in order";
}

function renderRouting(d) {
  const box = clear($("routes"));
  if (d.routes.hidden || d.routes.failed) { $("routing-summary").textContent = "routes: " + d.routes.reason; return; }
  const rs = d.routes.routes || [];
  const models = d.models.models || [];
  const pu = byGroup(d.byProvider);
  const rd = d.analytics && d.analytics.routing;
  const live = rd && !rd.hidden && !rd.failed;
  const breakers = dict();
  if (live) for (const x of rd.deployments || []) breakers[x.provider + "/" + x.model] = x;
  $("routing-summary").textContent = rs.length + " routes. " + (live
    ? "Selection: the data planes' decisions per route under its current strategy (AnalyticsService/RoutingDecisions, " +
      RECENT_TEXT + ", " + rd.total_decisions + " decisions); the list is the configured order, the fallback chain."
    : "Routing decisions: " + (rd ? rd.reason : "no AnalyticsService on this control plane") +
      "; the selection below is what the configuration implies.");
  for (const r of rs) {
    const sel = el("select", { "aria-label": "strategy of " + r.name, "data-route": r.name },
      ...strategiesFor(r).map((s) => el("option", { value: s, selected: s === r.strategy, text: s })));
    sel.addEventListener("change", () => switchStrategy(r, sel.value, sel));
    const c = chain(r);
    const picks = live ? routePicks(rd, r) : null;
    const items = c.ds.map((dep, i) => {
      const name = dep.provider + "/" + dep.model;
      const m = modelPrice(models, dep.provider, dep.model);
      const u = pu[dep.provider];
      const bits = [];
      if (r.strategy === "weighted") bits.push("weight " + (dep.weight || 1) + " (" + pct((dep.weight || 1) / c.total) + ")");
      else bits.push("priority " + dep.priority);
      if (m) bits.push(usd(m.input_cost_per_mtok) + "/" + usd(m.output_cost_per_mtok) + " per Mtok");
      if (u && u.requests) bits.push("success " + pct(1 - u.errors / u.requests));
      if (picks && picks.deps[name]) bits.push("picked " + picks.deps[name].count + "× (" + pct(picks.deps[name].count / picks.total) + ")");
      const br = breakers[name];
      if (br && Number(br.breaker_opened) > 0) bits.push("breaker opened " + br.breaker_opened + "×");
      const top = picks && picks.pick && picks.pick.name === name;
      return el("li", { class: (i === 0 ? "first" : "") + (top ? " picked" : ""), "data-deployment": name },
        el("strong", { text: name }), " — " + bits.join(", "));
    });
    let pick;
    if (picks && picks.pick) {
      const others = Object.entries(picks.byReason).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
        .map(([k, v]) => k + " " + v).join(", ");
      pick = el("div", { class: "pick", "data-pick": picks.pick.name, "data-reason": picks.reason, "data-share": picks.share.toFixed(4) },
        "selection: ", el("strong", { text: picks.pick.name }),
        " — " + r.strategy + ", " + picks.reason + ", " + pct(picks.share) + " of " + picks.total + " decisions (" + RECENT_TEXT + ")");
      pick.append(el("div", { class: "pick-detail", text: "decisions: " + others +
        "; fallbacks " + (picks.byReason.fallback || 0) + ", breaker openings " +
        c.ds.reduce((s, dep) => s + Number((breakers[dep.provider + "/" + dep.model] || {}).breaker_opened || 0), 0) }));
    } else if (picks) {
      pick = el("div", { class: "pick", "data-pick": "", "data-reason": picks.reason, "data-share": "0" },
        "selection: none — all " + picks.total + " decisions under " + r.strategy + " failed (" + RECENT_TEXT + ")");
    } else {
      pick = el("div", { class: "pick", "data-pick": "", "data-reason": "", "data-share": "0",
        text: "selection: " + (live ? "no decisions under " + r.strategy + " in the " + RECENT_TEXT : "not reported") });
    }
    box.append(el("div", { class: "route", "data-route": r.name },
      el("div", { class: "route-head" }, el("strong", { text: r.name }), el("label", { class: "sub", text: "strategy " }, sel)),
      pick,
      el("div", { class: "config", text: "configured: " + configuredSelection(r, c) }),
      el("ol", {}, ...items)));
  }
}

async function switchStrategy(route, strategy, sel) {
  const body = { route: { name: route.name, strategy, deployments: route.deployments } };
  const r = await change("llmgw.v1.RegistryService/UpdateRoute", body, "route " + route.name + " now uses " + strategy);
  if (!r) sel.value = route.strategy;
}

/* Roughly the width of a 10px system-ui label: SVG text is not measured
 * before it is in the page, and the margins must hold the longest one. */
const textW = (t) => Math.ceil(String(t).length * 6.2) + 6;

/* A horizontal bar chart: rows of {label, value, text, bad}. The label
 * column and the right margin fit the longest label and figure; the view
 * box widens (and the chart scales down) rather than clip either. */
function barChart(rows, max) {
  const rowH = 18, minBar = 80;
  const labelW = Math.max(40, ...rows.map((r) => textW(r.label)));
  const valueW = Math.max(40, ...rows.map((r) => textW(r.text)));
  const W = Math.max(300, labelW + minBar + valueW);
  const H = Math.max(rows.length, 1) * rowH + 4;
  const s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", height: H, role: "img" });
  const top = max || Math.max(...rows.map((r) => r.value), 1e-12);
  rows.forEach((r, i) => {
    const y = i * rowH + 2;
    const w = Math.max(0, (W - labelW - valueW) * (r.value / top));
    s.append(svg("text", { x: 0, y: y + 12, text: r.label }));
    s.append(svg("rect", { class: "bar" + (r.bad ? " bad" : ""), x: labelW, y: y + 3, width: w.toFixed(1), height: rowH - 7, rx: 2 }));
    s.append(svg("text", { x: labelW + w + 4, y: y + 12, text: r.text }));
  });
  return s;
}

/* Small multiples of a per-bucket series: one polyline per provider. */
function seriesChart(names, perBucket, fmt) {
  const W = 300, H = 24 * names.length + 14, left = 90, right = 60;
  const s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", height: H, role: "img" });
  names.forEach((n, i) => {
    const vals = perBucket.map((b) => b[n]);
    const known = vals.filter((v) => v !== null && v !== undefined);
    const top = Math.max(...known, 1e-12);
    const y0 = i * 24 + 20, h = 16;
    s.append(svg("text", { x: 0, y: y0 - 4, text: n }));
    s.append(svg("line", { class: "axis", x1: left, x2: W - right, y1: y0, y2: y0 }));
    const pts = [];
    vals.forEach((v, k) => {
      if (v === null || v === undefined) return;
      const x = left + (W - left - right) * (k / (vals.length - 1));
      pts.push(x.toFixed(1) + "," + (y0 - h * (v / top)).toFixed(1));
    });
    if (pts.length) s.append(svg("polyline", { points: pts.join(" "), fill: "none", stroke: "#2f5fd0", "stroke-width": 1.5 }));
    const last = known.length ? known[known.length - 1] : null;
    s.append(svg("text", { x: W - right + 4, y: y0 - 4, text: last === null ? "–" : fmt(last) }));
  });
  return s;
}

function renderPerformance(d) {
  const na = (id, text) => clear($(id)).append(el("p", { class: "na", text }));
  if (d.byProvider.hidden || d.byProvider.failed) {
    $("perf-summary").textContent = "usage: " + d.byProvider.reason;
    for (const id of ["chart-throughput", "chart-success", "chart-cost"]) na(id, d.byProvider.reason);
  } else {
    const mtd = rowsOf(d.byProvider);
    const total = mtd.reduce((s, r) => s + r.requests, 0);
    $("perf-summary").textContent = "UsageService.GetUsageReport by provider: " + total + " requests this month; the last hour in " + BUCKETS + " buckets.";
    const names = Array.from(new Set([...mtd.map((r) => r.group), ...d.series.flatMap((b) => rowsOf(b).map((r) => r.group))])).sort();
    const thr = d.series.map((b) => { const m = dict(); for (const r of rowsOf(b)) m[r.group] = r.requests / (BUCKET_MS / 60000); for (const n of names) if (!(n in m)) m[n] = 0; return m; });
    if (names.length) {
      clear($("chart-throughput")).append(seriesChart(names, thr, (v) => v.toFixed(2) + "/min"));
      const hour = dict();
      for (const b of d.series) for (const r of rowsOf(b)) { const h = hour[r.group] || (hour[r.group] = { req: 0, err: 0 }); h.req += r.requests; h.err += r.errors; }
      const rows = names.filter((n) => hour[n] && hour[n].req).map((n) => ({ label: n, value: 1 - hour[n].err / hour[n].req, text: pct(1 - hour[n].err / hour[n].req) + " of " + hour[n].req, bad: hour[n].err > 0 }));
      clear($("chart-success")).append(rows.length ? barChart(rows, 1) : el("p", { class: "na", text: "no requests in the last hour" }));
      clear($("chart-cost")).append(barChart(mtd.map((r) => ({ label: r.group || "(none)", value: r.cost_usd, text: usd(r.cost_usd) }))));
    } else {
      for (const id of ["chart-throughput", "chart-success", "chart-cost"]) na(id, "no usage recorded yet");
    }
  }
  renderLatency(d);
}

/* Milliseconds for a label: a decimal below 10 ms (local providers answer in less than one). */
const fmtMs = (v) => { const n = Number(v || 0); return n < 10 ? n.toFixed(1) : String(Math.round(n)); };

/* Latency comes from AnalyticsService's ProviderPerformance: p50 and p99 of
 * successful attempts per deployment, from the fleet's merged histograms. */
function renderLatency(d) {
  const box = clear($("chart-latency"));
  const extra = clear($("analytics-extra"));
  const a = d.analytics;
  if (!a.present) {
    box.append(el("p", { class: "na", text: "not available: this control plane has no AnalyticsService" }));
    return;
  }
  const perf = a.perf;
  if (!perf || perf.hidden || perf.failed) {
    box.append(el("p", { class: "na", text: "ProviderPerformance: " + (perf ? perf.reason : "not on this control plane") }));
    return;
  }
  const rows = (perf.deployments || [])
    .filter((x) => Number(x.successes || 0) > 0)
    .map((x) => ({
      label: x.provider + "/" + x.model,
      value: Number(x.latency_p50_ms || 0),
      text: "p50 " + fmtMs(x.latency_p50_ms) + " ms · p99 " + fmtMs(x.latency_p99_ms) + " ms",
    }));
  box.append(rows.length ? barChart(rows) : el("p", { class: "na", text: "no successful attempts in the last 24 hours" }));
  extra.append(el("p", { class: "sub", text: "latency: AnalyticsService/ProviderPerformance, last 24 h, " + (perf.deployments || []).length + " deployments" }));
}

function renderOptimization(d) {
  const b = clear($("budgets"));
  if (d.budgets.hidden || d.budgets.failed) b.append(el("p", { class: "na", text: "budgets: " + d.budgets.reason }));
  else if (!(d.budgets.budgets || []).length) b.append(el("p", { class: "na", text: "no budgets set (llmgw budget set …)" }));
  else for (const s of d.budgets.budgets) {
    const p = s.percent || 0;
    const bar = el("div", { class: p >= 100 ? "bad" : p >= 80 ? "warn" : "" });
    bar.style.width = Math.min(100, p).toFixed(1) + "%";
    b.append(el("div", { class: "budget", "data-budget": s.budget.name },
      el("div", { text: s.budget.name + " (" + s.budget.scope + (s.budget.target ? " " + s.budget.target : "") + ", " + s.budget.period + "): " +
        usd(s.spent_usd) + " of " + usd(s.budget.limit_usd) + " — " + p.toFixed(1) + "%" }),
      el("div", { class: "meter" }, bar)));
  }
  const sc = clear($("scores"));
  const models = d.models.models || [];
  const mrows = rowsOf(d.byModel);
  const mtdCost = rowsOf(d.byProvider).reduce((s, r) => s + r.cost_usd, 0);
  const add = (k, v) => { sc.append(el("dt", { text: k }), el("dd", { text: v })); };
  add("cost, month to date", d.byProvider.rows ? usd(mtdCost) : d.byProvider.reason);
  /* Quality: the registry's per-model quality, weighted by this month's requests. */
  let qn = 0, qs = 0;
  for (const r of mrows) {
    const ms = models.filter((m) => m.name === r.group);
    if (ms.length) { qs += r.requests * ms.reduce((s, m) => s + m.quality, 0) / ms.length; qn += r.requests; }
  }
  add("quality (registry scores × requests)", qn ? (qs / qn).toFixed(2) : "no requests yet");
  /* Consistency: 1 − the spread of the hourly buckets' success rates. */
  const rates = [];
  for (const bk of d.series) { let req = 0, err = 0; for (const r of rowsOf(bk)) { req += r.requests; err += r.errors; } if (req) rates.push(1 - err / req); }
  add("consistency (1 − success-rate spread, last hour)", rates.length ? (1 - (Math.max(...rates) - Math.min(...rates))).toFixed(2) : "no requests in the last hour");
  /* Ensemble consistency per model, from AnalyticsService's Quality. */
  const q = d.analytics.quality;
  const sampled = q && !q.hidden && !q.failed ? (q.models || []).filter((m) => Number(m.consistency_samples || 0) > 0) : [];
  if (sampled.length)
    add("ensemble consistency (last 24 h)", sampled.map((m) => m.provider + "/" + m.model + " " + Number(m.consistency).toFixed(2) +
      " (" + m.consistency_samples + ")").join(", "));
  else if (q && (q.hidden || q.failed)) add("ensemble consistency", "Quality: " + q.reason);
  /* Ensemble savings: the estimated cost of the members ensembles did not run
   * to completion (cascade stages never reached, members a decided vote
   * stopped), from the same Quality answer (docs/ensembles.md, "Savings"). */
  if (!q) add("ensemble savings", "not reported: this control plane has no AnalyticsService Quality");
  else if (q.hidden || q.failed) add("ensemble savings", "Quality: " + q.reason);
  else {
    const calls = Number(q.ensemble_calls || 0);
    add("ensemble savings (last 24 h, est.)", calls
      ? usd(Number(q.ensemble_savings_usd || 0)) + " over " + calls + " ensemble call" + (calls === 1 ? "" : "s") +
        " (paid " + usd(Number(q.ensemble_cost_usd || 0)) + "; vs. running every member to completion)"
      : "no ensemble calls in the last 24 hours");
  }
  const ul = clear($("suggestions"));
  const sugg = suggestions(d);
  if (!sugg.length) ul.append(el("li", { class: "na", text: "none: nothing in this month's usage points at a cheaper equal choice" }));
  for (const s of sugg) ul.append(el("li", { text: s }));
}

/* One-line suggestions computed from this month's usage and the registry's prices. */
function suggestions(d) {
  const out = [];
  const models = d.models.models || [];
  const byModel = byGroup(d.byModel);
  const byProv = byGroup(d.byProvider);
  const success = (p) => { const u = byProv[p]; return u && u.requests ? 1 - u.errors / u.requests : null; };
  for (const r of (d.routes.routes || [])) {
    const deps = (r.deployments || []).map((dep) => ({ dep, m: modelPrice(models, dep.provider, dep.model) })).filter((x) => x.m);
    if (deps.length < 2) continue;
    const price = (m, pt, ct) => (pt * m.input_cost_per_mtok + ct * m.output_cost_per_mtok) / 1e6;
    let pt = 0, ct = 0, actual = 0, reqs = 0;
    const seen = new Set();
    for (const x of deps) {
      if (seen.has(x.dep.model)) continue;
      seen.add(x.dep.model);
      const u = byModel[x.dep.model];
      if (!u) continue;
      pt += u.prompt_tokens; ct += u.completion_tokens; actual += u.cost_usd; reqs += u.requests;
    }
    if (!reqs) continue;
    const cheapest = deps.slice().sort((a, b) => price(a.m, pt, ct) - price(b.m, pt, ct))[0];
    const would = price(cheapest.m, pt, ct);
    const sc = success(cheapest.dep.provider);
    const others = deps.map((x) => success(x.dep.provider)).filter((v) => v !== null);
    const equal = sc !== null && others.every((v) => sc >= v);
    /* Usage is reported by model, not by route: the figure covers every
     * request its deployments' models served this month. */
    if (actual - would > 1e-9 && equal)
      out.push("route " + r.name + ": cost strategy (all on " + cheapest.dep.provider + "/" + cheapest.dep.model +
        ", success " + pct(sc) + ") would have saved " + usd(actual - would) + " of " + usd(actual) +
        " over its models' " + reqs + " requests this month at equal success");
  }
  for (const s of (d.budgets.budgets || [])) {
    if (!s.period_end_unix_ms || !s.period_start_unix_ms) continue;
    const frac = (d.now - s.period_start_unix_ms) / (s.period_end_unix_ms - s.period_start_unix_ms);
    if (frac > 0.02 && s.spent_usd / frac > s.budget.limit_usd)
      out.push("budget " + s.budget.name + ": at this pace it ends the period at " + usd(s.spent_usd / frac) + ", over its " + usd(s.budget.limit_usd) + " limit");
  }
  // Requests refused before any provider was tried are grouped under "": no provider to blame.
  for (const [p, u] of Object.entries(byProv))
    if (p !== "" && u.requests >= 10 && u.errors / u.requests > 0.05)
      out.push("provider " + p + ": " + pct(u.errors / u.requests) + " of its " + u.requests + " requests failed this month; test its connection or lower its priority");
  return out;
}

/* --- start ---------------------------------------------------------------------------------------- */

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (!t) { $("login-error").textContent = "token: paste an admin token"; return; }
    login(t);
  });
  $("logout").addEventListener("click", () => {
    sessionStorage.removeItem("llmgw.token");
    state.token = "";
    showLogin("signed out");
  });
  $("provider-form").addEventListener("submit", saveProvider);
  $("provider-cancel").addEventListener("click", resetEditor);
  if (state.token) login(state.token); else showLogin("");
});
