"use strict";
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  /** "2025-Q3" -> the middle of that quarter, as a date plotly reads ("2025-08-15") */
  function quarterDate(q) {
    const m = /^(\d{4})-?Q([1-4])$/.exec(String(q));
    if (!m) return q;
    return m[1] + "-" + ["02", "05", "08", "11"][parseInt(m[2], 10) - 1] + "-15";
  }
  function rgba(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }
  /** a stage's years ("2025-2027", "2030+") -> [first year, last year or null] */
  function stageYears(years) {
    const ys = (String(years || "").match(/\d{4}/g) || []).map(Number);
    return [ys.length ? ys[0] : null, ys.length > 1 ? ys[ys.length - 1] : null];
  }
  /** Consortium p50/p75 per quarter on a time axis; the CASIP stages as what they are: a stage
   *  with a range (stage 1: 200-300 Wh/kg) a band over its years, a stage with one target a
   *  milestone marker at the year it starts (2027, 2030), with a whisker over its years. */
  function draw(el, series, key, unit, stages) {
    const P = casip.palette;
    const pts = (series && series.points) || [];
    const x = pts.map(function (p) { return quarterDate(p.quarter); });
    const traces = [
      { type: "scatter", mode: "lines+markers", name: "upper quartile (private release)", x: x, customdata: pts.map(function (p) { return p.quarter; }),
        y: pts.map(function (p) { return p.p75; }), line: { color: P.series[0], width: 3, shape: "hv" }, marker: { size: 7, symbol: P.symbols[0] },
        connectgaps: false, hovertemplate: "%{customdata}: p75 %{y:.0f} " + unit + "<extra></extra>" },
      { type: "scatter", mode: "lines+markers", name: "median (private release)", x: x, customdata: pts.map(function (p) { return p.quarter; }),
        y: pts.map(function (p) { return p.p50; }), line: { color: P.series[1], width: 2, shape: "hv", dash: "dash" }, marker: { size: 6, symbol: P.symbols[1] },
        connectgaps: false, hovertemplate: "%{customdata}: median %{y:.0f} " + unit + "<extra></extra>" }];
    const shapes = [], annotations = [];
    const lowKey = key.replace(/_(Wh_kg|Wh_L)$/, "_low_$1");
    let lastYear = 2031, firstYear = 2025;
    stages.forEach(function (s) {
      const v = s[key], lo = s[lowKey], colour = P.stage(s.stage);
      const yrs = stageYears(s.years), y0 = yrs[0], y1 = yrs[1];
      if (v == null || y0 == null) return;
      firstYear = Math.min(firstYear, y0);
      lastYear = Math.max(lastYear, (y1 || y0) + 1);
      const short = s.stage.replace(/^CASIP\s*/i, "");
      if (lo != null) {  // a range: a band over the stage's years
        const xa = y0 + "-01-01", xb = (y1 || y0 + 1) + "-01-01";
        traces.push({ type: "scatter", mode: "lines", name: short + " (" + s.years + "): " + lo + "–" + v + " " + unit,
          x: [xa, xb, xb, xa, xa], y: [lo, lo, v, v, lo], fill: "toself", fillcolor: rgba(colour, 0.2),
          line: { color: colour, width: 1.5 }, hovertemplate: s.stage + " (" + s.years + "): " + lo + "–" + v + " " + unit + "<extra></extra>" });
        annotations.push({ xref: "x", yref: "y", x: y0 + "-01-01", xanchor: "left", y: v, yanchor: "bottom", showarrow: false,
          text: short + ": " + lo + "–" + v + " " + unit, font: { size: 11, color: colour } });
      } else {  // a milestone: a marker at its year, a whisker over the stage's years
        traces.push({ type: "scatter", mode: "markers+text", name: short + " (" + s.years + "): " + v + " " + unit,
          x: [y0 + "-01-01"], y: [v], text: [short + ": " + v], textposition: "top center", textfont: { color: colour, size: 11 },
          marker: { symbol: "diamond", size: 14, color: colour, line: { color: "#fff", width: 1 } },
          hovertemplate: s.stage + " (" + s.years + "): " + v + " " + unit + "<extra></extra>" });
        const end = y1 != null && y1 > y0 ? y1 : null;
        shapes.push({ type: "line", xref: "x", yref: "y", x0: y0 + "-01-01", x1: (end || y0 + 1) + "-01-01", y0: v, y1: v,
          line: { color: colour, width: 2, dash: end ? "solid" : "dot" } });
      }
    });
    const vals = pts.map(function (p) { return p.p75 != null ? p.p75 : p.p50; }).filter(function (v) { return v != null; })
      .concat(stages.map(function (s) { return s[key]; }).filter(function (v) { return v != null; }));
    const hi = vals.length ? Math.max.apply(null, vals) * 1.25 : 1;
    pts.forEach(function (p) { const yr = parseInt(String(p.quarter).slice(0, 4), 10); if (yr) firstYear = Math.min(firstYear, yr); });
    if (!pts.length) annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, text: "no release yet" });
    casip.plot(el, traces, { shapes: shapes, annotations: annotations, showlegend: true, height: 470,
      legend: { orientation: "h", x: 0, y: -0.12, yanchor: "top" }, margin: { l: 60, r: 20, t: 20, b: 20 },
      xaxis: { type: "date", range: [firstYear + "-01-01", lastYear + "-01-01"], dtick: "M12", tickformat: "%Y", gridcolor: "#eef1f4" },
      yaxis: { title: { text: unit }, range: [0, hi], gridcolor: "#eef1f4" } });
  }
  (async function () {
    const r = await casip.api("GET", "/api/roadmap");
    const kg = document.getElementById("road-kg"), l = document.getElementById("road-l");
    if (!r.ok) { casip.notice(kg, casip.problemText(r), "error"); return; }
    const series = {};
    (r.data.series || []).forEach(function (s) { series[s.kpi] = s; });
    const stages = r.data.stages || data.targets;
    const p = r.data.privacy;
    let note = r.data.rule ? "How: " + r.data.rule + "." : "";
    if (p) note += " Each release is ε = " + p.epsilon_per_release + " differentially private per organisation; budget ε = " +
      p.budget_epsilon + " per " + p.budget_period + " (spent " + casip.fmt(p.spent_epsilon, 3) + "). Next release: " + (p.next_release_at || "").slice(0, 10) + ".";
    document.getElementById("road-note").textContent = note;
    casip.whenPlotly(function () {
      draw(kg, series.specific_energy, "specific_energy_Wh_kg", "Wh/kg", stages);
      draw(l, series.energy_density, "energy_density_Wh_L", "Wh/L", stages);
    });
  })();
})();
