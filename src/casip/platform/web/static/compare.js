"use strict";
(function () {
  const data = casip.pageData();
  function draw() {
    const rows = [];
    if (data.baseline && !data.designs.some(function (d) { return d.id === data.baseline.id; })) rows.push(data.baseline);
    data.designs.forEach(function (d) { rows.push(d); });
    const x = ["Specific energy [Wh/kg]", "Energy density [Wh/L]"];
    const traces = rows.map(function (d, i) {
      const lfp = d.reference_id === "lfp-blade";
      return { type: "bar", name: d.name + (lfp ? " (LFP baseline)" : ""), x: x,
        y: [d.specific_energy_Wh_kg, d.energy_density_Wh_L],
        marker: { color: lfp ? casip.palette.reference : casip.palette.color(rows.slice(0, i).filter(function (o) { return o.reference_id !== "lfp-blade"; }).length, [casip.palette.reference]) },
        text: [casip.fmt(d.specific_energy_Wh_kg), casip.fmt(d.energy_density_Wh_L)], textposition: "outside",
        hovertemplate: "%{fullData.name}<br>%{x}: %{y:.0f}<extra></extra>" };
    });
    data.targets.forEach(function (t, i) {
      traces.push({ type: "bar", name: t.stage + " target", x: x, y: [t.specific_energy_Wh_kg, t.energy_density_Wh_L],
        marker: { color: casip.palette.stage(t.stage), opacity: 0.55, line: { color: casip.palette.stage(t.stage), width: 1 }, pattern: { shape: "/" } },
        hovertemplate: t.stage + " (" + t.years + ")<br>%{x}: %{y}<extra></extra>" });
    });
    casip.plot(document.getElementById("compare-plot"), traces, {
      barmode: "group", yaxis: { title: { text: "Wh/kg or Wh/L" }, gridcolor: "#eef1f4" },
      legend: { orientation: "h", y: -0.15 }, margin: { l: 60, r: 20, t: 20, b: 40 },
    });
  }
  casip.whenPlotly(draw);
})();
