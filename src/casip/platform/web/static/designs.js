"use strict";
(function () {
  const form = document.getElementById("compare-form");
  if (!form) return;
  form.addEventListener("submit", function (ev) {
    const ids = Array.from(document.querySelectorAll("input.pick:checked")).map(function (c) { return c.value; });
    if (ids.length > 12) { ev.preventDefault(); alert("Compare at most 12 designs."); return; }
    document.getElementById("compare-ids").value = ids.join(",");
    document.querySelectorAll("input.pick").forEach(function (c) { c.removeAttribute("name"); });
  });
})();
