// greekfire dashboard: a single-page app over the JSON API (/api/...), no library.
//
// Routes are URL hashes (#/overview, #/performance, #/orders, #/strategies, #/bench). Each
// page has a loader that fetches its endpoints and renders; a `cycle` server-sent event
// refreshes the status bar and the current page. Every element is built with textContent:
// nothing from the API is ever parsed as HTML.

import { PALETTE, barChart, formatNumber, histogram, lineChart } from "./charts.js";

const TOKEN_KEY = "greekfire.dashboard.token";
const ROUTES = ["overview", "performance", "orders", "strategies", "bench"];
const GREEKS = [
  ["delta_usd", "delta $"],
  ["delta_shares", "delta sh"],
  ["gamma", "gamma"],
  ["vega_per_point_usd", "vega / pt $"],
  ["theta_per_day_usd", "theta / day $"],
];

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- helpers

class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

async function api(path, options = {}) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, detailOf(body) || response.statusText);
  }
  return body;
}

function detailOf(body) {
  if (!body || body.detail === undefined) return "";
  return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);

function fmt(value, digits = 2) {
  if (!isNum(value)) return "-";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtQty(value) {
  if (!isNum(value)) return "-";
  return value.toLocaleString("en-US", { maximumFractionDigits: 4 });
}

function fmtUsd(value) {
  return isNum(value) ? `$${fmt(value)}` : "-";
}

function fmtBytes(value) {
  if (!isNum(value)) return "-";
  const units = ["B", "KiB", "MiB", "GiB"];
  let v = value;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function fmtPct(value) {
  return isNum(value) ? `${(value * 100).toFixed(1)} %` : "-";
}

// ns since the epoch (UTC) -> "2026-11-09 14:35:00"
function fmtTime(tsNs, withSeconds = true) {
  if (!isNum(tsNs)) return "-";
  const iso = new Date(tsNs / 1e6).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, withSeconds ? 19 : 16)}`;
}

function fmtAxisTime(ms) {
  if (!isNum(ms)) return "";
  const iso = new Date(ms).toISOString();
  return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

function signClass(value) {
  if (!isNum(value) || value === 0) return "";
  return value > 0 ? "pos" : "neg";
}

function setTile(id, text, raw, cls = "") {
  const value = $(id).querySelector(".value");
  value.textContent = text;
  value.dataset.value = isNum(raw) ? String(raw) : "";
  value.className = `value ${cls}`.trim();
}

function fillTable(tableId, rows, emptyText) {
  const body = $(tableId).querySelector("tbody");
  if (rows.length === 0 && emptyText) {
    const cols = $(tableId).querySelectorAll("thead th").length;
    body.replaceChildren(el("tr", { class: "empty-row" }, el("td", { colspan: cols, text: emptyText })));
    return;
  }
  body.replaceChildren(...rows);
}

function cell(value, cls = "") {
  return el("td", { class: cls || null, text: value });
}

function numCell(text, raw) {
  return el("td", { class: `num ${signClass(raw)}`.trim(), text });
}

function showError(message) {
  const banner = $("error-banner");
  if (message) {
    banner.textContent = message;
    banner.hidden = false;
  } else {
    banner.hidden = true;
    banner.textContent = "";
  }
}

function markLoaded(route) {
  const page = $(`page-${route}`);
  page.dataset.loaded = "true";
  page.dataset.refreshes = String(Number(page.dataset.refreshes || 0) + 1);
}

// ---------------------------------------------------------------- status bar

const state = { overview: null, strategies: [], controlsAvailable: false, mode: null };

function renderStatus(overview, health) {
  if (health) {
    state.mode = health.mode;
    $("status-mode").textContent = `mode: ${health.mode}`;
    $("status-mode").dataset.value = health.mode;
  }
  const cycle = overview ? overview.cycle : health?.cycle;
  if (isNum(cycle)) {
    $("status-cycle").textContent = `cycle ${cycle}`;
    $("status-cycle").dataset.value = String(cycle);
  }
  if (!overview) return;
  const paused = $("status-paused");
  paused.textContent = overview.entries_paused ? "entries paused" : "entries open";
  paused.dataset.value = overview.entries_paused ? "paused" : "open";
  paused.className = `pill ${overview.entries_paused ? "warn" : "ok"}`;
  const kill = $("status-kill-switch");
  kill.textContent = overview.kill_switch ? `kill switch: ${overview.kill_switch}` : "kill switch off";
  kill.dataset.value = overview.kill_switch ? "tripped" : "off";
  kill.className = `pill ${overview.kill_switch ? "bad" : "ok"}`;
  state.controlsAvailable = Boolean(overview.controls_available);
  renderControlAvailability();
}

async function refreshStatus() {
  const [overview, health] = await Promise.all([api("/api/overview"), api("/api/health")]);
  state.overview = overview;
  renderStatus(overview, health);
  return overview;
}

// ---------------------------------------------------------------- overview

async function loadOverview() {
  const [overview, equity] = await Promise.all([refreshStatus(), api("/api/equity")]);
  const acct = overview.account || {};
  setTile("tile-equity", fmtUsd(acct.equity_usd), acct.equity_usd);
  setTile("tile-cash", fmtUsd(acct.cash_usd), acct.cash_usd);
  setTile("tile-buying-power", fmtUsd(acct.buying_power_usd), acct.buying_power_usd);
  setTile("tile-day-pnl", fmtUsd(acct.day_pnl_usd), acct.day_pnl_usd, signClass(acct.day_pnl_usd));
  $("overview-as-of").textContent = isNum(overview.as_of_ns) ? `as of ${fmtTime(overview.as_of_ns)} UTC` : "";

  // x is the snapshot's index (labelled with its time): nights and weekends take no room
  const points = equity.points || [];
  const timeAt = (x) => {
    const p = points[Math.round(x)];
    return p ? fmtAxisTime(p.ts_ns / 1e6) : "";
  };
  lineChart($("chart-equity"), {
    series: [
      { name: "equity", color: PALETTE[0], width: 2, points: points.map((p, i) => [i, p.equity_usd]) },
      { name: "cash", color: PALETTE[1], points: points.map((p, i) => [i, p.cash_usd]) },
    ],
    xFormat: timeAt,
    xInteger: true,
    yFormat: (y) => `$${formatNumber(y)}`,
    xLabel: "account snapshots (time UTC; closed hours skipped)",
    empty: "no account snapshots yet",
  });

  const positions = overview.positions || [];
  fillTable(
    "positions-table",
    positions.map((p) =>
      el(
        "tr",
        { "data-symbol": p.symbol },
        cell(p.symbol, "sym"),
        numCell(fmtQty(p.qty), p.qty),
        numCell(fmt(p.avg_cost)),
        numCell(fmt(p.mark)),
        numCell(fmt(p.market_value_usd)),
        numCell(fmt(p.unrealized_pnl_usd), p.unrealized_pnl_usd),
        numCell(fmt(p.delta_shares), p.delta_shares),
        numCell(fmt(p.gamma, 4), p.gamma),
        numCell(fmt(p.vega_per_point_usd), p.vega_per_point_usd),
        numCell(fmt(p.theta_per_day_usd), p.theta_per_day_usd),
      ),
    ),
  );
  $("positions-empty").hidden = positions.length > 0;
  renderGreeks(overview.greeks || {}, overview.greek_limits || {});
}

// Share of a limit in use: |value| / limit; a negative limit is a floor (theta), so a value
// below zero uses value / limit of it and a value above zero none.
function limitUse(value, limit) {
  if (!isNum(value) || !isNum(limit) || limit === 0) return null;
  if (limit < 0) return value < 0 ? value / limit : 0;
  return Math.abs(value) / limit;
}

function renderGreeks(greeks, limits) {
  const rows = [];
  const uses = [];
  for (const [key, label] of GREEKS) {
    const value = greeks[key];
    const limit = limits[key];
    const use = limitUse(value, limit);
    uses.push(use === null ? null : use * 100);
    rows.push(
      el(
        "tr",
        { "data-greek": key },
        cell(label),
        numCell(fmt(value, key === "gamma" ? 4 : 2), value),
        numCell(isNum(limit) ? fmtQty(limit) : "no limit"),
        numCell(use === null ? "-" : fmtPct(use), null),
      ),
    );
  }
  fillTable("greeks-table", rows);
  barChart($("chart-greeks"), {
    labels: GREEKS.map(([, label]) => label),
    values: uses,
    colors: uses.map((u) => (u === null ? PALETTE[9] : u >= 100 ? "#e15759" : u >= 80 ? "#edc948" : "#59a14f")),
    yFormat: (y) => `${formatNumber(y)} %`,
    yLabel: "% of limit",
    refLine: { value: 100, label: "limit" },
    nullLabel: "no limit",
    empty: "no Greek limits configured (risk.greeks in the config)",
  });
}

// ---------------------------------------------------------------- performance

function histogramCanvas(phase) {
  const id = `chart-hist-${phase}`;
  let canvas = $(id);
  if (!canvas) {
    canvas = el("canvas", { id, "data-testid": id, "data-phase": phase, class: "chart", height: 150 });
    $("phase-histograms").append(el("div", { class: "histogram" }, canvas));
  }
  return canvas;
}

async function loadPerformance() {
  const perf = await api("/api/performance?limit=500");
  const phases = perf.phases || [];
  const series = perf.series || [];
  const system = perf.system || {};
  setTile("tile-rss", fmtBytes(system.rss_bytes), system.rss_bytes);
  setTile("tile-cpu", isNum(system.cpu_percent) ? `${system.cpu_percent.toFixed(1)} %` : "-", system.cpu_percent);
  setTile("tile-threads", isNum(system.threads) ? String(system.threads) : "-", system.threads);
  setTile("tile-cycles", String(series.length), series.length);

  const phaseNames = [];
  for (const row of series) {
    for (const name of Object.keys(row.phases_ms || {})) if (!phaseNames.includes(name)) phaseNames.push(name);
  }
  lineChart($("chart-cycle-series"), {
    series: [
      { name: "total", color: "#e6e6e6", width: 2.2, points: series.map((r) => [r.cycle, r.total_ms]) },
      ...phaseNames.map((name, i) => ({
        name,
        color: PALETTE[i % PALETTE.length],
        points: series.map((r) => [r.cycle, (r.phases_ms || {})[name]]),
      })),
    ],
    xFormat: (x) => String(Math.round(x)),
    xInteger: true,
    yFormat: (y) => formatNumber(y),
    xLabel: "cycle",
    yLabel: "ms",
    empty: "no cycles journaled yet",
  });

  fillTable(
    "phases-table",
    phases.map((p) =>
      el(
        "tr",
        { "data-phase": p.phase },
        cell(p.phase),
        numCell(fmtQty(p.count)),
        numCell(fmt(p.p50_ms, 3)),
        numCell(fmt(p.p95_ms, 3)),
        numCell(fmt(p.p99_ms, 3)),
        numCell(fmt(p.max_ms, 3)),
      ),
    ),
    "no cycles journaled yet",
  );
  // every canvas first, then draw: adding one changes the grid's column widths
  const canvases = phases.map((p) => histogramCanvas(p.phase));
  for (const stale of $("phase-histograms").querySelectorAll("canvas")) {
    if (!canvases.includes(stale)) stale.parentElement.remove();
  }
  phases.forEach((p, i) => {
    const hist = p.histogram || { edges_ms: [], counts: [] };
    histogram(canvases[i], {
      edges: hist.edges_ms,
      counts: hist.counts,
      title: `${p.phase}: p50 ${fmt(p.p50_ms, 2)} ms, p99 ${fmt(p.p99_ms, 2)} ms`,
      xLabel: "ms (bucket upper edge)",
      color: PALETTE[i % PALETTE.length],
    });
  });

  const caches = perf.caches || [];
  fillTable(
    "caches-table",
    caches.map((c) =>
      el(
        "tr",
        { "data-cache": c.name },
        cell(c.name),
        numCell(fmtQty(c.hits)),
        numCell(fmtQty(c.misses)),
        numCell(fmtPct(c.hit_rate)),
      ),
    ),
  );
  $("caches-empty").hidden = caches.length > 0;
  const calls = perf.api || [];
  fillTable(
    "api-table",
    calls.map((a) =>
      el(
        "tr",
        { "data-endpoint": a.endpoint },
        cell(a.provider || "-"),
        cell(a.endpoint, "mono"),
        numCell(fmtQty(a.requests)),
        numCell(fmtQty(a.errors), a.errors > 0 ? -1 : 0),
        numCell(a.requests > 0 ? fmtPct(a.errors / a.requests) : "-"),
      ),
    ),
  );
  $("api-empty").hidden = calls.length > 0;

  const trades = perf.trades_per_hour || [];
  barChart($("chart-trades-per-hour"), {
    labels: trades.map((t) => fmtAxisTime(t.hour_ns / 1e6)),
    values: trades.map((t) => t.fills),
    yFormat: (y) => String(Math.round(y)),
    yInteger: true,
    yLabel: "fills",
    empty: "no fills yet",
  });
}

// ---------------------------------------------------------------- orders and fills

function ordersQuery() {
  const q = $("orders-search").value.trim();
  const status = $("orders-status").value;
  const limit = $("orders-limit").value;
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (status) params.set("status", status);
  params.set("limit", limit);
  return params;
}

async function loadOrders() {
  const params = ordersQuery();
  const fillParams = new URLSearchParams(params);
  fillParams.delete("status");
  const [orders, fills] = await Promise.all([api(`/api/orders?${params}`), api(`/api/fills?${fillParams}`)]);
  const rows = orders.orders || [];
  fillTable(
    "orders-table",
    rows.map((o) =>
      el(
        "tr",
        { "data-client-order-id": o.client_order_id, "data-status": o.status },
        cell(fmtTime(o.created_ns)),
        cell(o.client_order_id, "mono"),
        cell(o.strategy || "-"),
        cell(o.symbol, "sym"),
        cell(o.side, `side-${o.side}`),
        numCell(fmtQty(o.qty)),
        cell(o.order_type),
        numCell(isNum(o.limit_price) ? fmt(o.limit_price) : "-"),
        el("td", {}, el("span", { class: `badge status-${o.status}`, text: o.status })),
        numCell(fmtQty(o.filled_qty)),
        numCell(isNum(o.avg_fill_price) ? fmt(o.avg_fill_price) : "-"),
        cell(o.reason || "", "reason"),
      ),
    ),
    "no orders match",
  );
  $("orders-count").textContent = `${rows.length} shown`;
  $("orders-count").dataset.value = String(rows.length);
  const fillRows = fills.fills || [];
  fillTable(
    "fills-table",
    fillRows.map((f) =>
      el(
        "tr",
        { "data-fill-id": f.fill_id },
        cell(fmtTime(f.ts_ns)),
        cell(f.fill_id, "mono"),
        cell(f.client_order_id, "mono"),
        cell(f.strategy || "-"),
        cell(f.symbol, "sym"),
        cell(f.side, `side-${f.side}`),
        numCell(fmtQty(f.qty)),
        numCell(fmt(f.price, 4)),
        numCell(fmt(f.fee_usd)),
      ),
    ),
    "no fills match",
  );
  $("fills-count").textContent = `${fillRows.length} shown`;
  $("fills-count").dataset.value = String(fillRows.length);
  // keep the filter in the address so that a reload or a shared link shows the same view
  const shown = new URLSearchParams(params);
  shown.delete("limit");
  const hash = `#/orders${shown.toString() ? `?${shown}` : ""}`;
  if (current === "orders" && parseHash().route === "orders" && window.location.hash !== hash) {
    history.replaceState(null, "", hash);
  }
}

function applyOrdersHash(query) {
  const params = new URLSearchParams(query);
  $("orders-search").value = params.get("q") || "";
  $("orders-status").value = params.get("status") || "";
}

// ---------------------------------------------------------------- strategies

function enabledBadge(s) {
  const [cls, text] = s.enabled === true ? ["ok", "enabled"] : s.enabled === false ? ["bad", "disabled"] : ["", "state unknown"];
  return el("span", { class: `badge ${cls}`.trim(), "data-testid": `strategy-state-${s.name}`, text });
}

function decisionBadge(signal) {
  if (signal.approved) return el("span", { class: "badge ok", text: "approved" });
  const text = signal.denied_by ? `denied: ${signal.denied_by}` : "denied";
  return el("span", { class: "badge bad", text });
}

function signalRow(signal) {
  return el(
    "tr",
    { "data-approved": String(signal.approved) },
    cell(fmtTime(signal.ts_ns)),
    cell(signal.symbol, "sym"),
    cell(signal.side || "-", `side-${signal.side}`),
    numCell(fmtQty(signal.qty)),
    el("td", {}, decisionBadge(signal)),
    cell(signal.reason || "", "reason"),
  );
}

function signalsTable(s) {
  const signals = [...(s.last_signals || [])].reverse(); // newest first
  const head = ["Time", "Symbol", "Side", "Qty", "Decision", "Reason"].map((h) => el("th", { text: h }));
  const none = el("tr", { class: "empty-row" }, el("td", { colspan: 6, text: "no signals recorded" }));
  return el(
    "table",
    { class: "data compact", "data-testid": `signals-${s.name}` },
    el("thead", {}, el("tr", {}, head)),
    el("tbody", {}, signals.length ? signals.map(signalRow) : none),
  );
}

function strategyCard(s) {
  const disable = el("button", {
    type: "button",
    class: "danger small",
    "data-testid": `disable-${s.name}`,
    "data-strategy": s.name,
    text: "Disable",
    disabled: s.enabled === false ? true : null,
  });
  disable.addEventListener("click", () => disableStrategy(s.name));
  const why = s.disabled_reason
    ? el("p", { class: "disabled-reason", "data-testid": `disabled-reason-${s.name}`, text: `disabled: ${s.disabled_reason}` })
    : null;
  return el(
    "article",
    { class: "card", "data-testid": `strategy-${s.name}`, "data-strategy": s.name, "data-enabled": String(s.enabled) },
    el("header", {}, el("h2", { text: s.name }), enabledBadge(s), el("span", { class: "kind", text: s.kind || "" }), disable),
    el("p", { class: "symbols", text: `symbols: ${(s.symbols || []).join(", ") || "-"}` }),
    why,
    el("h3", { text: "Last signals" }),
    signalsTable(s),
  );
}

function renderStrategyOptions(strategies) {
  const select = $("control-strategy");
  const current = select.value;
  select.replaceChildren(...strategies.map((s) => el("option", { value: s.name, text: s.name })));
  if (strategies.some((s) => s.name === current)) select.value = current;
}

async function refreshStrategies() {
  const body = await api("/api/strategies");
  state.strategies = body.strategies || [];
  renderStrategyOptions(state.strategies);
  return state.strategies;
}

async function loadStrategies() {
  const strategies = await refreshStrategies();
  $("strategies-list").replaceChildren(...strategies.map(strategyCard));
  $("strategies-empty").hidden = strategies.length > 0;
}

// ---------------------------------------------------------------- bench (markdown)

// Inline markdown: **bold** and `code`; links keep their text only.
function inline(text) {
  const out = [];
  const pattern = /(\*\*[^*]+\*\*|`[^`]+`|\[[^\]]+\]\([^)]*\))/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) out.push(text.slice(last, match.index));
    const token = match[0];
    if (token.startsWith("**")) out.push(el("strong", { text: token.slice(2, -2) }));
    else if (token.startsWith("`")) out.push(el("code", { text: token.slice(1, -1) }));
    else out.push(token.slice(1, token.indexOf("]")));
    last = match.index + token.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

const splitRow = (line) => line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());

function markdownTable(lines) {
  const head = splitRow(lines[0]);
  const body = lines.slice(2).map(splitRow);
  // a column whose every cell starts with a number is right-aligned
  const isNumber = (text) => /^[-+]?[\d.,]+\s*\S{0,3}(\s.*)?$/.test(text || "");
  const numeric = head.map((_, i) => body.length > 0 && body.every((r) => isNumber(r[i])));
  return el(
    "table",
    { class: "data bench-table" },
    el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, inline(h))))),
    el(
      "tbody",
      {},
      body.map((r) => el("tr", {}, r.map((c, i) => el("td", { class: numeric[i] ? "num" : null }, inline(c))))),
    ),
  );
}

export function renderMarkdown(markdown) {
  const nodes = [];
  const lines = markdown.split(/\r?\n/);
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.startsWith("```")) {
      const code = [];
      for (i += 1; i < lines.length && !lines[i].startsWith("```"); i += 1) code.push(lines[i]);
      nodes.push(el("pre", { text: code.join("\n") }));
      i += 1;
    } else if (/^#{1,6}\s/.test(line)) {
      const level = Math.min(line.match(/^#+/)[0].length + 1, 6);
      nodes.push(el(`h${level}`, {}, inline(line.replace(/^#+\s*/, ""))));
      i += 1;
    } else if (line.trim().startsWith("|") && i + 1 < lines.length && /^\s*\|?\s*:?-{3,}/.test(lines[i + 1])) {
      const block = [];
      for (; i < lines.length && lines[i].trim().startsWith("|"); i += 1) block.push(lines[i]);
      nodes.push(el("div", { class: "scroll" }, markdownTable(block)));
    } else if (/^\s*[-*]\s/.test(line)) {
      const items = [];
      for (; i < lines.length && /^\s*[-*]\s/.test(lines[i]); i += 1) {
        items.push(el("li", {}, inline(lines[i].replace(/^\s*[-*]\s/, ""))));
      }
      nodes.push(el("ul", {}, items));
    } else if (line.trim() === "") {
      i += 1;
    } else {
      const para = [];
      const startsBlock = (text) => /^(#|\||```|\s*[-*]\s)/.test(text);
      for (; i < lines.length && lines[i].trim() !== "" && !startsBlock(lines[i]); i += 1) para.push(lines[i]);
      if (para.length === 0) para.push(lines[i++]);
      nodes.push(el("p", {}, inline(para.join(" "))));
    }
  }
  return nodes;
}

function benchCaseRow(c) {
  const t = c.target || null;
  const met = t && typeof t.met === "boolean" ? (t.met ? "met" : "NOT met") : "-";
  return el(
    "tr",
    { "data-case": c.key },
    cell(c.title),
    cell(t ? t.metric : "-", "mono"),
    numCell(t && isNum(t.value) ? formatNumber(t.value) : "-"),
    numCell(t && isNum(t.limit) ? formatNumber(t.limit) : "-"),
    el("td", {}, el("span", { class: `badge ${met === "met" ? "ok" : met === "-" ? "" : "bad"}`, text: met })),
    numCell(String((c.rows || []).length)),
  );
}

async function loadBench() {
  const bench = await api("/api/bench");
  const cases = bench.cases || [];
  $("bench-unavailable").hidden = Boolean(bench.available);
  $("bench-generated").textContent = bench.generated ? `generated ${bench.generated}` : "";
  $("bench-error").hidden = !bench.error;
  $("bench-error").textContent = bench.error || "";
  fillTable("bench-cases", cases.map(benchCaseRow));
  $("bench-summary").hidden = cases.length === 0;
  const report = $("bench-report");
  report.dataset.cases = String(cases.length);
  report.replaceChildren(...(bench.markdown ? renderMarkdown(bench.markdown) : []));
  report.hidden = !bench.markdown;
}

// ---------------------------------------------------------------- control panel

function token() {
  return $("control-token").value.trim();
}

function renderControlAvailability() {
  $("control-availability").textContent = state.controlsAvailable
    ? "Commands apply at the start of the bot's next cycle."
    : "Controls are unavailable here (journal-only view or no token configured on the server).";
}

function showControlResult(status, text) {
  const out = $("control-result");
  out.dataset.status = String(status);
  out.className = status === 202 ? "ok" : "bad";
  out.textContent = text;
}

async function sendControl(path, body) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const secret = token();
  if (secret) headers.Authorization = `Bearer ${secret}`;
  showControlResult("", "sending ...");
  let response;
  try {
    response = await fetch(path, { method: "POST", headers, body: JSON.stringify(body || {}) });
  } catch (exc) {
    showControlResult(0, `request failed: ${exc.message}`);
    return;
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (response.status === 202) {
    showControlResult(202, `202 accepted: ${payload?.pending ?? "?"} command(s) wait for the next cycle`);
    scheduleRefresh();
  } else {
    const words = STATUS_WORDS[response.status] || "error";
    showControlResult(response.status, `${response.status} ${words}: ${detailOf(payload) || response.statusText}`);
  }
}

const STATUS_WORDS = { 401: "unauthorized", 403: "forbidden", 404: "not found", 422: "invalid", 503: "busy" };

function reasonBody() {
  const reason = $("control-reason").value.trim();
  return reason ? { reason } : {};
}

function disableStrategy(name) {
  if (!name) {
    showControlResult(0, "choose a strategy first");
    return;
  }
  sendControl(`/api/control/strategies/${encodeURIComponent(name)}/disable`, reasonBody());
}

function setupControls() {
  const input = $("control-token");
  input.value = sessionStorage.getItem(TOKEN_KEY) || "";
  input.addEventListener("input", () => {
    if (input.value) sessionStorage.setItem(TOKEN_KEY, input.value);
    else sessionStorage.removeItem(TOKEN_KEY);
  });
  for (const action of ["pause", "resume", "flatten"]) {
    $(`control-${action}`).addEventListener("click", () => {
      if (action === "flatten" && !window.confirm("Close every position at market in the next cycle?")) return;
      sendControl(`/api/control/${action}`, reasonBody());
    });
  }
  $("control-disable").addEventListener("click", () => disableStrategy($("control-strategy").value));
}

// ---------------------------------------------------------------- routing and refresh

const LOADERS = {
  overview: loadOverview,
  performance: loadPerformance,
  orders: loadOrders,
  strategies: loadStrategies,
  bench: loadBench,
};

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [name, query = ""] = raw.split("?");
  return { route: ROUTES.includes(name) ? name : "overview", query };
}

let current = null;
let inFlight = false;
let again = false;

// The benchmark report does not change with the bot's cycles: a cycle refreshes only the
// status bar there.
const STATIC_ROUTES = new Set(["bench"]);

async function refresh(onlyStatus = false) {
  if (onlyStatus) {
    if (!inFlight) refreshStatus().catch((exc) => showError(`could not load the status: ${exc.message}`));
    return;
  }
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  try {
    do {
      again = false;
      const route = current;
      try {
        if (route !== "overview") await refreshStatus();
        await LOADERS[route]();
        markLoaded(route);
        showError("");
      } catch (exc) {
        showError(`could not load ${route}: ${exc.message}`);
      }
    } while (again);
  } finally {
    inFlight = false;
  }
}

function scheduleRefresh() {
  refresh();
}

function navigate() {
  const { route, query } = parseHash();
  if (route === "orders" && query) applyOrdersHash(query);
  current = route;
  for (const page of document.querySelectorAll(".page")) page.hidden = page.dataset.page !== route;
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("active", link.dataset.route === route);
    if (link.dataset.route === route) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `greekfire: ${route}`;
  scheduleRefresh();
}

function setupOrdersFilter() {
  let timer = null;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(scheduleRefresh, 250);
  };
  $("orders-search").addEventListener("input", later);
  $("orders-status").addEventListener("change", scheduleRefresh);
  $("orders-limit").addEventListener("change", scheduleRefresh);
  $("orders-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh(STATIC_ROUTES.has(current));
  });
}

function setLive(stateName, text) {
  const indicator = $("live-indicator");
  indicator.dataset.state = stateName;
  indicator.textContent = text;
  indicator.className = `pill ${stateName === "open" ? "ok" : "warn"}`;
}

function setupStream() {
  if (typeof EventSource === "undefined") {
    setLive("unsupported", "live: unsupported");
    return;
  }
  const source = new EventSource("/api/stream");
  source.onopen = () => setLive("open", "live");
  source.onerror = () => setLive("reconnecting", "live: reconnecting");
  source.addEventListener("cycle", (event) => {
    let data = null;
    try {
      data = JSON.parse(event.data);
    } catch {
      data = null;
    }
    if (data && isNum(data.cycle)) {
      $("status-cycle").textContent = `cycle ${data.cycle}`;
      $("status-cycle").dataset.value = String(data.cycle);
      $("live-indicator").dataset.lastCycle = String(data.cycle);
    }
    refresh(STATIC_ROUTES.has(current));
  });
}

function start() {
  setupControls();
  setupOrdersFilter();
  window.addEventListener("hashchange", navigate);
  if (!window.location.hash) history.replaceState(null, "", "#/overview");
  navigate();
  refreshStrategies().catch(() => {});
  setupStream();
}

start();
