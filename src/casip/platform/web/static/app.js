/* CASIP web app: shared helpers (no framework, no build step). */
"use strict";
window.casip = (function () {
  function csrf() {
    const m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }
  /** fetch JSON from the API; resolves to {ok, status, data}; never throws on HTTP errors */
  async function api(method, url, body) {
    const opts = { method: method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf();
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(url, opts);
    } catch (e) {
      return { ok: false, status: 0, data: { detail: "network error: " + e.message } };
    }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data: data };
  }
  /** create an element: h("td", {class: "num"}, "text", child, ...) (text is never parsed) */
  function h(tag, attrs) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const k of Object.keys(attrs)) {
        const v = attrs[k];
        if (v === undefined || v === null || v === false) continue;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? "" : v);
      }
    }
    for (let i = 2; i < arguments.length; i++) {
      const c = arguments[i];
      if (c === undefined || c === null || c === false) continue;
      if (Array.isArray(c)) c.forEach(function (x) { if (x != null) el.append(x); });
      else el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }
  function pageData() {
    const el = document.getElementById("page-data");
    return el ? JSON.parse(el.textContent) : {};
  }
  function fmt(v, digits) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
    if (typeof v !== "number") return String(v);
    return v.toLocaleString("en-GB", { maximumFractionDigits: digits === undefined ? 0 : digits,
      minimumFractionDigits: 0 });
  }
  function notice(el, text, kind) {
    el.replaceChildren(h("p", { class: "notice " + (kind || "") }, text));
  }
  function problemText(res) {
    const d = res.data || {};
    if (res.status === 404 && !d.detail) return "not available on this server";
    return (d.title ? d.title + ": " : "") + (d.detail || ("HTTP " + res.status));
  }
  /** a Plotly chart with the app's look; shows a message when Plotly is missing */
  function plot(el, traces, layout, config) {
    if (!window.Plotly) { notice(el, "Plot library not loaded.", "error"); return; }
    const base = {
      margin: { l: 60, r: 20, t: 40, b: 50 },
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#fff",
      font: { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 13, color: "#1d2733" },
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
      hoverlabel: { namelength: -1 },
      colorway: palette.series,
    };
    const merged = Object.assign(base, layout || {});
    return Plotly.newPlot(el, traces, merged,
      Object.assign({ responsive: true, displaylogo: false }, config || {}));
  }
  /** poll a job until it ends; onUpdate(job) after each answer */
  function pollJob(id, onUpdate, intervalMs) {
    let stopped = false;
    async function tick() {
      if (stopped) return;
      const r = await api("GET", "/api/jobs/" + id);
      if (!r.ok) { onUpdate(null, r); return; }
      onUpdate(r.data, r);
      if (["done", "failed", "cancelled"].indexOf(r.data.status) < 0) setTimeout(tick, intervalMs || 1000);
    }
    tick();
    return function () { stopped = true; };
  }
  function whenPlotly(fn) {
    if (window.Plotly) fn();
    else window.addEventListener("load", fn);
  }
  /** the one chart palette, twin of casip/palette.py (a test keeps the two equal):
   *  Okabe & Ito (2008), "Color Universal Design", colour-blind safe. series: in order;
   *  reference: the LFP baseline; neutral: de-emphasised; limit: cut-offs; stages: stage 1-3 */
  const palette = {
    series: ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#F0E442"],
    reference: "#000000", neutral: "#999999", limit: "#444444",
    stages: ["#D55E00", "#CC79A7", "#56B4E9"],
    symbols: ["circle", "square", "triangle-up", "diamond", "triangle-down", "cross", "x", "star"],
    dashes: ["solid", "dash", "dot", "dashdot"],
    /** colour of the i-th series, skipping colours given in `exclude` (fixed roles) */
    color: function (i, exclude) {
      const free = palette.series.filter(function (c) { return (exclude || []).indexOf(c) < 0; });
      return free[i % free.length];
    },
    /** dash of the i-th line: 0-3 solid, 4-7 dashed, ... (as casip.palette.plotly_dash) */
    dash: function (i) { return palette.dashes[Math.floor(i / 4) % palette.dashes.length]; },
    /** colour of a roadmap stage by its number ("CASIP stage 2" -> stages[1]) */
    stage: function (label) {
      const m = /stage\s*(\d+)/i.exec(String(label || ""));
      const n = m ? parseInt(m[1], 10) : 0;
      return n >= 1 && n <= palette.stages.length ? palette.stages[n - 1] : palette.neutral;
    },
  };
  const COLORS = palette.series;
  return { csrf, api, h, pageData, fmt, notice, problemText, plot, pollJob, whenPlotly, COLORS, palette };
})();
