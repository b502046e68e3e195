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
    // the simulated slot: a replay answer with the curves API's shape, when it exists
    const slot = document.getElementById("simulated-slot-" + t.test_id);
    if (slot && t.simulated && t.simulated.curves) {
      draw(slot, [{ answer: r.data, opts: { label: "measured" } },
        { answer: t.simulated, opts: { label: "simulated", dash: "dash" } }]);
    }
  }
  tests.forEach(measured);

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
