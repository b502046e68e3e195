"use strict";
(function () {
  const data = casip.pageData();
  const h = casip.h;
  async function users() {
    const table = document.getElementById("users-table");
    if (!table) return;
    const tbody = table.querySelector("tbody");
    const r = await casip.api("GET", "/api/organisations/" + data.org_id + "/users?limit=200");
    if (!r.ok) { tbody.replaceChildren(h("tr", {}, h("td", { colspan: "4", class: "notice error" }, casip.problemText(r)))); return; }
    const items = Array.isArray(r.data) ? r.data : (r.data.items || []);
    tbody.replaceChildren.apply(tbody, items.map(function (u) {
      return h("tr", {}, h("td", {}, u.name), h("td", {}, u.email), h("td", {}, u.role), h("td", {}, u.is_active ? "yes" : "no"));
    }));
  }
  let offset = 0;
  async function audit(more) {
    const table = document.getElementById("audit-table");
    if (!table) return;
    const tbody = table.querySelector("tbody");
    const moreBox = document.getElementById("audit-more");
    const r = await casip.api("GET", "/api/audit?limit=50&offset=" + offset);
    if (!r.ok) {
      const text = r.status === 403 ? "Only your organisation's admins see the audit log." : casip.problemText(r);
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: "5", class: "muted" }, text))); return;
    }
    const items = Array.isArray(r.data) ? r.data : (r.data.items || []);
    const rows = items.map(function (e) {
      const a = e.actor || {};
      const who = a.operator ? "operator" : [a.email, a.organisation].filter(Boolean).join(" · ");
      const detail = e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : "";
      return h("tr", {}, h("td", {}, String(e.at || "").slice(0, 19).replace("T", " ")), h("td", {}, e.action), h("td", {}, who || "–"),
        h("td", {}, e.item_kind ? e.item_kind + " " + (e.item_id == null ? "" : e.item_id) : "–"), h("td", { class: "small" }, h("code", {}, detail)));
    });
    if (!more) tbody.replaceChildren();
    if (!rows.length && !more) tbody.append(h("tr", {}, h("td", { colspan: "5", class: "muted" }, "No events.")));
    rows.forEach(function (tr) { tbody.append(tr); });
    offset += items.length;
    moreBox.replaceChildren();
    if (r.data.next_offset != null) moreBox.append(h("button", { type: "button", onclick: function () { audit(true); } }, "Older events"));
  }
  users();
  audit(false);
})();
