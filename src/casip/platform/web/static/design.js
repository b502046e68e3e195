"use strict";
(function () {
  const data = casip.pageData();
  const h = casip.h;
  function bars(el, obj, unit) {
    const items = Object.keys(obj).map(function (k) { return [k.replace(/_/g, " "), obj[k]]; })
      .filter(function (kv) { return typeof kv[1] === "number" && kv[1] > 0; })
      .sort(function (a, b) { return a[1] - b[1]; });
    if (!items.length) { casip.notice(el, "No breakdown in this design's results."); return; }
    const total = items.reduce(function (s, kv) { return s + kv[1]; }, 0);
    casip.plot(el, [{ type: "bar", orientation: "h", y: items.map(function (kv) { return kv[0]; }),
      x: items.map(function (kv) { return kv[1]; }), marker: { color: "#1f6feb" },
      text: items.map(function (kv) { return (100 * kv[1] / total).toFixed(1) + " %"; }), textposition: "outside",
      hovertemplate: "%{y}: %{x:.3g} " + unit + "<extra></extra>" }],
      { xaxis: { title: { text: unit }, gridcolor: "#eef1f4" }, margin: { l: 140, r: 50, t: 10, b: 45 }, showlegend: false });
  }
  casip.whenPlotly(function () {
    bars(document.getElementById("mass-plot"), data.mass, "g");
    bars(document.getElementById("cost-plot"), data.cost, "USD");
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
