"use strict";
(function () {
  const data = casip.pageData();
  const el = document.getElementById("landscape");
  function draw() {
    const groups = [
      { name: "LFP baseline", test: function (p) { return p.ref === "lfp-blade"; },
        marker: { color: "#e67700", size: 16, symbol: "star", line: { color: "#7a3d00", width: 1 } } },
      { name: "Reference cells", test: function (p) { return p.ref && p.ref !== "lfp-blade"; },
        marker: { color: "#14213d", size: 12, symbol: "diamond" } },
      { name: "Your organisation", test: function (p) { return !p.ref && p.own; },
        marker: { color: "#1f6feb", size: 8, opacity: 0.85 } },
      { name: "Consortium (shared)", test: function (p) { return !p.ref && !p.own; },
        marker: { color: "#868e96", size: 7, opacity: 0.6 } },
    ];
    const traces = groups.map(function (g) {
      const pts = data.points.filter(function (p) { return g.test(p) && p.wh_kg != null && p.wh_l != null; });
      return {
        type: "scattergl", mode: g.name === "Reference cells" || g.name === "LFP baseline" ? "markers+text" : "markers",
        name: g.name, x: pts.map(function (p) { return p.wh_l; }), y: pts.map(function (p) { return p.wh_kg; }),
        text: pts.map(function (p) { return p.name; }), customdata: pts.map(function (p) { return p.id; }),
        textposition: "top center", textfont: { size: 10 },
        hovertemplate: "%{text}<br>%{y:.0f} Wh/kg · %{x:.0f} Wh/L<extra></extra>", marker: g.marker,
      };
    }).filter(function (t) { return t.x.length; });
    // label the reference cells by their short name (before the parenthesis); hover: full name
    traces.forEach(function (t) {
      t.hovertext = t.text;
      t.hovertemplate = "%{hovertext}<br>%{y:.0f} Wh/kg · %{x:.0f} Wh/L<extra></extra>";
      if (t.mode === "markers+text") t.text = t.text.map(function (s) { return s.split(" (")[0]; });
    });
    const shapes = [], annotations = [];
    const fills = ["rgba(43,138,62,0.07)", "rgba(43,138,62,0.12)", "rgba(43,138,62,0.18)"];
    data.targets.forEach(function (t, i) {
      if (t.energy_density_Wh_L) {
        shapes.push({ type: "rect", xref: "x", yref: "y", x0: t.energy_density_Wh_L, x1: 1400,
          y0: t.specific_energy_Wh_kg, y1: 650, fillcolor: fills[i % 3], line: { width: 1, color: "rgba(43,138,62,.5)", dash: "dot" } });
      } else {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: t.specific_energy_Wh_kg,
          y1: t.specific_energy_Wh_kg, line: { color: "rgba(43,138,62,.7)", dash: "dash", width: 1.5 } });
      }
      annotations.push({ xref: "paper", x: 0.005, y: t.specific_energy_Wh_kg, yref: "y", xanchor: "left",
        yanchor: "bottom", showarrow: false, text: t.stage + " (" + t.years + ")", font: { size: 11, color: "#2b8a3e" } });
    });
    casip.plot(el, traces, {
      xaxis: { title: { text: "Energy density [Wh/L]" }, range: [200, 1300], gridcolor: "#eef1f4" },
      yaxis: { title: { text: "Specific energy [Wh/kg]" }, range: [100, 600], gridcolor: "#eef1f4" },
      shapes: shapes, annotations: annotations, margin: { l: 70, r: 20, t: 10, b: 60 },
    });
    el.on && el.on("plotly_click", function (ev) {
      const id = ev.points && ev.points[0] && ev.points[0].customdata;
      if (id) window.location.href = "/designs/" + encodeURIComponent(id);
    });
  }
  casip.whenPlotly(draw);
})();
