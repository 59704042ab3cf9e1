// The report page: the compliance report as a chart and a table, the SLA log as a table.
// Plain JavaScript over the report API's own endpoints (SPEC section 6), nothing loaded from
// elsewhere. The bearer token lives in localStorage.
"use strict";

const TOKEN_KEY = "sla-report-token";
const LOG_PAGE = 50;
const REFRESH_MS = 15000;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const state = {
  bucket: "date",
  groupSort: { key: "missed", desc: true },
  groupRows: [],
  attribute: "last",
  teamSort: { key: "missed", desc: true },
  teamRows: [],
  logSort: "-started",
  cursor: null,
  logRows: 0,
};

// -- formatting ---------------------------------------------------------------------------

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const sign = seconds < 0 ? "−" : "";
  let rest = Math.floor(Math.abs(seconds));
  const d = Math.floor(rest / 86400); rest %= 86400;
  const h = Math.floor(rest / 3600); rest %= 3600;
  const m = Math.floor(rest / 60); const s = rest % 60;
  const pad = (n) => String(n).padStart(2, "0");
  if (d) return `${sign}${d}d ${pad(h)}h`;
  if (h) return `${sign}${h}h ${pad(m)}m`;
  if (m) return `${sign}${m}m ${pad(s)}s`;
  return `${sign}${s}s`;
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? "–" : `${(ratio * 100).toFixed(1)}%`;
}

// An RFC 3339 time as the API gave it (already in the chosen zone), shown as "YYYY-MM-DD HH:MM:SS".
function moment(text) {
  return text ? text.slice(0, 19).replace("T", " ") : "–";
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function localDate(offsetDays) {
  const d = new Date();
  d.setDate(d.getDate() + offsetDays);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function status(text, isError = false) {
  const node = $("status");
  node.textContent = text;
  node.classList.toggle("error", isError);
}

// -- API ----------------------------------------------------------------------------------

function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

function splitList(value) {
  return value.split(",").map((v) => v.trim()).filter(Boolean);
}

// The shared query: range, zone and the dimension filters; list fields take comma lists.
function baseParams() {
  const params = new URLSearchParams();
  params.set("from", $("from").value);
  params.set("to", $("to").value);
  params.set("tz", $("tz").value.trim() || "UTC");
  for (const name of ["department", "agent", "level", "metric"]) {
    for (const value of splitList($(name).value)) params.append(name, value);
  }
  return params;
}

function logParams() {
  const params = baseParams();
  for (const name of ["state", "ticket", "requester"]) {
    for (const value of splitList($(name).value)) params.append(name, value);
  }
  params.set("sort", state.logSort);
  return params;
}

class ApiError extends Error {}

// What a failed response says: its problem document's invalid parameters, detail or title.
async function problemDetail(response) {
  try {
    const problem = await response.json();
    const bad = (problem.invalid_params || []).map((p) => `${p.name}: ${p.reason}`).join("; ");
    return bad || problem.detail || problem.title || response.statusText;
  } catch (_) {
    return response.statusText; // not a problem document
  }
}

async function api(path, params, accept = "application/json") {
  const headers = { Accept: accept };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(`${path}?${params}`, { headers });
  if (response.ok) return accept === "application/json" ? response.json() : response.blob();
  const detail = await problemDetail(response);
  if (response.status === 401) {
    $("token").focus();
    throw new ApiError(`Enter a valid API token (${detail}).`);
  }
  throw new ApiError(`${response.status}: ${detail}`);
}

// -- compliance: chart and totals ---------------------------------------------------------

function fillDays(rows) {
  // Day buckets with no timer are shown as empty bars, so that time reads evenly.
  if (state.bucket !== "date" || !$("from").value || !$("to").value) return rows;
  const byDate = new Map(rows.map((r) => [r.date, r]));
  const out = [];
  const day = new Date(`${$("from").value}T00:00:00Z`);
  const end = new Date(`${$("to").value}T00:00:00Z`);
  for (let i = 0; day < end && i < 400; i++) {
    const key = day.toISOString().slice(0, 10);
    out.push(byDate.get(key) || { date: key, fulfilled: 0, missed: 0, compliance_ratio: null });
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return out;
}

function drawChart(rows) {
  const box = $("chart");
  box.replaceChildren();
  const data = fillDays(rows);
  if (!data.length) {
    box.append(el("p", { class: "empty" }, "No SLA timers started in this range."));
    return;
  }
  const W = 900, H = 260, L = 44, R = 48, T = 14, B = 34;
  const plotW = W - L - R, plotH = H - T - B;
  const max = Math.max(1, ...data.map((r) => r.fulfilled + r.missed));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const slot = plotW / data.length;
  const barW = Math.max(2, Math.min(46, slot * 0.62));
  const y = (v) => T + plotH - (v / top) * plotH;
  const yr = (ratio) => T + plotH - ratio * plotH;
  const chart = svg("svg", {
    viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Fulfilled and missed SLAs over time",
  });
  for (let v = 0; v <= top; v += step) {
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "gridline" }));
    chart.append(svg("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, v));
  }
  for (const p of [0, 50, 100]) {
    chart.append(svg("text", { x: W - R + 6, y: yr(p / 100) + 4, class: "axis pct" }, `${p}%`));
  }
  const labelEvery = Math.ceil(data.length / 12);
  const points = [];
  data.forEach((row, i) => {
    const key = row[state.bucket];
    const cx = L + slot * i + slot / 2;
    const x = cx - barW / 2;
    const group = svg("g", { class: "bucket", "data-key": key });
    group.append(svg("title", {}, `${key}: ${row.fulfilled} fulfilled, ${row.missed} missed, ` +
      `compliance ${percent(row.compliance_ratio)}`));
    group.append(svg("rect", {
      x, width: barW, y: y(row.fulfilled), height: y(0) - y(row.fulfilled), class: "bar ok",
      "data-value": row.fulfilled,
    }));
    group.append(svg("rect", {
      x, width: barW, y: y(row.fulfilled + row.missed), height: y(0) - y(row.missed),
      class: "bar bad", "data-value": row.missed,
    }));
    chart.append(group);
    if (i % labelEvery === 0) {
      const label = state.bucket === "month" ? key : String(key).slice(5);
      chart.append(svg("text", { x: cx, y: H - B + 16, class: "axis", "text-anchor": "middle" }, label));
    }
    if (row.compliance_ratio !== null && row.compliance_ratio !== undefined) {
      points.push([cx, yr(row.compliance_ratio), row]);
    }
  });
  if (points.length > 1) {
    chart.append(svg("polyline", { points: points.map(([px, py]) => `${px},${py}`).join(" "), class: "ratio" }));
  }
  for (const [px, py, row] of points) {
    const dot = svg("circle", { cx: px, cy: py, r: 3.5, class: "ratio-dot" });
    dot.append(svg("title", {}, `${row[state.bucket]}: ${percent(row.compliance_ratio)}`));
    chart.append(dot);
  }
  box.append(chart);
}

function niceStep(max) {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
  return Math.max(1, 10 * mag);
}

function showTotals(totals) {
  $("kpi-ratio").textContent = percent(totals.compliance_ratio);
  $("kpi-fulfilled").textContent = totals.fulfilled;
  $("kpi-missed").textContent = totals.missed;
  $("kpi-avg").textContent = duration(totals.fulfilled_avg_seconds);
}

// -- compliance by department and agent: a client-side sortable table --------------------

function drawGroups() {
  drawSorted("groups", state.groupRows, state.groupSort, (r) => [
    el("td", {}, r.department ?? "–"), el("td", {}, r.agent ?? "–"),
    el("td", { class: "num" }, r.fulfilled), el("td", { class: "num" }, r.missed),
    ratioCell(r.compliance_ratio),
    el("td", { class: "num" }, duration(r.fulfilled_avg_seconds)),
    el("td", { class: "num" }, duration(r.missed_avg_seconds)),
  ]);
}

// A client-side sorted table: `rows` sorted by `sort`, one row of `cells(r)` each.
function drawSorted(tableId, rows, sort, cells) {
  const { key, desc } = sort;
  const sorted = [...rows].sort((a, b) => compare(a[key], b[key]) * (desc ? -1 : 1));
  const body = $(tableId).tBodies[0];
  body.replaceChildren();
  if (!sorted.length) {
    const cell = el("td", { colspan: 7, class: "empty" }, "No timers.");
    body.append(el("tr")).append(cell);
  }
  for (const r of sorted) {
    const tr = el("tr");
    tr.append(...cells(r));
    body.append(tr);
  }
  markSorted($(tableId), "key", key, desc);
}

function ratioCell(ratio) {
  const td = el("td", { class: "num ratio-cell" });
  const meter = el("span", { class: "meter" });
  const fill = el("span", { class: ratio === null ? "" : ratio >= 0.9 ? "ok" : ratio >= 0.7 ? "warn" : "bad" });
  fill.style.width = `${ratio === null ? 0 : Math.round(ratio * 100)}%`;
  meter.append(fill);
  td.append(el("span", {}, percent(ratio)), meter);
  return td;
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return typeof a === "number" ? a - b : String(a).localeCompare(String(b));
}

function markSorted(table, attr, key, desc) {
  for (const th of table.tHead.rows[0].cells) {
    const on = th.dataset[attr] === key;
    th.classList.toggle("sorted", on);
    th.setAttribute("aria-sort", on ? (desc ? "descending" : "ascending") : "none");
  }
}

// -- the team view: compliance by team (whose a missed SLA is: last holder or holder at the
// breach) next to the time each team held the timers (the ownership report) -----------------

function teamParams() {
  const params = baseParams();
  params.delete("agent"); // a team view across agents; the ownership report has no agent filter
  params.set("group_by", "team");
  return params;
}

async function loadTeams() {
  const compliance = teamParams();
  compliance.set("attribute", state.attribute);
  const [byTeam, held] = await Promise.all([
    api("v1/reports/compliance", compliance),
    api("v1/reports/ownership", teamParams()),
  ]);
  const rows = new Map();
  const empty = (team) => ({
    team, fulfilled: 0, missed: 0, compliance_ratio: null, held_seconds: null, timers: 0, breaches: 0,
  });
  for (const r of byTeam.rows) rows.set(r.team, { ...empty(r.team), ...r });
  for (const r of held.rows) rows.set(r.team, { ...(rows.get(r.team) || empty(r.team)), ...r });
  state.teamRows = [...rows.values()];
  drawTeams();
}

function drawTeams() {
  drawSorted("teams", state.teamRows, state.teamSort, (r) => [
    el("td", {}, r.team ?? "no team"),
    el("td", { class: "num" }, r.fulfilled), el("td", { class: "num" }, r.missed),
    ratioCell(r.compliance_ratio),
    el("td", { class: "num" }, duration(r.held_seconds)),
    el("td", { class: "num" }, r.timers), el("td", { class: "num" }, r.breaches),
  ]);
}

// -- SLA log: server-side sort and filters, keyset "load more" ------------------------------

function logRow(r) {
  const tr = el("tr", { class: `state-${r.state}` });
  tr.append(
    el("td", {}, r.requester ?? "–"), el("td", { class: "mono" }, r.ticket),
    el("td", {}, r.department ?? "–"), el("td", {}, r.agent ?? "–"),
    el("td", {}, r.level), el("td", {}, r.metric),
    el("td", { class: "mono" }, moment(r.sla_started)), el("td", { class: "mono" }, moment(r.due_date)),
    el("td", { class: "mono" }, moment(r.closed)),
    el("td", { class: `num mono ${r.sla_seconds < 0 ? "over" : ""}` }, duration(r.sla_seconds)),
  );
  const badge = el("td");
  badge.append(el("span", { class: `badge ${r.state}` }, r.state));
  // why a cancelled timer was cancelled (reset, cancel_condition, closed, level_change)
  if (r.cancel_reason) badge.append(" ", el("span", { class: "reason" }, r.cancel_reason));
  tr.append(badge);
  // the timer's own zone (chosen when it started): its due there, and why that zone
  const zone = el("td", { class: "mono" }, r.timezone ?? "–");
  if (r.timezone) {
    const due = r.due_local ? `due ${moment(r.due_local)} local; ` : "";
    zone.setAttribute("title", `${due}zone from the ${r.timezone_source}`);
  }
  tr.append(zone);
  return tr;
}

async function loadLog(more = false) {
  const params = logParams();
  params.set("limit", LOG_PAGE);
  if (more && state.cursor) params.set("cursor", state.cursor);
  const page = await api("v1/reports/log", params);
  const body = $("log").tBodies[0];
  if (!more) { body.replaceChildren(); state.logRows = 0; }
  for (const r of page.rows) body.append(logRow(r));
  state.logRows += page.rows.length;
  state.cursor = page.next_cursor;
  $("load-more").hidden = !page.next_cursor;
  $("log-count").textContent = `${state.logRows} timer${state.logRows === 1 ? "" : "s"} shown` +
    (page.next_cursor ? " — more match" : "");
  const desc = state.logSort.startsWith("-");
  markSorted($("log"), "sort", state.logSort.replace(/^-/, ""), desc);
}

async function downloadCsv() {
  const params = logParams();
  params.set("format", "csv");
  const blob = await api("v1/reports/log", params, "text/csv");
  const link = el("a", { href: URL.createObjectURL(blob), download: `sla-log-${$("from").value}-${$("to").value}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// -- wiring --------------------------------------------------------------------------------

async function loadAll() {
  if (!token()) {
    status("Enter the API token to see the reports.", true);
    $("token").focus();
    return;
  }
  status("Loading…");
  try {
    const overTime = baseParams();
    overTime.set("group_by", state.bucket);
    const byAgent = baseParams();
    byAgent.set("group_by", "department,agent");
    const [series, groups] = await Promise.all([
      api("v1/reports/compliance", overTime),
      api("v1/reports/compliance", byAgent),
    ]);
    drawChart(series.rows);
    showTotals(series.totals);
    state.groupRows = groups.rows;
    drawGroups();
    await loadTeams();
    await loadLog();
    status(`Updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    status(error instanceof ApiError ? error.message : `Failed: ${error.message}`, true);
  }
}

function guard(action) {
  return async () => {
    try { await action(); } catch (error) { status(error.message, true); }
  };
}

function init() {
  $("token").value = token();
  $("from").value = localDate(-6);
  $("to").value = localDate(1);
  try { $("tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (_) { /* keep UTC */ }
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(TOKEN_KEY, $("token").value.trim());
    loadAll();
  });
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); loadAll(); });
  for (const id of ["state", "ticket", "requester"]) {
    $(id).addEventListener("change", guard(() => loadLog()));
  }
  for (const button of document.querySelectorAll("[data-bucket]")) {
    button.addEventListener("click", () => {
      state.bucket = button.dataset.bucket;
      for (const b of document.querySelectorAll("[data-bucket]")) b.classList.toggle("on", b === button);
      loadAll();
    });
  }
  for (const th of $("groups").tHead.rows[0].cells) {
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      const same = state.groupSort.key === key;
      state.groupSort = { key, desc: same ? !state.groupSort.desc : th.classList.contains("num") };
      drawGroups();
    });
  }
  for (const button of document.querySelectorAll("[data-attribute]")) {
    button.addEventListener("click", guard(async () => {
      state.attribute = button.dataset.attribute;
      for (const b of document.querySelectorAll("[data-attribute]")) b.classList.toggle("on", b === button);
      await loadTeams();
    }));
  }
  for (const th of $("teams").tHead.rows[0].cells) {
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      const same = state.teamSort.key === key;
      state.teamSort = { key, desc: same ? !state.teamSort.desc : th.classList.contains("num") };
      drawTeams();
    });
  }
  for (const th of $("log").tHead.rows[0].cells) {
    if (!th.dataset.sort) continue;
    th.addEventListener("click", guard(async () => {
      const key = th.dataset.sort;
      state.logSort = state.logSort === key ? `-${key}` : key;
      state.cursor = null;
      await loadLog();
    }));
  }
  $("load-more").addEventListener("click", guard(() => loadLog(true)));
  let timer = null;
  $("auto").addEventListener("change", () => {
    clearInterval(timer);
    timer = $("auto").checked ? setInterval(loadAll, REFRESH_MS) : null;
  });
  $("csv").addEventListener("click", guard(downloadCsv));
  loadAll();
}

document.addEventListener("DOMContentLoaded", init);
