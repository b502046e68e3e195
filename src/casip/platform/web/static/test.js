"use strict";
/* One test dataset: capacity fade, voltage curves and the cycle table.
   The API answers in SI units (Ah, Wh, s, fractions); this page picks display units by
   magnitude (µAh/mAh/Ah, s/min/h, %), shows three significant figures, and per gram / per
   area capacities when the cell's active mass / electrode area are known. Stub and incomplete
   cycles (flagged by the API) are marked in the table and left out of the plots by default. */
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  const h = casip.h;

  // ---- units and numbers ------------------------------------------------------------------
  function median(values) {
    const v = values.filter(function (x) { return typeof x === "number" && isFinite(x) && x !== 0; })
      .map(Math.abs).sort(function (a, b) { return a - b; });
    if (!v.length) return NaN;
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  }
  /** the unit (label, factor from SI) that puts the typical value between ~0.1 and 1000 */
  function scaleUnit(values, base) {
    const m = median(values);
    if (m < 1e-4) return { label: "µ" + base, factor: 1e6 };
    if (m < 1) return { label: "m" + base, factor: 1e3 };
    return { label: base, factor: 1 };
  }
  function timeUnit(values) {
    const m = median(values);
    if (!(m >= 120)) return { label: "s", factor: 1 };
    if (m < 7200) return { label: "min", factor: 1 / 60 };
    return { label: "h", factor: 1 / 3600 };
  }
  function fixed(v, digits) {
    return v.toLocaleString("en-GB", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  /** three significant figures, never in exponent notation */
  function sig3(v) {
    if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) return "–";
    if (v === 0) return "0";
    const a = Math.abs(v);
    const digits = a >= 100 ? 0 : Math.min(9, 2 - Math.floor(Math.log10(a)));
    return fixed(Number(v.toPrecision(3)), digits);
  }
  function decimals(v, digits) {
    return (typeof v === "number" && isFinite(v)) ? fixed(v, digits) : "–";
  }
  /** round axis ticks: a 1-2-5 step giving at most about six ticks over [lo, hi] */
  function roundTicks(lo, hi) {
    const span = Math.max(hi - lo, 1e-9);
    const raw = span / 6;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(function (k) { return k * p; }).find(function (s) { return s >= raw; });
    const dp = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    return { tickmode: "linear", tick0: 0, dtick: step, tickformat: "." + dp + "f" };
  }

  // ---- cell basis: absolute, per gram, per area ----------------------------------------------
  let state = null;  // {rows, cap, energy, time, mass, area, basis}
  function basisOptions(s) {
    const out = [{ value: "absolute", label: "Capacity [" + s.cap.label + "]" }];
    if (s.mass) out.push({ value: "specific", label: "Specific capacity [mAh/g]" });
    if (s.area) out.push({ value: "areal", label: "Areal capacity [mAh/cm²]" });
    return out;
  }
  /** capacity [Ah] -> the number shown for the chosen basis */
  function capValue(ah, basis) {
    if (typeof ah !== "number" || !isFinite(ah)) return null;
    if (basis === "specific") return 1000 * ah / state.mass;
    if (basis === "areal") return 1000 * ah / state.area;
    return ah * state.cap.factor;
  }
  function capTitle(basis) {
    if (basis === "specific") return "Specific capacity [mAh/g]";
    if (basis === "areal") return "Areal capacity [mAh/cm²]";
    return "Capacity [" + state.cap.label + "]";
  }

  function describeBasis(r) {
    const el = document.getElementById("cell-basis");
    if (!el) return;
    const src = function (s) { return s === "upload" ? " (given at upload)" : " (from the file)"; };
    const parts = [];
    if (r.active_mass_g) parts.push("Active mass " + sig3(r.active_mass_g * 1000) + " mg" + src(r.active_mass_source));
    if (r.electrode_area_cm2) parts.push("electrode area " + sig3(r.electrode_area_cm2) + " cm²" + src(r.electrode_area_source));
    el.textContent = parts.length
      ? parts.join(" · ") + "."
      : "Active mass and electrode area not known: give them at upload to see capacities per gram (mAh/g) and per area (mAh/cm²).";
  }

  // ---- the cycle table -----------------------------------------------------------------------
  function columns(s) {
    const cols = [{ key: "cycle_count", label: "Cycle", text: function (v) { return v == null ? "–" : String(v); } }];
    const capText = function (v) { return sig3(typeof v === "number" ? v * s.cap.factor : v); };
    cols.push({ key: "discharge_capacity_ah", label: "Discharge capacity [" + s.cap.label + "]", text: capText });
    if (s.mass) cols.push({ key: "discharge_capacity_ah", label: "Specific discharge capacity [mAh/g]", text: function (v) { return sig3(capValue(v, "specific")); } });
    if (s.area) cols.push({ key: "discharge_capacity_ah", label: "Areal discharge capacity [mAh/cm²]", text: function (v) { return sig3(capValue(v, "areal")); } });
    cols.push({ key: "charge_capacity_ah", label: "Charge capacity [" + s.cap.label + "]", text: capText });
    cols.push({ key: "coulombic_efficiency", label: "Coulombic efficiency [%]", text: function (v) { return decimals(typeof v === "number" ? 100 * v : v, 2); } });
    cols.push({ key: "energy_efficiency", label: "Energy efficiency [%]", text: function (v) { return decimals(typeof v === "number" ? 100 * v : v, 1); } });
    cols.push({ key: "discharge_energy_wh", label: "Discharge energy [" + s.energy.label + "]", text: function (v) { return sig3(typeof v === "number" ? v * s.energy.factor : v); } });
    cols.push({ key: "mean_charge_voltage_volt", label: "Mean charge voltage [V]", text: function (v) { return decimals(v, 3); } });
    cols.push({ key: "mean_discharge_voltage_volt", label: "Mean discharge voltage [V]", text: function (v) { return decimals(v, 3); } });
    cols.push({ key: "capacity_retention", label: "Capacity retention [%]", text: function (v) { return decimals(typeof v === "number" ? 100 * v : v, 1); } });
    cols.push({ key: "duration_second", label: "Duration [" + s.time.label + "]", text: function (v) { return sig3(typeof v === "number" ? v * s.time.factor : v); } });
    return cols.filter(function (c) { return s.present.indexOf(c.key) >= 0; });
  }
  function renderTable(s) {
    const table = document.getElementById("cycles-table");
    const cols = columns(s);
    table.querySelector("thead").replaceChildren(h("tr", {},
      cols.map(function (c) { return h("th", { scope: "col", class: c.key === "cycle_count" ? "" : "num" }, c.label); }),
      h("th", { scope: "col" }, "Note")));
    const body = table.querySelector("tbody");
    body.replaceChildren.apply(body, s.rows.slice(0, 2000).map(function (row) {
      const note = row.flag
        ? h("td", { class: "cycle-flag" }, h("span", { class: "badge warn", title: row.flag_reason || "" }, row.flag), " ", row.flag_reason || "")
        : h("td", {}, "");
      return h("tr", { class: row.flag ? "flagged" : null, "data-flag": row.flag || null },
        cols.map(function (c) { return h("td", { class: c.key === "cycle_count" ? "" : "num" }, c.text(row[c.key])); }), note);
    }));
  }

  // ---- capacity fade and efficiency ----------------------------------------------------------
  function renderFade(s) {
    const plotEl = document.getElementById("cycles-plot");
    const showAll = document.getElementById("show-flagged");
    const anyFull = s.rows.some(function (r) { return !r.flag; });
    const include = function (r) { return !r.flag || !anyFull || (showAll && showAll.checked); };
    const rows = s.rows.filter(include);
    const x = rows.map(function (c) { return c.cycle_count; });
    const basis = s.basis;
    const ce = rows.map(function (c) { return typeof c.coulombic_efficiency === "number" ? 100 * c.coulombic_efficiency : null; });
    const traces = [
      { type: "scatter", mode: "lines+markers", name: "Discharge", x: x, y: rows.map(function (c) { return capValue(c.discharge_capacity_ah, basis); }),
        marker: { size: 5 }, line: { color: casip.COLORS[0] }, hovertemplate: "cycle %{x}: %{y:.3r}<extra>discharge</extra>" },
      { type: "scatter", mode: "lines+markers", name: "Charge", x: x, y: rows.map(function (c) { return capValue(c.charge_capacity_ah, basis); }),
        marker: { size: 5 }, line: { color: casip.COLORS[1] }, hovertemplate: "cycle %{x}: %{y:.3r}<extra>charge</extra>" },
      { type: "scatter", mode: "lines+markers", name: "Coulombic efficiency [%]", x: x, y: ce, yaxis: "y2",
        marker: { size: 5 }, line: { color: casip.COLORS[2], dash: "dot" }, hovertemplate: "cycle %{x}: %{y:.2f} %<extra>coulombic efficiency</extra>" },
    ];
    const flagged = rows.filter(function (r) { return r.flag; });
    if (flagged.length) {
      traces.push({ type: "scatter", mode: "markers", name: "Stub / incomplete cycle", x: flagged.map(function (r) { return r.cycle_count; }),
        y: flagged.map(function (r) { return capValue(r.discharge_capacity_ah, basis); }), text: flagged.map(function (r) { return r.flag + ": " + (r.flag_reason || ""); }),
        marker: { symbol: "x", size: 11, color: (casip.palette && casip.palette.limit) || "#444444" }, hovertemplate: "cycle %{x}: %{text}<extra></extra>" });
    }
    const ceVals = ce.filter(function (v) { return v !== null && isFinite(v); });
    const y2 = { title: { text: "Coulombic efficiency [%]" }, overlaying: "y", side: "right", showgrid: false, zeroline: false };
    if (ceVals.length) {
      let lo = Math.min.apply(null, ceVals), hi = Math.max.apply(null, ceVals);
      const pad = Math.max((hi - lo) * 0.1, 0.05);
      lo -= pad; hi += pad;
      Object.assign(y2, roundTicks(lo, hi), { range: [lo, hi] });
    }
    const capVals = traces[0].y.concat(traces[1].y).filter(function (v) { return v !== null && isFinite(v); });
    const y1 = { title: { text: capTitle(basis) }, gridcolor: "#eef1f4", rangemode: "tozero" };
    if (capVals.length) Object.assign(y1, roundTicks(0, Math.max.apply(null, capVals) * 1.05));
    casip.whenPlotly(function () {
      casip.plot(plotEl, traces, { xaxis: { title: { text: "Cycle" }, gridcolor: "#eef1f4", tickformat: "d" },
        yaxis: y1, yaxis2: y2, margin: { l: 70, r: 80, t: 40, b: 50 } });
    });
  }

  // ---- voltage curves ------------------------------------------------------------------------
  let lastCurves = null;
  function renderCurves() {
    if (!lastCurves || !state) return;
    const plotEl = document.getElementById("curves-plot");
    const basis = state.basis;
    // the traces and layout are shared with the design page's measured tests (curves.js)
    const traces = casip.voltageCurveTraces(lastCurves, function (v) { return capValue(v, basis); });
    casip.whenPlotly(function () {
      casip.plot(plotEl, traces, casip.voltageCurveLayout(capTitle(basis)));
    });
  }
  async function curves(spec) {
    const plotEl = document.getElementById("curves-plot");
    const r = await casip.api("GET", "/api/tests/" + data.id + "/curves" + (spec ? "?cycles=" + encodeURIComponent(spec) : ""));
    if (!r.ok) {
      let text = casip.problemText(r);
      if (r.data && r.data.errors) text += " — " + r.data.errors.map(function (e) { return e.message + (e.expected ? " (expected " + e.expected + ")" : ""); }).join("; ");
      casip.notice(plotEl, text, "error"); return;
    }
    lastCurves = r.data;
    const input = document.getElementById("curve-cycles");
    if (!spec && input) input.value = (r.data.cycles || []).join(",");
    renderCurves();
  }

  // ---- loading -------------------------------------------------------------------------------
  async function cycles() {
    const r = await casip.api("GET", "/api/tests/" + data.id + "/cycles");
    const table = document.getElementById("cycles-table");
    const plotEl = document.getElementById("cycles-plot");
    if (!r.ok) { casip.notice(plotEl, casip.problemText(r), "error"); table.querySelector("tbody").replaceChildren(); return false; }
    const rows = r.data.cycles || [];
    const pick = function (k) { return rows.map(function (c) { return c[k]; }); };
    state = {
      rows: rows,
      present: r.data.columns || [],
      cap: scaleUnit(pick("discharge_capacity_ah").concat(pick("charge_capacity_ah")), "Ah"),
      energy: scaleUnit(pick("discharge_energy_wh"), "Wh"),
      time: timeUnit(pick("duration_second")),
      mass: r.data.active_mass_g || null,
      area: r.data.electrode_area_cm2 || null,
    };
    state.basis = state.mass ? "specific" : (state.area ? "areal" : "absolute");
    describeBasis(r.data);
    const select = document.getElementById("capacity-basis");
    if (select) {
      select.replaceChildren.apply(select, basisOptions(state).map(function (o) { return h("option", { value: o.value, selected: o.value === state.basis }, o.label); }));
      select.disabled = select.options.length < 2;
    }
    const nFlagged = rows.filter(function (c) { return c.flag; }).length;
    const toggle = document.getElementById("flagged-toggle");
    if (toggle) {
      toggle.hidden = nFlagged === 0;
      document.getElementById("flagged-count").textContent = String(nFlagged);
    }
    renderTable(state);
    renderFade(state);
    return true;
  }

  (async function () {
    if (await cycles()) curves("");
  })();
  const form = document.getElementById("curves-form");
  if (form) form.addEventListener("submit", function (ev) { ev.preventDefault(); curves(document.getElementById("curve-cycles").value.trim()); });
  const select = document.getElementById("capacity-basis");
  if (select) select.addEventListener("change", function () { if (!state) return; state.basis = select.value; renderFade(state); renderCurves(); });
  const showAll = document.getElementById("show-flagged");
  if (showAll) showAll.addEventListener("change", function () { if (state) renderFade(state); });
})();
