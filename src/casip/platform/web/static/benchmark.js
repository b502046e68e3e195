"use strict";
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  const h = casip.h;
  const box = document.getElementById("bench");
  function card(kpi, k) {
    const title = kpi.label + " [" + kpi.unit + "]";
    const meta = h("p", { class: "muted small" }, kpi.n_items + " items from " + kpi.n_organisations +
      " organisation" + (kpi.n_organisations === 1 ? "" : "s") + " · " + kpi.better + " is better");
    const c = h("section", { class: "card bench-kpi", "data-kpi": kpi.kpi }, h("h2", {}, title), meta);
    if (!kpi.shown) {
      c.append(h("p", { class: "notice hidden-kpi" }, "hidden: fewer than " + k + " organisations" + (kpi.reason ? " (" + kpi.reason + ")" : "")));
    }
    const plotEl = h("div", { class: "plot", role: "img", "aria-label": "Distribution of " + kpi.label });
    c.append(plotEl);
    const own = kpi.own || [];
    if (own.length) {
      c.append(h("details", {}, h("summary", {}, "Your organisation's items (" + own.length + ")"),
        h("table", { class: "list" }, h("thead", {}, h("tr", {}, h("th", {}, "Item"), h("th", { class: "num" }, kpi.unit), h("th", {}, "Standing"), h("th", {}, "Counted"))),
          h("tbody", {}, own.map(function (o) {
            return h("tr", {}, h("td", {}, o.name || ("#" + o.id)), h("td", { class: "num" }, casip.fmt(o.value, 1)),
              h("td", {}, o.band ? o.band + (o.percentile != null ? " (" + o.percentile + " %)" : "") : "–"), h("td", {}, o.counted ? "yes" : "no (private)"));
          })))));
    }
    box.append(c);
    return function () { draw(plotEl, kpi, k); };
  }
  function draw(el, kpi, k) {
    const traces = [];
    const q = kpi.quantiles;
    const annotations = [];
    if (kpi.shown && kpi.histogram) {
      const e = kpi.histogram.edges, counts = kpi.histogram.counts;
      const xs = [], ys = [], ws = [], hidden = [];
      for (let i = 0; i < counts.length; i++) {
        if (counts[i] === null) { hidden.push((e[i] + e[i + 1]) / 2); continue; }
        xs.push((e[i] + e[i + 1]) / 2); ys.push(counts[i]); ws.push(e[i + 1] - e[i]);
      }
      traces.push({ type: "bar", name: "consortium (weighted count)", x: xs, y: ys, width: ws, marker: { color: "rgba(31,111,235,.55)", line: { color: "#1f6feb", width: 1 } },
        hovertemplate: "%{x}: %{y:.3g}<extra></extra>", yaxis: "y" });
      if (hidden.length) traces.push({ type: "scatter", mode: "text", name: "bin hidden (< " + k + " organisations)", x: hidden, y: hidden.map(function () { return 0; }),
        text: hidden.map(function () { return "hidden"; }), textposition: "top center", textfont: { color: "#868e96", size: 10 }, hoverinfo: "name", yaxis: "y" });
    }
    if (kpi.shown && q) {
      traces.push({ type: "box", name: "p10–p90", orientation: "h", y0: "consortium", q1: [q.p25], median: [q.p50], q3: [q.p75],
        lowerfence: [q.p10], upperfence: [q.p90], xaxis: "x", yaxis: "y2", marker: { color: "#14213d" }, fillcolor: "rgba(20,33,61,.15)", hoverinfo: "x" });
    }
    const own = (kpi.own || []).filter(function (o) { return o.value != null; });
    if (own.length) traces.push({ type: "scatter", mode: "markers", name: "your items", x: own.map(function (o) { return o.value; }),
      y: own.map(function () { return "yours"; }), yaxis: "y2", text: own.map(function (o) { return o.name; }),
      marker: { color: "#d9480f", size: 11, symbol: "diamond", line: { color: "#fff", width: 1 } }, hovertemplate: "%{text}: %{x:.3g}<extra></extra>" });
    const refs = (kpi.references || []).filter(function (o) { return o.value != null; });
    if (refs.length) traces.push({ type: "scatter", mode: "markers", name: "reference cells", x: refs.map(function (o) { return o.value; }),
      y: refs.map(function () { return "reference"; }), yaxis: "y2", text: refs.map(function (o) { return o.name; }),
      marker: { color: refs.map(function (o) { return o.reference_id === "lfp-blade" ? "#e67700" : "#868e96"; }), size: 9, symbol: "line-ns-open", line: { width: 2 } },
      hovertemplate: "%{text}: %{x:.3g}<extra></extra>" });
    if (!traces.length) { casip.notice(el, "No data yet."); return; }
    casip.plot(el, traces, {
      showlegend: false, bargap: 0.02,
      xaxis: { title: { text: kpi.unit }, gridcolor: "#eef1f4" },
      yaxis: { domain: [0, 0.55], title: { text: "weight" }, gridcolor: "#eef1f4", rangemode: "tozero" },
      yaxis2: { domain: [0.62, 1], type: "category", categoryorder: "array", categoryarray: ["reference", "yours", "consortium"] },
      annotations: annotations, margin: { l: 80, r: 20, t: 10, b: 45 },
    });
  }
  (async function () {
    const r = await casip.api("GET", "/api/benchmark");
    if (!r.ok) { casip.notice(box, casip.problemText(r), "error"); return; }
    document.getElementById("bench-k").textContent = "k = " + r.data.k + ": a distribution is shown only when at least " + r.data.k + " organisations contribute.";
    box.replaceChildren();
    // lay every card out first, then draw: a plot takes its container's width when drawn
    const draws = r.data.kpis.map(function (kpi) { return card(kpi, r.data.k); });
    casip.whenPlotly(function () { draws.forEach(function (d) { d(); }); });
  })();
})();
