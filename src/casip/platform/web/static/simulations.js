"use strict";
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  const h = casip.h;
  const tbody = document.querySelector("#jobs-table tbody");
  const errBox = document.getElementById("jobs-error");
  const ACTIVE = ["queued", "running"];
  let timer = null;
  const wanted = new URLSearchParams(window.location.search).get("job");
  let shownResult = null;

  function row(j) {
    const p = j.params || {};
    const result = j.status === "done" && j.result_id != null
      ? h("button", { type: "button", class: "link", onclick: function () { showResult(j); } }, "show " + (j.result_kind || "result"))
      : (j.error ? h("span", { class: "field-error", title: j.error }, j.error.split("\n")[0].slice(0, 120)) : "");
    return h("tr", { id: "job-" + j.id },
      h("td", {}, "#" + j.id), h("td", {}, j.kind.replace(/_/g, " ")),
      h("td", {}, p.design_id != null ? h("a", { href: "/designs/" + p.design_id }, "design " + p.design_id) : "–"),
      h("td", {}, h("span", { class: "status " + j.status }, j.status)),
      h("td", {}, h("progress", { max: "1", value: String(j.progress || 0), "aria-label": "progress of job " + j.id }),
        " " + Math.round(100 * (j.progress || 0)) + " %"),
      h("td", {}, j.message || ""), h("td", {}, result));
  }
  async function refresh() {
    const r = await casip.api("GET", "/api/jobs?limit=50");
    if (!r.ok) { errBox.hidden = false; errBox.textContent = casip.problemText(r); return; }
    const items = Array.isArray(r.data) ? r.data : (r.data.items || []);
    if (!items.length) tbody.replaceChildren(h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No jobs yet: start one from a design's page.")));
    else tbody.replaceChildren.apply(tbody, items.map(row));
    if (wanted && !shownResult) {
      const j = items.find(function (x) { return String(x.id) === wanted && x.status === "done"; });
      if (j) showResult(j);
    }
    clearTimeout(timer);
    if (items.some(function (j) { return ACTIVE.indexOf(j.status) >= 0; })) timer = setTimeout(refresh, 1500);
  }
  async function showResult(j) {
    shownResult = j.id;
    const card = document.getElementById("result-card");
    const summary = document.getElementById("result-summary");
    const plotEl = document.getElementById("result-plot");
    card.hidden = false;
    if (j.result_kind === "study") { showStudy(j, summary, plotEl, card); return; }
    const url = j.result_kind === "lifetime" ? "/api/lifetimes/" + j.result_id : "/api/simulations/" + j.result_id;
    const r = await casip.api("GET", url);
    if (!r.ok) { casip.notice(summary, casip.problemText(r), "error"); return; }
    const d = r.data, res = d.result || {};
    document.getElementById("result-title").textContent = d.name || "Result";
    const facts = [];
    if (j.result_kind === "lifetime") {
      facts.push(["Years to 80 %", casip.fmt(d.years_to_80, 1)], ["Cycles to 80 %", casip.fmt(d.cycles_to_80)],
        ["Model", d.model || "–"]);
      summary.replaceChildren(h("p", {}, facts.map(function (f) { return h("span", {}, h("strong", {}, f[0] + ": "), f[1] + "  "); })));
      const s = res.series || {};
      casip.whenPlotly(function () {
        casip.plot(plotEl, [{ type: "scatter", mode: "lines", name: "capacity", x: s.t_years, y: (s.capacity_rel || []).map(function (v) { return v == null ? null : 100 * v; }),
          line: { color: "#1f6feb", width: 2.5 } }], {
          xaxis: { title: { text: "Time [years]" }, gridcolor: "#eef1f4" },
          yaxis: { title: { text: "Capacity [% of initial]" }, gridcolor: "#eef1f4" },
          shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 80, y1: 80, line: { dash: "dash", color: "#c92a2a" } }],
        });
      });
    } else if (d.kind === "rate_capability") {
      const curves = res.curves || {};
      summary.replaceChildren(h("p", { class: "muted" }, "Discharge curves at each C-rate."));
      casip.whenPlotly(function () {
        casip.plot(plotEl, Object.keys(curves).map(function (k, i) {
          return { type: "scatter", mode: "lines", name: k, x: curves[k].capacity_Ah, y: curves[k].voltage_V, line: { color: casip.COLORS[i % 8] } };
        }), { xaxis: { title: { text: "Capacity [Ah]" } }, yaxis: { title: { text: "Voltage [V]" } } });
      });
    } else {
      facts.push(["10-80 % charge time", casip.fmt(d.charge_time_min, 1) + " min"], ["C-rate", casip.fmt(res.c_rate, 2) + " C"],
        ["Binding limit", res.binding_limit || "–"]);
      summary.replaceChildren(h("p", {}, facts.map(function (f) { return h("span", {}, h("strong", {}, f[0] + ": "), f[1] + "  "); })));
      const hist = res.history || {};
      casip.whenPlotly(function () {
        casip.plot(plotEl, [
          { type: "scatter", mode: "lines", name: "voltage", x: hist.time_min, y: hist.voltage_V, line: { color: "#1f6feb" } },
          { type: "scatter", mode: "lines", name: "state of charge", x: hist.time_min, y: hist.soc, yaxis: "y2", line: { color: "#2b8a3e", dash: "dot" } },
        ], { xaxis: { title: { text: "Time [min]" }, gridcolor: "#eef1f4" }, yaxis: { title: { text: "Voltage [V]" } },
          yaxis2: { title: { text: "State of charge" }, overlaying: "y", side: "right", range: [0, 1] },
          margin: { l: 60, r: 70, t: 40, b: 50 } });
      });
    }
    card.scrollIntoView({ behavior: "smooth" });
  }
  async function showStudy(j, summary, plotEl, card) {
    const r = await casip.api("GET", "/api/studies/" + j.id);
    if (!r.ok) { casip.notice(summary, casip.problemText(r), "error"); return; }
    const res = r.data.result || {};
    document.getElementById("result-title").textContent = "Study: " + (res.name || ("#" + j.id));
    const objectives = Object.keys(res.objectives || {});
    const front = res.pareto || [];
    summary.replaceChildren(h("p", {},
      h("span", {}, h("strong", {}, "Points: "), String(res.points) + "  "),
      h("span", {}, h("strong", {}, "Feasible: "), String(res.feasible) + "  "),
      h("span", {}, h("strong", {}, "Pareto front: "), String(front.length) + " designs (" +
        objectives.map(function (o) { return o + " " + res.objectives[o]; }).join(", ") + ")")));
    if (objectives.length >= 2) {
      const x = objectives[0], y = objectives[1];
      casip.whenPlotly(function () {
        casip.plot(plotEl, [{ type: "scatter", mode: "markers", name: "Pareto front",
          x: front.map(function (p) { return p[x]; }), y: front.map(function (p) { return p[y]; }),
          marker: { color: "#1f6feb", size: 9 } }],
          { xaxis: { title: { text: x } }, yaxis: { title: { text: y } } });
      });
    }
    card.scrollIntoView({ behavior: "smooth" });
  }
  refresh();
})();
