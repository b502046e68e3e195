"use strict";
/* The "Calibration" section of a design page (templates/_design_calibrations.html): the
   calibrate form (cases from the attached tests, parameters from GET
   /api/calibrations/parameters), its progress, and the design's calibrations (GET
   /api/designs/{id}/calibrations) with the fitted parameters and their identifiability, the fit
   and prediction error tables, warnings and downloads. A finished calibration is offered to the
   replay forms of the measured tests (their "Variant" choice: calibration_id). */
(function () {
  const section = document.getElementById("calibrations");
  if (!section) return;
  const designId = section.dataset.designId;
  const h = casip.h, fmt = casip.fmt;
  const list = document.getElementById("calibrations-list");

  function details(r) {
    let text = casip.problemText(r);
    if (r.data && r.data.errors) {
      text += " — " + r.data.errors.map(function (e) {
        return (e.field ? e.field + ": " : "") + e.message + (e.expected ? " (expected " + e.expected + ")" : "");
      }).join("; ");
    }
    return text;
  }

  /* ------------------------------------------------------------ the form */
  const form = document.getElementById("calibrate-form");
  if (form) {
    const tbody = form.querySelector("#calibrate-cases tbody");
    const tmpl = document.getElementById("calibrate-case-row");
    const st = document.getElementById("calibrate-status");
    function addCase(role) {
      const row = tmpl.content.firstElementChild.cloneNode(true);
      if (role) row.querySelector("select[name=role]").value = role;
      row.querySelector("button.remove-case").addEventListener("click", function () { row.remove(); });
      tbody.append(row);
    }
    addCase("fit");
    document.getElementById("calibrate-add-case").addEventListener("click", function () { addCase("held_back"); });

    const params = document.getElementById("calibrate-parameters");
    casip.api("GET", "/api/calibrations/parameters").then(function (r) {
      if (!r.ok) { params.replaceChildren(h("span", { class: "field-error" }, casip.problemText(r))); return; }
      form.elements.max_evaluations.max = r.data.max_evaluations.max;
      form.elements.max_evaluations.value = r.data.max_evaluations.default;
      params.replaceChildren.apply(params, r.data.parameters.map(function (p) {
        return h("label", { class: "check", title: p.description + " (" + p.pybamm_name + "; bounds " + p.bounds.join(" to ") + ")" },
          h("input", { type: "checkbox", name: "parameter", value: p.key, checked: p.default }), " " + p.key.replace(/_/g, " "));
      }));
    });

    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const body = { fit: [], held_back: [], model: form.elements.model.value,
        max_evaluations: parseInt(form.elements.max_evaluations.value, 10),
        parameters: Array.from(form.querySelectorAll("input[name=parameter]:checked")).map(function (x) { return x.value; }),
        stages: [] };
      if (form.elements.stage_balance.checked) body.stages.push("balance");
      if (form.elements.stage_kinetics.checked) body.stages.push("kinetics_transport");
      let bad = null;
      tbody.querySelectorAll("tr.calibrate-case").forEach(function (row, i) {
        const get = function (n) { return row.querySelector("[name=" + n + "]").value.trim(); };
        const m = /^\s*(\d+(?:\.\d*)?)\s*[-–,]\s*(\d+(?:\.\d*)?)\s*$/.exec(get("window"));
        if (!m) { bad = "case " + (i + 1) + ": window: expected t0-t1 in seconds of test time"; return; }
        const c = { test_id: parseInt(get("test_id"), 10), window_s: [parseFloat(m[1]), parseFloat(m[2])] };
        if (get("tested_capacity_ah")) c.tested_capacity_ah = parseFloat(get("tested_capacity_ah"));
        if (get("temperature_c")) c.temperature_c = parseFloat(get("temperature_c"));
        body[get("role")].push(c);
      });
      if (bad) { st.replaceChildren(h("span", { class: "field-error" }, bad)); return; }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      st.replaceChildren("submitting…");
      const r = await casip.api("POST", "/api/designs/" + designId + "/calibrations", body);
      button.disabled = false;
      if (!r.ok) { st.replaceChildren(h("span", { class: "field-error" }, details(r))); return; }
      st.replaceChildren("Calibration #" + r.data.calibration_id + " queued (job #" + r.data.job.id + ")");
      load();
    });
  }

  /* ------------------------------------------------------------ the list */
  function num(v, d) { return h("td", { class: "num" }, fmt(v, d)); }
  function parameterTable(stage) {
    if (stage.skipped) return h("p", { class: "muted small" }, stage.stage + ": skipped: " + stage.skipped);
    const rows = (stage.parameters || []).map(function (p) {
      const cls = p.identifiability === "identified" ? "" : "badge warn";
      return h("tr", {}, h("th", { scope: "row", title: p.pybamm_name + " (" + p.kind + ")" }, p.parameter),
        num(p.initial, 4), num(p.fitted, 4), h("td", { class: "num" }, fmt(p.lower, 4) + " – " + fmt(p.upper, 4)),
        num(p.rel_std === null ? null : p.rel_std * 100, 1), num(p.max_abs_correlation, 2),
        h("td", {}, h("span", { class: cls }, p.identifiability), p.at_bound ? " (at its bound)" : ""));
    });
    return h("div", {},
      h("h4", {}, stage.stage.replace("_", " and ") + ": RMSE " + fmt(stage.rmse_before_mV, 1) + " → " +
        fmt(stage.rmse_after_mV, 1) + " mV, " + fmt(stage.evaluations) + " evaluations" +
        (stage.condition_number ? ", condition number " + stage.condition_number.toExponential(1) : "")),
      h("table", { class: "data calibration-parameters" },
        h("thead", {}, h("tr", {}, ["parameter", "initial", "fitted", "bounds", "rel. std. error [%]", "max |correlation|", "identifiability"].map(function (x) { return h("th", { scope: "col" }, x); }))),
        h("tbody", {}, rows)));
  }
  function errorTable(title, rows, cls) {
    if (!rows.length) return null;
    return h("div", {}, h("h4", {}, title),
      h("table", { class: "data " + cls },
        h("thead", {}, h("tr", {}, ["case", "RMSE before [mV]", "RMSE after [mV]", "max before [mV]", "max after [mV]", "stopped early"].map(function (x) { return h("th", { scope: "col" }, x); }))),
        h("tbody", {}, rows.map(function (e) {
          return h("tr", {}, h("th", { scope: "row" }, e.case), num(e.rmse_before_mV, 1), num(e.rmse_after_mV, 1),
            num(e.max_before_mV, 1), num(e.max_after_mV, 1), h("td", {}, [e.stopped_before, e.stopped_after].filter(Boolean).join("; ")));
        }))));
  }
  function view(c) {
    const running = c.status === "queued" || c.status === "running";
    const head = h("h3", {}, "#" + c.calibration_id + " " + c.name + " ",
      h("span", { class: c.status === "done" ? "calibration-status" : "badge warn calibration-status" }, c.status.replace("_", "-")));
    const meta = h("p", { class: "muted small" }, "parameters: " + c.parameters.join(", ") + " · " + c.options.model +
      " · stages: " + c.options.stages.join(", ") + " · fit on " + c.fit.map(function (x) { return x.label; }).join(", ") +
      (c.held_back.length ? " · held back " + c.held_back.map(function (x) { return x.label; }).join(", ") : "") +
      " · " + c.visibility + (c.seconds !== null && c.seconds !== undefined ? " · " + fmt(c.seconds, 1) + " s" : ""));
    const parts = [head, meta];
    if (running) {
      const p = c.progress || {};
      parts.push(h("p", { class: "calibration-progress" }, h("progress", { max: "1", value: String(p.fraction || 0), "aria-label": "calibration progress" }),
        " " + c.status + (p.stage ? ": " + p.stage.replace("_", " and ") + ", " + fmt(p.evaluations) + " evaluations" : "")));
    }
    if (c.error) parts.push(h("p", { class: "notice error calibration-error" }, "Failed" + (c.error.field ? " (" + c.error.field + ")" : "") + ": " + c.error.message));
    if (c.ill_posed.length) parts.push(h("div", { class: "notice warn calibration-ill-posed" }, "Ill-posed: the fitted values are not to be trusted.", h("ul", {}, c.ill_posed.map(function (x) { return h("li", {}, x); }))));
    (c.stages || []).forEach(function (s) { parts.push(parameterTable(s)); });
    parts.push(errorTable("Fitted protocols", c.fit_errors || [], "calibration-fit-errors"));
    parts.push(errorTable("Held back (prediction)", c.prediction_errors || [], "calibration-prediction-errors"));
    if (c.warnings.length) parts.push(h("div", { class: "notice warn calibration-warnings" }, "Warnings", h("ul", {}, c.warnings.map(function (x) { return h("li", {}, x); }))));
    if (c.record_available) {
      parts.push(h("p", { class: "small calibration-downloads" }, h("a", { href: c.links.record, download: "" }, "Calibration record (JSON)"), " · ",
        c.bpx_available ? h("a", { href: c.links.bpx, download: "" }, "BPX file") : h("span", { class: "muted" }, c.bpx_reason || "no BPX file"),
        " · use it in a replay above: Variant “calibration #" + c.calibration_id + "”"));
    }
    return h("article", { class: "calibration", id: "calibration-" + c.calibration_id, "data-status": c.status }, parts);
  }

  // the replay forms of the measured tests: a "Variant" choice (design or a finished calibration)
  function offerToReplays(cals) {
    const usable = cals.filter(function (c) { return c.record_available; });
    document.querySelectorAll("form.replay-form").forEach(function (f) {
      let sel = f.querySelector("select[name=calibration_id]");
      if (!sel) {
        if (!usable.length) return;
        const id = "replay-variant-" + f.dataset.testId;
        sel = h("select", { id: id, name: "calibration_id", title: "replay the design as it is, or its calibrated variant" });
        const button = f.querySelector("button[type=submit]");
        f.insertBefore(h("label", { for: id }, "Variant"), button);
        f.insertBefore(sel, button);
      }
      const chosen = sel.value;
      sel.replaceChildren.apply(sel, [h("option", { value: "" }, "the design")].concat(usable.map(function (c) {
        return h("option", { value: String(c.calibration_id) }, "calibration #" + c.calibration_id);
      })));
      sel.value = chosen;
    });
  }

  let timer = null;
  async function load() {
    if (timer) { clearTimeout(timer); timer = null; }
    const r = await casip.api("GET", "/api/designs/" + designId + "/calibrations");
    if (!r.ok) { casip.notice(list, casip.problemText(r), "error"); return; }
    const cals = r.data.calibrations || [];
    if (!cals.length) list.replaceChildren(h("p", { class: "muted", id: "no-calibrations" }, "No calibration of this design yet."));
    else list.replaceChildren.apply(list, cals.map(view));
    offerToReplays(cals);
    if (cals.some(function (c) { return c.status === "queued" || c.status === "running"; })) timer = setTimeout(load, 1000);
  }
  load();
})();
