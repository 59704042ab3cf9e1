// The what-if view: a candidate policy (pasted or uploaded) replayed over the range of the
// filters above (POST /v1/what-if), its progress, then the live and candidate compliance of
// each group on one chart, the side-by-side table and the timers whose verdict changes.
// Self-contained (its own helpers), over the same token as the rest of the page. Needs a token
// with the policies:admin scope.
"use strict";

(() => {
  const TOKEN_KEY = "sla-report-token";
  const POLL_MS = 500;
  const PAGE = 50;
  const NS = "http://www.w3.org/2000/svg";
  const byId = (id) => document.getElementById(id);
  const view = { job: null, cursor: null, shown: 0 };

  function node(tag, attrs = {}, text, ns) {
    const n = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  const pct = (r) => (r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)}%`);
  const signed = (n) => (n > 0 ? `+${n}` : String(n));
  const signedPct = (r) => (r === null || r === undefined ? "–"
    : `${r > 0 ? "+" : ""}${(r * 100).toFixed(1)} pt`);
  const when = (t) => (t ? t.slice(0, 19).replace("T", " ") : "–");

  function say(text, isError = false) {
    const n = byId("wi-status");
    n.textContent = text;
    n.classList.toggle("error", isError);
  }

  async function call(method, path, body, accept = "application/json") {
    const headers = { Accept: accept };
    const token = localStorage.getItem(TOKEN_KEY) || "";
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.ok) return accept === "application/json" ? response.json() : response.blob();
    throw new Error(`${response.status}: ${await problemDetail(response)}`);  // app.js
  }

  function groupLabel(row, keys) {
    return keys.map((k) => (row[k] === null || row[k] === undefined ? "(none)" : row[k])).join(" · ");
  }

  // Two series on one chart: the live and the candidate compliance of each group.
  function drawChart(result) {
    const box = byId("wi-chart");
    box.replaceChildren();
    const rows = result.rows;
    if (!rows.length) {
      box.append(node("p", { class: "empty" }, "No SLA timers started in this range."));
      return;
    }
    const W = 900, H = 240, L = 44, R = 16, T = 14, B = 40;
    const plotW = W - L - R, plotH = H - T - B;
    const slot = plotW / rows.length;
    const barW = Math.max(2, Math.min(28, slot * 0.36));
    const y = (ratio) => T + plotH - ratio * plotH;
    const chart = node("svg", {
      viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Live and candidate compliance by group",
    }, undefined, NS);
    for (const p of [0, 25, 50, 75, 100]) {
      chart.append(node("line", { x1: L, x2: W - R, y1: y(p / 100), y2: y(p / 100), class: "gridline" }, undefined, NS));
      chart.append(node("text", { x: L - 6, y: y(p / 100) + 4, class: "axis", "text-anchor": "end" }, `${p}%`, NS));
    }
    const labelEvery = Math.ceil(rows.length / 12);
    const lines = { live: [], candidate: [] };
    rows.forEach((row, i) => {
      const cx = L + slot * i + slot / 2;
      const label = groupLabel(row, result.group_by);
      const group = node("g", { class: "wi-group", "data-key": label }, undefined, NS);
      group.append(node("title", {}, `${label}: live ${pct(row.live.compliance_ratio)}, ` +
        `candidate ${pct(row.candidate.compliance_ratio)}`, NS));
      ["live", "candidate"].forEach((side, j) => {
        const ratio = row[side].compliance_ratio;
        if (ratio === null || ratio === undefined) return;
        const x = cx - barW + j * barW;
        group.append(node("rect", {
          x, width: barW - 1, y: y(ratio), height: y(0) - y(ratio), class: `wi-bar ${side}`,
          "data-value": ratio,
        }, undefined, NS));
        lines[side].push(`${x + barW / 2},${y(ratio)}`);
      });
      chart.append(group);
      if (i % labelEvery === 0) {
        chart.append(node("text", { x: cx, y: H - B + 16, class: "axis", "text-anchor": "middle" }, label.slice(0, 18), NS));
      }
    });
    for (const side of ["live", "candidate"]) {
      if (lines[side].length > 1) {
        chart.append(node("polyline", { points: lines[side].join(" "), class: `wi-line ${side}` }, undefined, NS));
      }
    }
    box.append(chart);
  }

  function drawTable(result) {
    const head = byId("wi-table").querySelector("thead tr");
    const body = byId("wi-table").querySelector("tbody");
    head.replaceChildren(...result.group_by.map((k) => node("th", {}, k)),
      ...["Live f/m", "Live", "Candidate f/m", "Candidate", "Δ fulfilled", "Δ missed", "Δ compliance"]
        .map((t) => node("th", { class: "num" }, t)));
    const rowsOut = [...result.rows, { ...Object.fromEntries(result.group_by.map((k, i) => [k, i ? "" : "total"])), ...result.totals }];
    body.replaceChildren(...rowsOut.map((row) => {
      const tr = node("tr");
      for (const k of result.group_by) tr.append(node("td", {}, row[k] === null ? "(none)" : String(row[k])));
      const d = row.difference;
      for (const text of [
        `${row.live.fulfilled}/${row.live.missed}`, pct(row.live.compliance_ratio),
        `${row.candidate.fulfilled}/${row.candidate.missed}`, pct(row.candidate.compliance_ratio),
        signed(d.fulfilled), signed(d.missed), signedPct(d.compliance_ratio),
      ]) tr.append(node("td", { class: "num" }, text));
      if (d.fulfilled || d.missed) tr.classList.add("changed");
      return tr;
    }));
  }

  async function loadTickets(more = false) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (more && view.cursor) params.set("cursor", view.cursor);
    const page = await call("GET", `v1/what-if/${view.job}/tickets?${params}`);
    const body = byId("wi-tickets").querySelector("tbody");
    if (!more) { body.replaceChildren(); view.shown = 0; }
    for (const t of page.items) {
      const tr = node("tr");
      tr.append(node("td", { class: "mono" }, t.ticket_id), node("td", {}, t.metric),
        node("td", { class: "num" }, String(t.cycle)), node("td", {}, t.level || "–"));
      for (const side of ["live", "candidate"]) {
        const cell = node("td");
        cell.append(node("span", { class: `badge ${t[side] || "cancelled"}` }, t[side] || "(none)"));
        tr.append(cell, node("td", {}, when(t[`${side}_due_at`])));
      }
      body.append(tr);
    }
    view.shown += page.items.length;
    view.cursor = page.next_cursor;
    byId("wi-more").hidden = !view.cursor;
  }

  async function downloadCsv() {
    const blob = await call("GET", `v1/what-if/${view.job}/tickets?format=csv`, undefined, "text/csv");
    const link = node("a", { href: URL.createObjectURL(blob), download: "what-if-tickets.csv" });
    document.body.append(link);
    link.click();
    link.remove();
  }

  async function show(job) {
    const result = job.result;
    byId("wi-result").hidden = false;
    drawChart(result);
    drawTable(result);
    byId("wi-changed").textContent = `${result.changed_tickets} timer(s) change verdict`;
    await loadTickets();
  }

  async function follow(href) {
    for (;;) {
      const job = await call("GET", href);
      const p = job.progress;
      byId("wi-progress").value = p.fraction === null ? 0 : p.fraction;
      say(`${job.status}: ${p.events_done.toLocaleString()}` +
        `${p.events_total === null ? "" : ` / ${p.events_total.toLocaleString()}`} events`);
      if (job.status === "done") return job;
      if (job.status === "failed") throw new Error((job.error && job.error.detail) || "the job failed");
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function start(event) {
    event.preventDefault();
    byId("wi-result").hidden = true;
    byId("wi-progress").value = 0;
    say("starting…");
    const started = await call("POST", "v1/what-if", {
      policy: byId("wi-policy").value,
      from: byId("from").value,
      to: byId("to").value,
      tz: byId("tz").value.trim() || "UTC",
      group_by: byId("wi-group").value,
    });
    view.job = started.id;
    const job = await follow(started.href.replace(/^\//, ""));
    await show(job);
  }

  function guard(action) {
    return (...args) => action(...args).catch((error) => say(error.message, true));
  }

  function init() {
    byId("wi-form").addEventListener("submit", guard(start));
    byId("wi-file").addEventListener("change", guard(async () => {
      const file = byId("wi-file").files[0];
      if (file) byId("wi-policy").value = await file.text();
    }));
    byId("wi-more").addEventListener("click", guard(() => loadTickets(true)));
    byId("wi-csv").addEventListener("click", guard(downloadCsv));
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
