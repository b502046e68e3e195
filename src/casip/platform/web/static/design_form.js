"use strict";
/* A form generated from the design JSON Schema (casip.design/1): objects become fieldsets,
   numbers get their min/max, enums become selects, discriminated unions (format) a select that
   switches sub-forms, nullable objects an "include" checkbox, free maps a JSON text box.
   Errors (problem+json "errors": [{field, message}]) are shown next to the named fields. */
(function () {
  const h = casip.h;
  const cfg = casip.pageData();
  const schema = cfg.schema;
  const defs = schema.$defs || {};
  const registry = {}; // path -> [{input, err, box}]
  let uid = 0;
  /** which anode fields matter for each anode type (the rest are hidden and not sent) */
  const ANODE_FIELDS = {
    intercalation: ["type", "active", "electrolyte", "carbon", "binder", "mass_fractions", "porosity", "np_ratio", "thickness_um"],
    lithium_metal: ["type", "lithium_thickness_um", "np_ratio"],
    anode_free: ["type"],
  };
  const UNITS = [["_mAh_cm2", "mAh/cm²"], ["_mg_cm2", "mg/cm²"], ["_mAh_g", "mAh/g"], ["_g_per_Ah", "g/Ah"],
    ["_um", "µm"], ["_mm", "mm"], ["_MPa", "MPa"], ["_cm3", "cm³"], ["_g", "g"], ["_C", "°C"]];

  function resolve(s) {
    if (s && s.$ref) {
      const name = s.$ref.split("/").pop();
      const out = Object.assign({}, defs[name]);
      ["description", "default", "title"].forEach(function (k) { if (s[k] !== undefined) out[k] = s[k]; });
      return out;
    }
    return s || {};
  }
  function label(key) {
    let unit = "";
    let base = key;
    for (const [suffix, u] of UNITS) {
      if (key.endsWith(suffix)) { unit = u; base = key.slice(0, -suffix.length); break; }
    }
    const words = base.replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1) + (unit ? " [" + unit + "]" : "");
  }
  function register(path, entry) { (registry[path] = registry[path] || []).push(entry); }
  function nullableInner(s) {
    const opts = s.anyOf || [];
    const nonNull = opts.filter(function (o) { return o.type !== "null"; });
    if (opts.length && nonNull.length === 1 && nonNull.length < opts.length) {
      const inner = Object.assign({}, nonNull[0]);
      ["description", "title"].forEach(function (k) { if (s[k] !== undefined && inner[k] === undefined) inner[k] = s[k]; });
      return inner;
    }
    return null;
  }
  function isObject(s) { return s.type === "object" || s.properties !== undefined; }

  /** render a schema node; returns {el, get(), hidden()} */
  function node(s0, value, path, key, required) {
    let s = resolve(s0);
    const inner = nullableInner(s);
    if (inner) {
      const r = resolve(inner);
      if (isObject(r) && r.properties) return optionalObject(r, value, path, key, s.description);
      s = Object.assign({}, r, { description: s.description || r.description });
      required = false;
    }
    if (s.oneOf && s.discriminator) return union(s, value, path, key);
    if (isObject(s) && s.properties) return object(s, value, path, key, required);
    if (isObject(s)) return mapField(s, value, path, key, required);
    return scalar(s, value, path, key, required);
  }

  function fieldBox(path, key, s, control, required) {
    const id = control.id;
    const err = h("div", { class: "err", id: id + "-err", role: "alert" });
    const box = h("div", { class: "field", "data-path": path },
      h("label", { for: id }, label(key), required ? h("span", { "aria-hidden": "true", title: "required" }, " *") : null),
      control, s.description ? h("div", { class: "help", id: id + "-help" }, s.description) : null, err);
    if (s.description) control.setAttribute("aria-describedby", id + "-help " + id + "-err");
    else control.setAttribute("aria-describedby", id + "-err");
    register(path, { input: control, err: err, box: box });
    return box;
  }

  function scalar(s, value, path, key, required) {
    const id = "f-" + path.replace(/[^a-zA-Z0-9]+/g, "-") + "-" + (++uid);
    let control, get;
    if (value === undefined || value === null) value = s.default !== undefined ? s.default : undefined;
    if (s.const !== undefined) {
      control = h("input", { id: id, type: "text", value: s.const, readonly: true });
      get = function () { return s.const; };
    } else if (s.enum) {
      control = h("select", { id: id, name: path });
      if (!required) control.append(h("option", { value: "" }, "(none)"));
      s.enum.forEach(function (v) { control.append(h("option", { value: v, selected: v === value }, String(v))); });
      if (value !== undefined && value !== null) control.value = value;
      get = function () { return control.value === "" ? undefined : control.value; };
    } else if (s.type === "number" || s.type === "integer") {
      const lo = s.minimum !== undefined ? s.minimum : s.exclusiveMinimum;
      const hi = s.maximum !== undefined ? s.maximum : s.exclusiveMaximum;
      control = h("input", { id: id, name: path, type: "number", inputmode: "decimal",
        step: s.type === "integer" ? "1" : "any", min: lo, max: hi, required: required || null,
        value: value === undefined ? "" : value });
      const range = (lo !== undefined ? (s.exclusiveMinimum !== undefined ? "> " : "≥ ") + lo : "") +
        (lo !== undefined && hi !== undefined ? ", " : "") +
        (hi !== undefined ? (s.exclusiveMaximum !== undefined ? "< " : "≤ ") + hi : "");
      if (range) control.title = range;
      get = function () {
        if (control.value === "") return undefined;
        const n = Number(control.value);
        return s.type === "integer" && Number.isInteger(n) ? n : (isNaN(n) ? control.value : n);
      };
    } else if (s.type === "boolean") {
      control = h("input", { id: id, name: path, type: "checkbox", checked: value === true });
      get = function () { return control.checked; };
    } else {
      control = h("input", { id: id, name: path, type: "text", maxlength: s.maxLength, required: required || null,
        value: value === undefined ? "" : value });
      get = function () { return control.value === "" ? undefined : control.value; };
    }
    const box = fieldBox(path, key, s, control, required);
    if (s.const !== undefined) box.classList.add("const-field"); // fixed (schema id, union tag)
    return { el: box, get: get };
  }

  function mapField(s, value, path, key, required) {
    const id = "f-" + path.replace(/[^a-zA-Z0-9]+/g, "-") + "-" + (++uid);
    const text = value && Object.keys(value).length ? JSON.stringify(value, null, 1) : "";
    const control = h("textarea", { id: id, name: path, rows: text ? Math.min(8, text.split("\n").length) : 2,
      placeholder: '{"key": value}' });
    control.value = text;
    const box = fieldBox(path, key, Object.assign({}, s, { description: (s.description ? s.description + " " : "") + "(JSON object)" }), control, required);
    return { el: box, get: function () {
      if (!control.value.trim()) return undefined;
      try { return JSON.parse(control.value); } catch (e) { return { __invalid__: control.value }; }
    } };
  }

  function object(s, value, path, key, required) {
    value = value || {};
    const kids = {};
    const wrap = h("div", { class: "fields" });
    const props = s.properties;
    const req = s.required || [];
    Object.keys(props).forEach(function (k) {
      const child = node(props[k], value[k], path ? path + "." + k : k, k, req.indexOf(k) >= 0);
      kids[k] = child;
      wrap.append(child.el);
    });
    const isAnode = path === "anode";
    function applyAnode() {
      if (!isAnode) return;
      const t = kids.type.get();
      const show = ANODE_FIELDS[t] || Object.keys(kids);
      Object.keys(kids).forEach(function (k) { kids[k].el.hidden = show.indexOf(k) < 0; });
    }
    if (isAnode && kids.type) {
      const sel = kids.type.el.querySelector("select");
      if (sel) sel.addEventListener("change", applyAnode);
      applyAnode();
    }
    const el = path ? h("fieldset", { "data-path": path }, h("legend", {}, label(key)),
      s.description ? h("p", { class: "help muted small" }, s.description.split("\n\n")[0]) : null, wrap) : wrap;
    if (path) register(path, { input: null, err: el.appendChild(h("div", { class: "err", role: "alert" })), box: el });
    return { el: el, get: function () {
      const out = {};
      Object.keys(kids).forEach(function (k) {
        if (kids[k].el.hidden) return;
        const v = kids[k].get();
        if (v !== undefined) out[k] = v;
      });
      return out;
    } };
  }

  function optionalObject(s, value, path, key, description) {
    const present = value !== undefined && value !== null;
    const id = "f-" + path.replace(/[^a-zA-Z0-9]+/g, "-") + "-on-" + (++uid);
    const inner = object(s, present ? value : {}, path, key, false);
    const toggle = h("input", { type: "checkbox", id: id, checked: present });
    const head = h("label", { class: "check", for: id }, toggle, " include " + label(key).toLowerCase());
    const wrap = h("div", { class: "optional" }, head,
      description ? h("div", { class: "help muted small" }, description) : null, inner.el);
    function apply() { inner.el.hidden = !toggle.checked; }
    toggle.addEventListener("change", apply);
    apply();
    return { el: wrap, get: function () { return toggle.checked ? inner.get() : undefined; } };
  }

  function union(s, value, path, key) {
    const prop = s.discriminator.propertyName;
    const variants = s.oneOf.map(function (ref) {
      const r = resolve(ref);
      return { tag: r.properties[prop].const, schema: r };
    });
    const current = value && value[prop] !== undefined ? value[prop] : variants[0].tag;
    const id = "f-" + path.replace(/[^a-zA-Z0-9]+/g, "-") + "-type-" + (++uid);
    const select = h("select", { id: id, name: path + "." + prop });
    variants.forEach(function (v) { select.append(h("option", { value: v.tag, selected: v.tag === current }, v.tag)); });
    const bodies = {};
    const box = h("fieldset", { "data-path": path }, h("legend", {}, label(key)),
      h("div", { class: "field" }, h("label", { for: id }, label(key) + " type"), select));
    variants.forEach(function (v) {
      const body = object(v.schema, v.tag === current ? value : { [prop]: v.tag }, path, key, true);
      // a variant's own legend would repeat the union's: show its description instead
      const legend = body.el.querySelector("legend");
      if (legend) legend.textContent = v.tag;
      body.el.classList.add("variant");
      bodies[v.tag] = body;
      box.append(body.el);
    });
    function apply() { variants.forEach(function (v) { bodies[v.tag].el.hidden = v.tag !== select.value; }); }
    select.addEventListener("change", apply);
    apply();
    return { el: box, get: function () { return bodies[select.value].get(); } };
  }

  // ------------------------------------------------------------------ the page
  const mount = document.getElementById("schema-form");
  const errorsBox = document.getElementById("form-errors");
  const statusEl = document.getElementById("form-status");
  let root;
  function build(doc) {
    Object.keys(registry).forEach(function (k) { delete registry[k]; });
    root = object(schema, doc || {}, "", "", true);
    mount.replaceChildren(root.el);
  }
  build(cfg.document);

  const startFrom = document.getElementById("start-from");
  if (startFrom) {
    (cfg.references || []).forEach(function (r, i) {
      startFrom.append(h("option", { value: String(i) }, r.name));
    });
    startFrom.append(h("option", { value: "current" , selected: true }, "(as loaded)"));
    startFrom.addEventListener("change", function () {
      if (startFrom.value === "current") { build(cfg.document); return; }
      const ref = cfg.references[Number(startFrom.value)];
      if (ref) build(ref.document);
    });
  }

  function clearErrors() {
    errorsBox.replaceChildren();
    Object.keys(registry).forEach(function (p) {
      registry[p].forEach(function (e) {
        if (e.err) e.err.textContent = "";
        if (e.input) e.input.removeAttribute("aria-invalid");
      });
    });
  }
  function showErrors(problem) {
    const list = h("ul");
    const errors = (problem && problem.errors) || [];
    let firstInput = null;
    errors.forEach(function (e) {
      let field = String(e.field || "").replace(/^document\.?/, "");
      let text = e.message + (e.expected ? " (expected " + e.expected + ")" : "");
      let path = field;
      while (path && !registry[path]) path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      if (path) {
        registry[path].forEach(function (en) {
          en.err.textContent = (path !== field ? field + ": " : "") + text;
          if (en.input) {
            en.input.setAttribute("aria-invalid", "true");
            if (!firstInput && en.box.offsetParent !== null) firstInput = en.input;
          }
        });
      }
      list.append(h("li", {}, h("strong", {}, field || "document"), ": " + text));
    });
    errorsBox.replaceChildren(h("div", { class: "notice error" },
      h("p", {}, (problem && problem.detail) || "The design was not accepted."), errors.length ? list : null));
    (firstInput || errorsBox).scrollIntoView({ block: "center" });
    if (firstInput) firstInput.focus();
  }

  document.getElementById("design-form").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    clearErrors();
    const doc = root.get();
    statusEl.textContent = "Evaluating…";
    let res;
    if (cfg.mode === "new") {
      const vis = document.getElementById("new-visibility");
      res = await casip.api("POST", "/api/designs", { document: doc, visibility: vis ? vis.value : "private" });
    } else {
      res = await casip.api("PUT", "/api/designs/" + cfg.design_id, { document: doc, version: cfg.version });
    }
    if (res.ok && res.data && res.data.id !== undefined) {
      statusEl.textContent = "Saved.";
      window.location.href = "/designs/" + encodeURIComponent(res.data.id);
      return;
    }
    statusEl.textContent = "";
    showErrors(res.data || { detail: casip.problemText(res) });
  });
})();
