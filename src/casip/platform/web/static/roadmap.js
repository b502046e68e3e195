"use strict";
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  function draw(el, series, key, unit, stages) {
    const pts = (series && series.points) || [];
    const x = pts.map(function (p) { return p.quarter; });
    const traces = [
      { type: "scatter", mode: "lines+markers", name: "upper quartile (private release)", x: x,
        y: pts.map(function (p) { return p.p75; }), line: { color: "#1f6feb", width: 3, shape: "hv" }, marker: { size: 7 },
        connectgaps: false, hovertemplate: "%{x}: p75 %{y:.0f} " + unit + "<extra></extra>" },
      { type: "scatter", mode: "lines+markers", name: "median (private release)", x: x,
        y: pts.map(function (p) { return p.p50; }), line: { color: "#74c0fc", width: 2, shape: "hv" }, marker: { size: 6 },
        connectgaps: false, hovertemplate: "%{x}: median %{y:.0f} " + unit + "<extra></extra>" }];
    const shapes = [], annotations = [];
    const greens = ["#8ce99a", "#40c057", "#2b8a3e"];
    stages.forEach(function (s, i) {
      const v = s[key];
      if (v == null) return;
      shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: v, y1: v, line: { color: greens[i % 3], width: 2, dash: "dash" } });
      annotations.push({ xref: "paper", x: 0, xanchor: "left", y: v, yanchor: "bottom", showarrow: false,
        text: s.stage + " (" + s.years + "): " + v + " " + unit, font: { size: 11, color: "#2b8a3e" } });
    });
    const vals = pts.map(function (p) { return p.p75 != null ? p.p75 : p.p50; }).filter(function (v) { return v != null; })
      .concat(stages.map(function (s) { return s[key]; }).filter(function (v) { return v != null; }));
    const hi = vals.length ? Math.max.apply(null, vals) * 1.1 : 1;
    if (!pts.length) annotations.push({ xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false, text: "no release yet" });
    casip.plot(el, traces, { shapes: shapes, annotations: annotations, showlegend: true, legend: { orientation: "h", y: -0.25 },
      xaxis: { title: { text: "Quarter" }, type: "category" },
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
