"use strict";
(function () {
  const data = casip.pageData();
  if (!data.available) return;
  const h = casip.h;
  const tbody = document.querySelector("#tests-table tbody");
  async function load() {
    const r = await casip.api("GET", "/api/tests?limit=200");
    if (!r.ok) { tbody.replaceChildren(h("tr", {}, h("td", { colspan: "7", class: "notice error" }, casip.problemText(r)))); return; }
    const items = Array.isArray(r.data) ? r.data : (r.data.items || []);
    if (!items.length) { tbody.replaceChildren(h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No datasets yet."))); return; }
    tbody.replaceChildren.apply(tbody, items.map(function (t) {
      // a flagged test: a badge whose title gives the reasons (the test page lists them)
      const reasons = (t.flags || []).map(function (f) { return f.reason; }).join("\n");
      const badge = t.flagged ? [" ", h("span", { class: "badge warn test-flag", title: reasons }, "flagged"),
        h("div", { class: "muted small test-flag-reasons" }, reasons)] : [];
      return h("tr", t.flagged ? { "data-flagged": "true" } : {}, h("td", {}, h("a", { href: "/tests/" + t.id }, t.name), badge), h("td", {}, t.format),
        h("td", { class: "num" }, casip.fmt(t.cycles)), h("td", { class: "num" }, casip.fmt(t.cycle_life)),
        h("td", { class: "num" }, casip.fmt(t.rows)), h("td", {}, t.visibility), h("td", {}, (t.created_at || "").slice(0, 16).replace("T", " ")));
    }));
  }
  load();
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  /** the bar and the message after a refused or failed upload: nothing looks like success */
  function failed(file, text) {
    bar.value = 0;
    bar.hidden = true;
    bar.dataset.state = "failed";
    form.dataset.state = "failed";
    const sentence = text.indexOf(file.name) >= 0 ? text : "Upload of " + file.name + " failed: " + text;
    status.replaceChildren(h("span", { class: "field-error", role: "alert", id: "upload-error" }, sentence));
  }
  /** one sentence from a problem answer: its detail (which names the file), else its errors */
  function problemSentence(xhrStatus, body) {
    if (body && body.detail) return String(body.detail);
    if (body && body.errors && body.errors.length) {
      return body.errors.map(function (e) { return e.field + ": " + e.message + (e.expected ? " (expected " + e.expected + ")" : ""); }).join("; ");
    }
    return "the server answered HTTP " + xhrStatus + ".";
  }
  // a planned-test id in the file name is suggested, never filled in (issue 18)
  const ptInput = document.getElementById("upload-planned-test");
  const ptHint = document.getElementById("upload-pt-suggestion");
  const fileInput = document.getElementById("upload-file");
  if (ptInput && ptHint && fileInput) {
    fileInput.addEventListener("change", function () {
      const f = fileInput.files[0];
      const m = f ? /(?:^|[^A-Za-z0-9])(PT-\d{1,10})(?![0-9])/i.exec(f.name) : null;
      ptHint.textContent = m && !ptInput.value ? "The file name mentions " + m[1].toUpperCase() + ": type it above if this file answers it." : "";
    });
  }
  function optionalNumber(id) {
    const el = document.getElementById(id);
    if (!el || el.value.trim() === "") return null;
    const v = Number(el.value);
    return isFinite(v) && v > 0 ? v : NaN;
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const file = document.getElementById("upload-file").files[0];
    form.dataset.state = "";
    bar.dataset.state = "";
    if (!file) { status.textContent = "Choose a file first."; return; }
    if (data.max_bytes && file.size > data.max_bytes) {
      failed(file, file.name + " is " + casip.fmt(file.size / 1e6, 1) + " MB; the server accepts at most " + casip.fmt(data.max_bytes / 1e6, 1) + " MB.");
      return;
    }
    const massMg = optionalNumber("upload-mass");
    const areaCm2 = optionalNumber("upload-area");
    if (Number.isNaN(massMg) || Number.isNaN(areaCm2)) {
      status.replaceChildren(h("span", { class: "field-error", role: "alert" }, "Active mass and electrode area must be positive numbers (or left empty)."));
      return;
    }
    let url = "/api/tests?filename=" + encodeURIComponent(file.name) +
      "&visibility=" + encodeURIComponent(document.getElementById("upload-visibility").value);
    const name = document.getElementById("upload-name").value.trim();
    if (name) url += "&name=" + encodeURIComponent(name);
    if (massMg != null) url += "&active_mass_g=" + encodeURIComponent(massMg / 1000);  // the API takes grams
    if (areaCm2 != null) url += "&electrode_area_cm2=" + encodeURIComponent(areaCm2);
    const conf = document.getElementById("upload-configuration");
    if (conf && conf.value) url += "&cell_configuration=" + encodeURIComponent(conf.value);
    if (ptInput && ptInput.value.trim() !== "") url += "&planned_test=" + encodeURIComponent(ptInput.value.trim());
    const series = document.getElementById("upload-series");
    if (series && series.value.trim() !== "") url += "&cells_in_series=" + encodeURIComponent(series.value.trim());
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", casip.csrf());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false; bar.value = 0;
    form.dataset.state = "uploading";
    status.textContent = "Uploading " + file.name + "…";
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); status.textContent = "Uploading " + file.name + "… " + bar.value + " %"; }
      if (e.loaded === e.total) { bar.removeAttribute("value"); status.textContent = "Checking and reading " + file.name + "…"; }
    };
    xhr.onerror = function () { failed(file, "Upload of " + file.name + " failed: the connection to the server was lost."); };
    xhr.onload = function () {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.id != null) {
        bar.value = 100;
        bar.dataset.state = "done";
        form.dataset.state = "done";
        status.replaceChildren(body.duplicate ? "Already uploaded: " : "Uploaded: ", h("a", { href: "/tests/" + body.id, id: "uploaded-link" }, body.name));
        load();
        window.location.href = "/tests/" + body.id;
      } else {
        failed(file, problemSentence(xhr.status, body));
      }
    };
    xhr.send(file);
  });
})();
