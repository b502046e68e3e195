"use strict";
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  const h = casip.h;
  const SHOW = ["cycle_count", "charge_capacity_ah", "discharge_capacity_ah", "coulombic_efficiency", "energy_efficiency",
    "charge_energy_wh", "discharge_energy_wh", "mean_discharge_voltage_volt", "capacity_retention", "duration_second"];
  async function cycles() {
    const r = await casip.api("GET", "/api/tests/" + data.id + "/cycles");
    const table = document.getElementById("cycles-table");
    const plotEl = document.getElementById("cycles-plot");
    if (!r.ok) { casip.notice(plotEl, casip.problemText(r), "error"); table.querySelector("tbody").replaceChildren(); return; }
    const rows = r.data.cycles || [];
    const cols = (r.data.columns || []).filter(function (c) { return SHOW.indexOf(c) >= 0; });
    const useCols = cols.length ? cols : (r.data.columns || []).slice(0, 8);
    table.querySelector("thead").replaceChildren(h("tr", {}, useCols.map(function (c) { return h("th", { scope: "col", class: c === "cycle_count" ? "" : "num" }, c.replace(/_/g, " ")); })));
    table.querySelector("tbody").replaceChildren.apply(table.querySelector("tbody"), rows.slice(0, 2000).map(function (row) {
      return h("tr", {}, useCols.map(function (c) {
        const v = row[c];
        return h("td", { class: c === "cycle_count" ? "" : "num" }, typeof v === "number" ? (Math.abs(v) >= 100 ? casip.fmt(v, 1) : casip.fmt(v, 4)) : (v == null ? "–" : String(v)));
      }));
    }));
    const x = rows.map(function (c) { return c.cycle_count; });
    const traces = [
      { type: "scatter", mode: "lines+markers", name: "discharge capacity [Ah]", x: x, y: rows.map(function (c) { return c.discharge_capacity_ah; }), marker: { size: 4 }, line: { color: "#1f6feb" } },
      { type: "scatter", mode: "lines+markers", name: "charge capacity [Ah]", x: x, y: rows.map(function (c) { return c.charge_capacity_ah; }), marker: { size: 4 }, line: { color: "#868e96" } },
      { type: "scatter", mode: "lines+markers", name: "coulombic efficiency [%]", x: x, yaxis: "y2", marker: { size: 4 }, line: { color: "#2b8a3e" },
        y: rows.map(function (c) { return c.coulombic_efficiency == null ? null : 100 * c.coulombic_efficiency; }) },
    ];
    casip.whenPlotly(function () {
      casip.plot(plotEl, traces, { xaxis: { title: { text: "Cycle" }, gridcolor: "#eef1f4" },
        yaxis: { title: { text: "Capacity [Ah]" }, gridcolor: "#eef1f4" },
        yaxis2: { title: { text: "Efficiency [%]" }, overlaying: "y", side: "right" }, margin: { l: 60, r: 70, t: 40, b: 50 } });
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
    const cycleList = r.data.cycles || [];
    const input = document.getElementById("curve-cycles");
    if (!spec && input) input.value = cycleList.join(",");
    const traces = (r.data.curves || []).map(function (c) {
      const i = cycleList.indexOf(c.cycle);
      return { type: "scatter", mode: "lines", name: "cycle " + c.cycle + " " + c.branch, x: c.capacity_ah, y: c.voltage_volt,
        line: { color: casip.COLORS[(i < 0 ? 0 : i) % casip.COLORS.length], dash: c.branch === "charge" ? "dot" : "solid" }, connectgaps: false };
    });
    casip.whenPlotly(function () {
      casip.plot(plotEl, traces, { xaxis: { title: { text: "Capacity [Ah]" }, gridcolor: "#eef1f4" }, yaxis: { title: { text: "Voltage [V]" }, gridcolor: "#eef1f4" } });
    });
  }
  cycles();
  curves("");
  const form = document.getElementById("curves-form");
  if (form) form.addEventListener("submit", function (ev) { ev.preventDefault(); curves(document.getElementById("curve-cycles").value.trim()); });
})();
