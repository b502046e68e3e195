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
      return h("tr", {}, h("td", {}, h("a", { href: "/tests/" + t.id }, t.name)), h("td", {}, t.format),
        h("td", { class: "num" }, casip.fmt(t.cycles)), h("td", { class: "num" }, casip.fmt(t.cycle_life)),
        h("td", { class: "num" }, casip.fmt(t.rows)), h("td", {}, t.visibility), h("td", {}, (t.created_at || "").slice(0, 16).replace("T", " ")));
    }));
  }
  load();
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const file = document.getElementById("upload-file").files[0];
    if (!file) { status.textContent = "Choose a file first."; return; }
    if (data.max_bytes && file.size > data.max_bytes) { status.textContent = "The file is larger than the server accepts."; return; }
    let url = "/api/tests?filename=" + encodeURIComponent(file.name) +
      "&visibility=" + encodeURIComponent(document.getElementById("upload-visibility").value);
    const name = document.getElementById("upload-name").value.trim();
    if (name) url += "&name=" + encodeURIComponent(name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader("X-CSRF-Token", casip.csrf());
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false; bar.value = 0;
    status.textContent = "Uploading…";
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); status.textContent = "Uploading… " + bar.value + " %"; }
      if (e.loaded === e.total) status.textContent = "Processing the file…";
    };
    xhr.onerror = function () { status.textContent = "Upload failed (network error)."; };
    xhr.onload = function () {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      if (xhr.status >= 200 && xhr.status < 300 && body && body.id != null) {
        bar.value = 100;
        status.replaceChildren(body.duplicate ? "Already uploaded: " : "Uploaded: ", h("a", { href: "/tests/" + body.id, id: "uploaded-link" }, body.name));
        load();
        window.location.href = "/tests/" + body.id;
      } else {
        const res = { status: xhr.status, data: body };
        let text = casip.problemText(res);
        if (body && body.errors) text += " — " + body.errors.map(function (e) { return e.field + ": " + e.message; }).join("; ");
        status.replaceChildren(h("span", { class: "field-error", role: "alert" }, text));
      }
    };
    xhr.send(file);
  });
})();
