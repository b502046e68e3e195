"use strict";
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  const h = casip.h;
  const tbody = document.querySelector("#jobs-table tbody");
  const errBox = document.getElementById("jobs-error");
  const ACTIVE = ["queued", "running"];
  let timer = null;
  const query = new URLSearchParams(window.location.search);
  const wanted = query.get("job");
  let shownResult = null;
  let wantedLooked = false;
  /** the design a job or result was made from: its name and page where the user may read it */
  function designCell(id, name) {
    if (id == null) return "–";
    if (name) return h("a", { href: "/designs/" + encodeURIComponent(id) }, name);
    return h("span", { class: "muted", title: "deleted, or no longer shared with you" }, "design " + id + " (not readable)");
  }

  function row(j) {
    const p = j.params || {};
    const result = j.status === "done" && j.result_id != null
      ? h("button", { type: "button", class: "link", onclick: function () { showResult(j); } }, "show " + (j.result_kind || "result"))
      : (j.error ? h("span", { class: "field-error", title: j.error }, j.error.split("\n")[0].slice(0, 120)) : "");
    return h("tr", { id: "job-" + j.id },
      h("td", {}, "#" + j.id), h("td", {}, j.kind.replace(/_/g, " ")),
      h("td", {}, designCell(p.design_id, j.design_name)),
      h("td", {}, h("span", { class: "status " + j.status }, j.status)),
      h("td", {}, h("progress", { max: "1", value: String(j.progress || 0), "aria-label": "progress of job " + j.id }),
        " " + Math.round(100 * (j.progress || 0)) + " %"),
      h("td", {}, j.message || ""), h("td", {}, result));
  }
  async function refresh() {
    const r = await casip.api("GET", "/api/jobs?limit=50");
    if (!r.ok) { errBox.hidden = false; errBox.textContent = casip.problemText(r); return; }
    const items = Array.isArray(r.data) ? r.data : (r.data.items || []);
    if (!items.length) tbody.replaceChildren(h("tr", {}, h("td", { colspan: "7", class: "muted" },
      data.can_create ? "No jobs yet: start one from a design's page." : "No jobs of your organisation.")));
    else tbody.replaceChildren.apply(tbody, items.map(row));
    if (wanted && !shownResult) {
      const j = items.find(function (x) { return String(x.id) === wanted && x.status === "done"; });
      if (j) showResult(j);
      else if (!wantedLooked && !items.some(function (x) { return String(x.id) === wanted; })) {
        wantedLooked = true;  // an older job, beyond the listed ones
        const one = await casip.api("GET", "/api/jobs/" + encodeURIComponent(wanted));
        if (one.ok && one.data.status === "done") showResult(one.data);
      }
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
    // the design the result was made from (readable: a result is readable only with its design)
    const from = document.getElementById("result-design");
    if (from) from.replaceChildren(d.design_id != null
      ? h("span", {}, "Design: ", designCell(d.design_id, j.design_name || (d.name || "").split(" — ")[0] || ("design " + d.design_id)))
      : "");
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
      const lim = res.limits || {};
      if (res.min_anode_potential_V != null && lim.min_anode_potential_V != null)
        facts.push(["Lowest anode potential", casip.fmt(1000 * res.min_anode_potential_V, 0) + " mV vs Li (plating limit " + casip.fmt(1000 * lim.min_anode_potential_V, 0) + " mV)"]);
      if (res.critical_current_density_mA_cm2 != null)
        facts.push(["Peak current density", casip.fmt(res.max_current_density_mA_cm2, 2) + " mA/cm² (CCD " + casip.fmt(res.critical_current_density_mA_cm2, 2) + " mA/cm²)"]);
      summary.replaceChildren(h("p", {}, facts.map(function (f) { return h("span", {}, h("strong", {}, f[0] + ": "), f[1] + "  "); })));
      casip.whenPlotly(function () { drawCharge(plotEl, res); });
    }
    card.scrollIntoView({ behavior: "smooth" });
  }
  /** A fast-charge result (casip.platform.runs.charge_result): stacked panels on one time axis,
   *  each quantity a limit applies to drawn against that limit (dashed, labelled), the binding
   *  one first and marked; then the charge current and the state of charge in %. */
  function drawCharge(plotEl, res) {
    const P = casip.palette, hist = res.history || {}, lim = res.limits || {}, t = hist.time_min || [];
    const binding = res.binding_limit || "none";
    const some = function (ys) { return (ys || []).some(function (v) { return v != null; }); };
    const scale = function (ys, k) { return (ys || []).map(function (v) { return v == null ? null : v * k; }); };
    const panels = [];
    panels.push({ limit: "upper voltage", title: "Voltage [V]", y: hist.voltage_V,
      value: lim.upper_voltage_V, label: "upper voltage limit " + casip.fmt(lim.upper_voltage_V, 2) + " V" });
    if (some(hist.anode_potential_V)) {
      panels.push({ limit: "lithium plating (anode potential)", title: "Anode potential vs Li [mV]",
        y: scale(hist.anode_potential_V, 1000), value: lim.min_anode_potential_V == null ? null : 1000 * lim.min_anode_potential_V,
        label: "plating limit " + casip.fmt(1000 * (lim.min_anode_potential_V || 0), 0) + " mV" });
    }
    const ccd = lim.critical_current_density_mA_cm2;
    if (ccd != null && res.area_cm2) {
      panels.push({ limit: "critical current density", title: "Current density [mA/cm²]",
        y: scale(hist.current_A, 1000 / res.area_cm2), value: ccd, label: "CCD " + casip.fmt(ccd, 2) + " mA/cm²" });
    } else if (res.capacity_Ah) {
      panels.push({ limit: "current", title: "Charge current [C]", y: scale(hist.current_A, 1 / res.capacity_Ah), zero: true });
    } else {
      panels.push({ limit: "current", title: "Charge current [A]", y: hist.current_A, zero: true });
    }
    if (lim.max_temperature_C != null && some(hist.temperature_C)) {
      panels.push({ limit: "temperature", title: "Temperature [°C]", y: hist.temperature_C,
        value: lim.max_temperature_C, label: "limit " + casip.fmt(lim.max_temperature_C, 0) + " °C" });
    }
    // the binding quantity on top, so the eye meets it first
    panels.sort(function (a, b) { return (b.limit === binding) - (a.limit === binding); });
    const socs = scale(hist.soc, 100).filter(function (v) { return v != null; });
    const lo = socs.length ? Math.max(0, Math.floor(Math.min.apply(null, socs) / 10) * 10) : 0;
    const hi = socs.length ? Math.min(100, Math.ceil(Math.max.apply(null, socs) / 10) * 10) : 100;
    panels.push({ limit: "soc", title: "State of charge [%]", y: scale(hist.soc, 100), range: [lo, hi], dtick: hi - lo > 50 ? 20 : 10 });
    const n = panels.length, gap = 0.04, hgt = (1 - gap * (n - 1)) / n;
    const traces = [], shapes = [], annotations = [];
    const layout = { height: 150 * n + 90, showlegend: false, margin: { l: 70, r: 20, t: 20, b: 50 },
      xaxis: { title: { text: "Time [min]" }, gridcolor: "#eef1f4", anchor: "y" + (n > 1 ? n : "") } };
    panels.forEach(function (p, i) {
      const ax = i === 0 ? "y" : "y" + (i + 1), key = i === 0 ? "yaxis" : "yaxis" + (i + 1);
      const top = 1 - i * (hgt + gap), binds = p.limit === binding;
      traces.push({ type: "scatter", mode: "lines", name: p.title.replace(/ \[.*$/, ""), x: t, y: p.y, xaxis: "x", yaxis: ax,
        line: { color: binds ? P.series[4] : P.series[0], width: binds ? 2.5 : 1.8 },
        hovertemplate: "%{x:.1f} min: %{y:.3~g}<extra>" + p.title + "</extra>" });
      layout[key] = { domain: [top - hgt, top], gridcolor: "#eef1f4", zeroline: false,
        title: { text: p.title.replace(" [", "<br>["), font: { size: 12 } } };
      if (p.range) Object.assign(layout[key], { range: p.range, dtick: p.dtick });
      if (p.zero) layout[key].rangemode = "tozero";
      if (p.value != null) {
        shapes.push({ type: "line", xref: "x domain", x0: 0, x1: 1, yref: ax, y0: p.value, y1: p.value,
          line: { color: P.limit, dash: "dash", width: 1.5 } });
        annotations.push({ xref: "x domain", x: 1, yref: ax, y: p.value, xanchor: "right", yanchor: "bottom",
          showarrow: false, text: p.label + (binds ? " — binding" : ""), font: { size: 11, color: binds ? P.series[4] : P.limit } });
      }
    });
    layout.shapes = shapes;
    layout.annotations = annotations;
    casip.plot(plotEl, traces, layout);
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
  // a result opened from a design's page: /simulations?simulation=<id> or ?lifetime=<id>
  ["simulation", "lifetime"].forEach(function (kind) {
    const id = query.get(kind);
    if (id && /^\d+$/.test(id)) showResult({ id: kind + "-" + id, result_kind: kind, result_id: id });
  });
  refresh();
})();
