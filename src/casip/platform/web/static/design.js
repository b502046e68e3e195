"use strict";
(function () {
  const data = casip.pageData();
  const h = casip.h;
  /** horizontal bars of a breakdown, largest on top, each labelled in full with its value and
   *  share (labels outside the bars: the axis leaves room and does not clip them) */
  function bars(el, obj, unit, opts) {
    opts = opts || {};
    const items = Object.keys(obj).map(function (k) { return [k.replace(/_/g, " "), obj[k]]; })
      .filter(function (kv) { return typeof kv[1] === "number" && kv[1] > 0; })
      .sort(function (a, b) { return a[1] - b[1]; });
    if (!items.length) { casip.notice(el, opts.empty || "No breakdown in this design's results."); return; }
    const total = items.reduce(function (s, kv) { return s + kv[1]; }, 0);
    const max = items[items.length - 1][1];
    function value(v) { return v >= 100 ? casip.fmt(v) : casip.fmt(v, v >= 10 ? 1 : 2); }
    const labels = items.map(function (kv) {
      const share = (100 * kv[1] / total).toFixed(1) + " %";
      const shown = unit === "$" ? "$" + value(kv[1]) : value(kv[1]) + " " + unit;
      return opts.share === false ? shown : shown + " · " + share;
    });
    const height = Math.max(260, 26 * items.length + 90);
    el.style.height = height + "px";
    casip.plot(el, [{ type: "bar", orientation: "h", y: items.map(function (kv) { return kv[0]; }),
      x: items.map(function (kv) { return kv[1]; }), marker: { color: opts.color || casip.palette.series[0] },
      text: labels, texttemplate: "%{text}", textposition: "outside", cliponaxis: false,
      textfont: { size: 12 },
      hovertemplate: "%{y}: %{text}<extra></extra>" }],
      { height: height, xaxis: { title: { text: opts.title || unit }, gridcolor: "#eef1f4", range: [0, max * 1.45],
        automargin: true }, yaxis: { automargin: true },
        margin: { l: 10, r: 20, t: 10, b: 45 }, showlegend: false });
  }
  casip.whenPlotly(function () {
    bars(document.getElementById("mass-plot"), data.mass, "g", { title: "mass [g]" });
    bars(document.getElementById("volume-plot"), data.volume || {}, "cm³",
      { title: "volume [cm³]", color: casip.palette.series[2] });
    bars(document.getElementById("cost-plot"), data.cost, "$",
      { title: "materials cost [$]", color: casip.palette.series[1] });
    // the API keeps kg/GWh; tonnes per GWh (= kg/MWh) read better at cell scale
    const tonnes = {};
    Object.keys(data.elements || {}).forEach(function (k) { tonnes[k] = data.elements[k] / 1000; });
    bars(document.getElementById("element-plot"), tonnes, "t/GWh",
      { title: "element demand [t/GWh]", share: false, color: casip.palette.series[3],
        empty: "No element demand in this design's results." });
  });
  const status = document.getElementById("job-status");
  function watch(job) {
    const bar = h("progress", { max: "1", value: "0", "aria-label": "job progress" });
    const msg = h("span", {}, " queued");
    const line = h("div", { class: "job-line" }, h("strong", {}, "Job #" + job.id + " "), bar, msg);
    status.prepend(line);
    casip.pollJob(job.id, function (j, res) {
      if (!j) { msg.textContent = " " + casip.problemText(res); return; }
      bar.value = j.progress || 0;
      msg.replaceChildren(" " + j.status + (j.message ? ": " + j.message : ""));
      if (j.status === "failed") msg.append(h("span", { class: "field-error" }, " " + (j.error || "")));
      if (j.status === "done") msg.append(" · ", h("a", { href: "/simulations?job=" + j.id }, "see the result"));
    });
  }
  async function start(url, body) {
    const r = await casip.api("POST", url, body);
    if (!r.ok) { status.prepend(h("p", { class: "notice error" }, casip.problemText(r))); return; }
    const job = r.data.job || r.data;
    if (job && job.id !== undefined) watch(job.job_id !== undefined ? { id: job.job_id } : job);
  }
  const fast = document.getElementById("run-fast");
  if (fast) {
    const kind = document.getElementById("sim-kind"), rate = document.getElementById("c-rate");
    kind.addEventListener("change", function () { rate.disabled = kind.value !== "fast_charge"; });
    fast.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const body = { kind: kind.value };
      if (kind.value === "fast_charge" && rate.value) body.c_rate = parseFloat(rate.value);
      start("/api/designs/" + data.id + "/simulations", body);
    });
  }
  const life = document.getElementById("run-life");
  if (life) {
    life.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const body = { duty: document.getElementById("duty").value };
      const y = document.getElementById("years").value;
      if (y) body.years = parseFloat(y);
      start("/api/designs/" + data.id + "/lifetimes", body);
    });
  }
})();
