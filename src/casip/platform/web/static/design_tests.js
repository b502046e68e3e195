"use strict";
/* The "Measured tests" section of a design page (templates/_design_tests.html): each attached
   test's voltage-capacity curves from GET /api/tests/{id}/curves (drawn as on the test page,
   curves.js), the simulated slot beside them (filled when the API gives `simulated`: the replay,
   not built yet), and attach / detach through /api/designs/{id}/tests. */
(function () {
  const data = casip.pageData();
  const section = document.getElementById("measured-tests");
  if (!section) return;
  const tests = data.measured || [];

  /** mAh below 1 Ah of largest capacity, else Ah */
  function capScale(answers) {
    let max = 0;
    answers.forEach(function (a) {
      ((a && a.curves) || []).forEach(function (c) {
        c.capacity_ah.forEach(function (v) { if (typeof v === "number" && isFinite(v)) max = Math.max(max, Math.abs(v)); });
      });
    });
    return max > 0 && max < 1 ? { label: "mAh", factor: 1000 } : { label: "Ah", factor: 1 };
  }

  function draw(el, answers) {
    const unit = capScale(answers.map(function (a) { return a.answer; }));
    const cap = function (v) { return v * unit.factor; };
    let traces = [];
    answers.forEach(function (a) { traces = traces.concat(casip.voltageCurveTraces(a.answer, cap, a.opts)); });
    casip.whenPlotly(function () {
      casip.plot(el, traces, casip.voltageCurveLayout("Capacity [" + unit.label + "]"));
    });
  }

  async function measured(t) {
    const el = document.getElementById("measured-plot-" + t.test_id);
    if (!el) return;
    const r = await casip.api("GET", t.links.curves);
    if (!r.ok) { casip.notice(el, casip.problemText(r), "error"); return; }
    if (!(r.data.curves || []).length) { casip.notice(el, "No voltage-capacity data in this test."); return; }
    draw(el, [{ answer: r.data, opts: { label: "measured" } }]);
  }
  tests.forEach(measured);

  /* ------------------------------------------------------------ replay (replays.py) */
  const fmt = casip.fmt, h = casip.h;
  // the simulated slot: the replay's curves (curves API shape) dashed over the measured curves
  // of the same rows, and its metrics and error table below
  function simulatedView(t) {
    const sim = t.simulated;
    const slot = document.getElementById("simulated-slot-" + t.test_id);
    const out = document.getElementById("replay-result-" + t.test_id);
    if (!sim || !slot || !out) return;
    if (sim.status !== "done") {
      out.replaceChildren(h("p", { class: "muted small" }, "Asked: " + JSON.stringify(sim.parameters || {})));
      return;
    }
    if ((sim.curves || []).length) {
      draw(slot, [{ answer: { cycles: sim.cycles, curves: sim.measured_curves || [] }, opts: { label: "measured" } },
        { answer: { cycles: sim.cycles, curves: sim.curves }, opts: { label: "simulated", dash: "dash", chargeDash: "dashdot" } }]);
    } else {
      casip.notice(slot, "The replayed rows have no charge or discharge to draw against capacity.");
    }
    timeView(t.test_id, sim.series || {});
    const m = sim.metrics || {};
    const stop = m.stopped_early
      ? "stopped early at t = " + fmt(m.stopped_at_s, 0) + " s: " + m.stop_reason
      : "ran to the end of the window (" + m.stop_reason + ")";
    const rows = (m.errors || []).map(function (e) {
      return h("tr", {}, h("td", {}, e.step_type), h("td", { class: "num" }, fmt(e.points)),
        h("td", { class: "num" }, fmt(e.rmse_mV, 1)), h("td", { class: "num" }, fmt(e.max_abs_mV, 1)),
        h("td", { class: "num" }, fmt(e.mean_mV, 1)));
    });
    out.replaceChildren(
      h("p", { class: "small replay-summary" },
        h("strong", {}, "RMSE " + fmt(m.rmse_mV, 1) + " mV, max error " + fmt(m.max_error_mV, 1) + " mV"),
        " · " + sim.window_rule + " · " + sim.model + " · ", h("span", { class: "replay-stop" }, stop)),
      h("ul", { class: "small muted" },
        h("li", { class: "replay-scale" }, "Current scaling: " + sim.scale_choice + " (factor " + fmt(sim.current_factor, 4) + ")"),
        h("li", {}, "Temperature: " + fmt(sim.temperature_c, 1) + " °C, " + sim.temperature_rule),
        h("li", { class: "replay-thermal" }, "Thermal: " + (sim.thermal || "isothermal") +
          (sim.max_temperature_c !== null && sim.max_temperature_c !== undefined
            ? " (simulated cell temperature up to " + fmt(sim.max_temperature_c, 1) + " °C)" : "")),
        h("li", { class: "replay-control" }, "Drive: measured " + (sim.control || "current") +
          (sim.control === "power" ? " (I × V; the model draws P / V)" : "")),
        h("li", { class: "replay-initial" }, "Initial state: " + sim.initial_state),
        h("li", {}, "Axis: " + sim.curve_axis)),
      h("table", { class: "data replay-errors" },
        h("thead", {}, h("tr", {}, h("th", {}, "step type"), h("th", {}, "points"), h("th", {}, "RMSE [mV]"),
          h("th", {}, "max |error| [mV]"), h("th", {}, "mean error [mV]"))),
        h("tbody", {}, rows)));
  }
  tests.forEach(simulatedView);

  // under the overlay: measured and simulated voltage against test time (the replay's stored
  // series), in the overlay's colours: measured solid, simulated dashed
  function timeView(testId, series) {
    const el = document.getElementById("replay-time-" + testId);
    if (!el) return;
    const t = series.test_time_second || [];
    if (!t.length) { casip.notice(el, "No voltage-time series stored with this replay."); return; }
    const hours = t.map(function (v) { return v === null ? null : v / 3600; });
    const color = casip.palette.series[0];
    const traces = [
      { type: "scatter", mode: "lines", name: "measured voltage", x: hours, y: series.measured_voltage_v || [],
        line: { color: color, dash: "solid" }, connectgaps: false },
      { type: "scatter", mode: "lines", name: "simulated voltage", x: hours, y: series.simulated_voltage_v || [],
        line: { color: color, dash: "dash" }, connectgaps: false },
    ];
    casip.whenPlotly(function () {
      casip.plot(el, traces, { xaxis: { title: { text: "Test time [h]" }, gridcolor: "#eef1f4" },
        yaxis: { title: { text: "Voltage [V]" }, gridcolor: "#eef1f4" } });
    });
  }

  function parseRange(text, field) {
    const m = /^\s*(\d+(?:\.\d*)?)\s*(?:[-–,]\s*(\d+(?:\.\d*)?))?\s*$/.exec(text);
    if (!m) throw new Error(field + ": expected a number or a range like 2-3");
    return m[2] === undefined ? [parseFloat(m[1])] : [parseFloat(m[1]), parseFloat(m[2])];
  }
  section.querySelectorAll("form.replay-form").forEach(function (f) {
    const st = document.getElementById("replay-status-" + f.dataset.testId);
    f.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const body = { scale: f.elements.scale.value, thermal: f.elements.thermal.value,
        initial_soc: f.elements.initial_soc.value, control: f.elements.control.value };
      try {
        const cyc = f.elements.cycles.value.trim(), win = f.elements.window.value.trim();
        if (cyc) body.cycles = parseRange(cyc, "cycles").map(function (x) { return Math.round(x); });
        if (win) {
          body.window_s = parseRange(win, "window");
          if (body.window_s.length !== 2) throw new Error("window: expected t0-t1 in seconds");
        }
      } catch (e) { st.replaceChildren(h("span", { class: "field-error" }, e.message)); return; }
      const cap = f.elements.tested_capacity_ah.value, temp = f.elements.temperature_c.value;
      if (cap) body.tested_capacity_ah = parseFloat(cap);
      if (temp) body.temperature_c = parseFloat(temp);
      // the calibrated variant, offered by design_calibrations.js when a calibration finished
      if (f.elements.calibration_id && f.elements.calibration_id.value) body.calibration_id = parseInt(f.elements.calibration_id.value, 10);
      const button = f.querySelector("button[type=submit]");
      button.disabled = true;
      st.replaceChildren("submitting…");
      const r = await casip.api("POST", f.dataset.url, body);
      if (!r.ok) {
        button.disabled = false;
        st.replaceChildren(h("span", { class: "field-error" }, details(r)));
        // e.g. the test records no temperature: the server names temperature_c; ask for it
        const bad = ((r.data && r.data.errors) || []).map(function (e) { return e.field; });
        if (bad.indexOf("temperature_c") >= 0) f.elements.temperature_c.focus();
        return;
      }
      const bar = h("progress", { max: "1", value: "0", "aria-label": "replay progress" });
      const msg = h("span", {}, " queued");
      st.replaceChildren(h("span", {}, "Job #" + r.data.job.id + " "), bar, msg);
      casip.pollJob(r.data.job.id, function (j, res) {
        if (!j) { msg.textContent = " " + casip.problemText(res); button.disabled = false; return; }
        bar.value = j.progress || 0;
        msg.textContent = " " + j.status + (j.message ? ": " + j.message : "");
        if (j.status === "failed") { msg.append(h("span", { class: "field-error" }, " " + (j.error || ""))); button.disabled = false; }
        if (j.status === "cancelled") button.disabled = false;
        if (j.status === "done") {
          window.location.hash = "measured-test-" + f.dataset.testId;
          window.location.reload();
        }
      });
    });
  });

  const form = document.getElementById("attach-test");
  const status = document.getElementById("attach-test-status");
  function say(text, kind) {
    if (status) status.replaceChildren(casip.h("span", { class: kind === "error" ? "field-error" : "" }, text));
  }
  function details(r) {
    let text = casip.problemText(r);
    if (r.data && r.data.errors) {
      text += " — " + r.data.errors.map(function (e) {
        return (e.field ? e.field + ": " : "") + e.message + (e.expected ? " (expected " + e.expected + ")" : "");
      }).join("; ");
    }
    return text;
  }
  if (form) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const id = parseInt(document.getElementById("attach-test-id").value, 10);
      if (!isFinite(id)) { say("Choose a test to attach.", "error"); return; }
      const note = document.getElementById("attach-test-note").value.trim();
      const body = { test_id: id };
      if (note) body.note = note;
      say("attaching…");
      const r = await casip.api("POST", "/api/designs/" + data.id + "/tests", body);
      if (!r.ok) { say(details(r), "error"); return; }
      window.location.hash = "measured-tests";
      window.location.reload();
    });
  }
  section.querySelectorAll("button.detach-test").forEach(function (b) {
    b.addEventListener("click", async function () {
      b.disabled = true;
      const r = await casip.api("DELETE", "/api/designs/" + data.id + "/tests/" + b.dataset.testId);
      if (!r.ok) { b.disabled = false; say(details(r), "error"); return; }
      window.location.hash = "measured-tests";
      window.location.reload();
    });
  });
})();
