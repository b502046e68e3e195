"use strict";
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  const h = casip.h;
  const box = document.getElementById("bench");
  function day(iso) { return iso ? iso.slice(0, 10) : "–"; }
  function card(kpi, k) {
    const title = kpi.label + " [" + kpi.unit + "]";
    const released = kpi.released_at
      ? "released " + day(kpi.released_at) + " · ε = " + casip.fmt(kpi.epsilon, 2) + " · about " +
        casip.fmt(kpi.n_organisations, 1) + " organisations (noisy count)"
      : "not released yet";
    const meta = h("p", { class: "muted small release-meta" }, released + " · " + kpi.better + " is better");
    const c = h("section", { class: "card bench-kpi", "data-kpi": kpi.kpi }, h("h2", {}, title), meta);
    if (!kpi.shown) {
      c.append(h("p", { class: "notice hidden-kpi" }, "not shown: " + (kpi.reason || ("fewer than " + k + " organisations"))));
    }
    const plotEl = h("div", { class: "plot", role: "img", "aria-label": "Distribution of " + kpi.label });
    c.append(plotEl);
    const own = kpi.own || [];
    if (own.length) {
      c.append(h("details", {}, h("summary", {}, "Your organisation's items (" + own.length + ")"),
        h("table", { class: "list" }, h("thead", {}, h("tr", {}, h("th", {}, "Item"), h("th", { class: "num" }, kpi.unit), h("th", {}, "Standing"), h("th", {}, "Counted"))),
          h("tbody", {}, own.map(function (o) {
            return h("tr", {}, h("td", {}, o.name || ("#" + o.id)), h("td", { class: "num" }, casip.fmt(o.value, 1)),
              h("td", {}, o.band ? o.band + (o.percentile != null ? " (" + o.percentile + " %)" : "") : "–"), h("td", {}, o.counted ? "yes" : (o.flagged ? "no (flagged)" : "no (private)")));
          })))));
    }
    if (kpi.flagged_left_out) {
      const one = kpi.flagged_left_out === 1;
      c.append(h("p", { class: "muted small flagged-left-out" }, kpi.flagged_left_out + " of your tests " + (one ? "was" : "were") +
        " flagged at ingestion (e.g. a failed capacity check) and " + (one ? "is" : "are") + " left out: flagged tests do not count in the benchmark and are not placed here; the test pages give the reasons."));
    }
    box.append(c);
    return function () { draw(plotEl, kpi); };
  }
  function draw(el, kpi) {
    const traces = [];
    const q = kpi.quantiles;
    if (kpi.shown && kpi.histogram) {
      const e = kpi.histogram.edges, counts = kpi.histogram.counts;
      const xs = [], ys = [], ws = [];
      for (let i = 0; i < counts.length; i++) { xs.push((e[i] + e[i + 1]) / 2); ys.push(counts[i]); ws.push(e[i + 1] - e[i]); }
      traces.push({ type: "bar", name: "organisations per bin (noisy)", x: xs, y: ys, width: ws, marker: { color: casip.palette.series[0], opacity: 0.55, line: { color: casip.palette.series[0], width: 1 } },
        hovertemplate: "%{x}: about %{y:.1f} organisations<extra></extra>", yaxis: "y" });
    }
    if (kpi.shown && q && q.p50 != null) {
      if (q.p25 != null && q.p75 != null) {
        traces.push({ type: "box", name: "p25–p75", orientation: "h", y0: "consortium", q1: [q.p25], median: [q.p50], q3: [q.p75],
          lowerfence: [q.p25], upperfence: [q.p75], xaxis: "x", yaxis: "y2", marker: { color: "#14213d" }, fillcolor: "rgba(20,33,61,.15)", hoverinfo: "x" });
      } else {
        traces.push({ type: "scatter", mode: "markers", name: "median", x: [q.p50], y: ["consortium"], yaxis: "y2",
          marker: { color: "#14213d", size: 14, symbol: "line-ns-open", line: { width: 3 } }, hovertemplate: "median %{x:.3g}<extra></extra>" });
      }
    }
    const own = (kpi.own || []).filter(function (o) { return o.value != null; });
    if (own.length) traces.push({ type: "scatter", mode: "markers", name: "your items", x: own.map(function (o) { return o.value; }),
      y: own.map(function () { return "yours"; }), yaxis: "y2", text: own.map(function (o) { return o.name; }),
      marker: { color: casip.palette.series[1], size: 11, symbol: "diamond", line: { color: "#fff", width: 1 } }, hovertemplate: "%{text}: %{x:.3g}<extra></extra>" });
    const refs = (kpi.references || []).filter(function (o) { return o.value != null; });
    if (refs.length) traces.push({ type: "scatter", mode: "markers", name: "reference cells", x: refs.map(function (o) { return o.value; }),
      y: refs.map(function () { return "reference"; }), yaxis: "y2", text: refs.map(function (o) { return o.name; }),
      marker: { color: refs.map(function (o) { return o.reference_id === "lfp-blade" ? casip.palette.reference : casip.palette.neutral; }), size: 9, symbol: "line-ns-open", line: { width: 2 } },
      hovertemplate: "%{text}: %{x:.3g}<extra></extra>" });
    if (!traces.length) { casip.notice(el, "No data yet."); return; }
    const hasHist = kpi.shown && kpi.histogram;
    casip.plot(el, traces, {
      showlegend: false, bargap: 0.02,
      xaxis: { title: { text: kpi.unit }, gridcolor: "#eef1f4" },
      yaxis: { domain: [0, hasHist ? 0.55 : 0.05], title: { text: hasHist ? "organisations" : "" }, gridcolor: "#eef1f4", rangemode: "tozero", visible: !!hasHist },
      yaxis2: { domain: [hasHist ? 0.62 : 0.1, 1], type: "category", categoryorder: "array", categoryarray: ["reference", "yours", "consortium"] },
      margin: { l: 80, r: 20, t: 10, b: 45 },
    });
  }
  function privacyText(p) {
    return "Privacy: each release is at most ε = " + p.epsilon_per_release + " differentially private per organisation (its ε is on its card; " +
      "releases every " + p.release_every + "); budget ε = " + p.budget_epsilon + " per " + p.budget_period +
      ", spent " + casip.fmt(p.spent_epsilon, 3) + " in " + p.period + ", remaining " + casip.fmt(p.remaining_epsilon, 3) +
      ". Next release: " + day(p.next_release_at) + ". Numbers change only at a release, never when anyone writes.";
  }
  (async function () {
    const r = await casip.api("GET", "/api/benchmark");
    if (!r.ok) { casip.notice(box, casip.problemText(r), "error"); return; }
    document.getElementById("bench-privacy").textContent = privacyText(r.data.privacy);
    document.getElementById("bench-k").textContent = "A KPI is shown when its release counts at least " + r.data.k + " organisations (noisy count).";
    box.replaceChildren();
    // lay every card out first, then draw: a plot takes its container's width when drawn
    const draws = r.data.kpis.map(function (kpi) { return card(kpi, r.data.k); });
    casip.whenPlotly(function () { draws.forEach(function (d) { d(); }); });
  })();
})();
