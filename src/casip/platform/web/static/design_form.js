"use strict";
/* A form generated from the design JSON Schema (casip.design/1): objects become fieldsets,
   numbers get their min/max, enums become selects, discriminated unions (format) a select that
   switches sub-forms, nullable objects an "include" checkbox. Material fields are selects of the
   library's materials of the right category (GET /api/materials), the anode's active blend and
   the notes are rows (add/remove); other free maps a JSON text box. Errors (problem+json
   "errors": [{field, message, value, expected}]) are shown once per field, next to it. */
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
  /** the library categories each material field takes (as the design engine checks them) */
  const MATERIAL_FIELDS = {
    "cathode.active": ["cathode_active"],
    "cathode.catholyte": ["solid_electrolyte"],
    "cathode.carbon": ["conductive_carbon"],
    "cathode.binder": ["binder"],
    "anode.electrolyte": ["solid_electrolyte"],
    "anode.carbon": ["conductive_carbon"],
    "anode.binder": ["binder"],
    "separator.material": ["separator", "solid_electrolyte"],
    "current_collectors.positive.material": ["current_collector"],
    "current_collectors.negative.material": ["current_collector"],
    "electrolyte.material": ["liquid_electrolyte"],
    "format.laminate": ["packaging"],
    "format.can": ["packaging"],
    "format.terminals.positive.material": ["terminal"],
    "format.terminals.negative.material": ["terminal"],
    "pressure_hardware.material": ["hardware"],
  };
  const BLEND_FIELDS = { "anode.active": "anode_active" };
  const CATEGORY_LABELS = { cathode_active: "cathode actives", anode_active: "anode actives",
    solid_electrolyte: "solid electrolytes", liquid_electrolyte: "liquid electrolytes", binder: "binders",
    conductive_carbon: "conductive carbons", current_collector: "current collectors", separator: "separators",
    packaging: "packaging", terminal: "terminals", hardware: "hardware" };
  /** the materials library by category, filled from GET /api/materials before the form is built */
  const library = {};
  let libraryLoaded = false;
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
    if (isObject(s) && BLEND_FIELDS[path] && libraryLoaded) return blendField(s, value, path, key, required, BLEND_FIELDS[path]);
    if (isObject(s) && path === "notes") return notesField(s, value, path, key);
    if (isObject(s)) return mapField(s, value, path, key, required);
    if (MATERIAL_FIELDS[path] && libraryLoaded && s.type === "string") return materialField(s, value, path, key, required, MATERIAL_FIELDS[path]);
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

  function newId(path, tag) { return "f-" + path.replace(/[^a-zA-Z0-9]+/g, "-") + "-" + tag + (++uid); }
  /** a select of the library's materials of `cats` (grouped when several), keeping a value the
   *  library lacks (a user's own material) as an extra option */
  function materialSelect(id, name, cats, value, required) {
    const control = h("select", { id: id, name: name });
    if (!required) control.append(h("option", { value: "" }, "(none)"));
    let known = false;
    cats.forEach(function (cat) {
      const parent = cats.length > 1 ? h("optgroup", { label: CATEGORY_LABELS[cat] || cat }) : control;
      (library[cat] || []).forEach(function (m) {
        if (m.id === value) known = true;
        const text = m.name.indexOf(m.id) >= 0 ? m.name : m.name + " (" + m.id + ")";
        parent.append(h("option", { value: m.id, title: text }, text));
      });
      if (parent !== control) control.append(parent);
    });
    if (value && !known) control.append(h("option", { value: value }, value + " (not in the library)"));
    control.value = value || "";
    return control;
  }
  function materialField(s, value, path, key, required, cats) {
    if (value === undefined || value === null) value = s.default !== undefined ? s.default : undefined;
    const control = materialSelect(newId(path, ""), path, cats, value, required);
    const own = (s.description || "").trim().replace(/\s*\(category \w+\)/, "");
    const desc = (own ? own.charAt(0).toUpperCase() + own.slice(1) + (/[.)]$/.test(own) ? " " : ". ") : "") +
      "From the library's " + cats.map(function (c) { return CATEGORY_LABELS[c] || c; }).join(" or ") + ".";
    const box = fieldBox(path, key, Object.assign({}, s, { description: desc }), control, required);
    return { el: box, get: function () { return control.value === "" ? undefined : control.value; } };
  }
  /** editable rows in a fieldset: makeRow(values) -> {el, get, focus}; get() of the whole is
   *  rows' values folded by `fold` */
  function rowsField(path, key, s, rows0, makeRow, fold, addLabel, blank) {
    const list = h("div", { class: "rows" });
    const err = h("div", { class: "err", role: "alert" });
    const rows = [];
    function add(values, focus) {
      const row = makeRow(values);
      const remove = h("button", { type: "button", class: "small remove-row",
        "aria-label": "remove this row of " + label(key).toLowerCase() }, "Remove");
      const line = h("div", { class: "row" }, row.el, remove);
      const entry = { line: line, get: row.get };
      remove.addEventListener("click", function () {
        rows.splice(rows.indexOf(entry), 1);
        line.remove();
      });
      rows.push(entry);
      list.append(line);
      if (focus && row.focus) row.focus();
    }
    rows0.forEach(function (v) { add(v); });
    const addBtn = h("button", { type: "button", class: "small add-row" }, addLabel);
    addBtn.addEventListener("click", function () { add(blank(), true); });
    const box = h("fieldset", { class: "rows-field", "data-path": path }, h("legend", {}, label(key)),
      s.description ? h("p", { class: "help muted small" }, s.description) : null, list, addBtn, err);
    register(path, { input: null, err: err, box: box });
    return { el: box, get: function () { return fold(rows.map(function (r) { return r.get(); })); } };
  }
  /** a blend by mass: rows of (material, mass fraction) */
  function blendField(s, value, path, key, required, cat) {
    const start = value && Object.keys(value).length ? Object.keys(value).map(function (k) { return [k, value[k]]; })
      : [[(library[cat] || [{}])[0].id, 1]];
    return rowsField(path, key, Object.assign({}, s, { description:
        "A blend of the library's anode actives: one row per material, mass fractions adding up to 1." }), start,
      function (kv) {
        const sel = materialSelect(newId(path, "m"), path + ".material", [cat], kv[0], true);
        const frac = h("input", { id: newId(path, "x"), name: path + ".fraction", type: "number", step: "any",
          min: "0", max: "1", inputmode: "decimal", value: kv[1] === undefined ? "" : kv[1] });
        return { el: h("span", { class: "row-cells" },
          h("label", { for: sel.id }, "Material"), sel,
          h("label", { for: frac.id }, "Mass fraction"), frac),
          get: function () { return [sel.value, frac.value === "" ? undefined : Number(frac.value)]; },
          focus: function () { sel.focus(); } };
      },
      function (pairs) {
        if (!pairs.length) return undefined;
        const out = {};
        pairs.forEach(function (p) { if (p[0]) out[p[0]] = (out[p[0]] || 0) + (p[1] === undefined ? NaN : p[1]); });
        return out;
      }, "Add a material", function () { return ["", ""]; });
  }
  /** free-text notes: rows of (field path, source or "assumed: why") */
  function notesField(s, value, path, key) {
    const start = value ? Object.keys(value).map(function (k) { return [k, value[k]]; }) : [];
    return rowsField(path, key, s, start,
      function (kv) {
        const k = h("input", { id: newId(path, "k"), name: path + ".key", type: "text", maxlength: "200",
          value: kv[0] || "", placeholder: "e.g. cathode.porosity" });
        const v = h("input", { id: newId(path, "v"), name: path + ".value", type: "text", maxlength: "1000",
          value: kv[1] || "", placeholder: "source, or assumed: why" });
        return { el: h("span", { class: "row-cells" },
          h("label", { for: k.id }, "Field"), k, h("label", { for: v.id }, "Note"), v),
          get: function () { return [k.value.trim(), v.value]; }, focus: function () { k.focus(); } };
      },
      function (pairs) {
        const out = {};
        pairs.forEach(function (p) { if (p[0] || p[1]) out[p[0]] = p[1]; });
        return Object.keys(out).length ? out : undefined;
      }, "Add a note", function () { return ["", ""]; });
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
  /** the library first (selects of materials); without it, material fields stay text boxes */
  async function start() {
    const r = await casip.api("GET", "/api/materials");
    if (r.ok && r.data && Array.isArray(r.data.items)) {
      r.data.items.forEach(function (m) { (library[m.category] = library[m.category] || []).push(m); });
      libraryLoaded = true;
    } else {
      errorsBox.replaceChildren(h("p", { class: "notice" },
        "The materials library could not be loaded (" + casip.problemText(r) + "): type material ids."));
    }
    build(cfg.document);
  }

  const startFrom = document.getElementById("start-from");
  start();
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
  /** one message from a problem's error: "message; got value; expected ..." (each part once) */
  function errorText(e) {
    let text = String(e.message || "invalid");
    const shown = e.value === undefined || e.value === null ? null : JSON.stringify(e.value);
    if (shown !== null && text.indexOf(shown) < 0 && text.indexOf(String(e.value)) < 0) text += "; got " + shown;
    if (e.expected && text.indexOf(e.expected) < 0) text += "; expected " + e.expected;
    return text;
  }
  function showErrors(problem) {
    const errors = (problem && problem.errors) || [];
    // one message per field (several errors for one field are joined, duplicates dropped)
    const byField = {};
    const order = [];
    errors.forEach(function (e) {
      const field = String(e.field || "").replace(/^document\.?/, "");
      if (!byField[field]) { byField[field] = []; order.push(field); }
      const text = errorText(e);
      if (byField[field].indexOf(text) < 0) byField[field].push(text);
    });
    const list = h("ul");
    let firstInput = null;
    const inline = {};
    order.forEach(function (field) {
      const text = byField[field].join("; ");
      let path = field;
      while (path && !registry[path]) path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : "";
      if (path) {
        const line = (path !== field ? field.slice(path.length + 1) + ": " : "") + text;
        (inline[path] = inline[path] || []).push(line);
        registry[path].forEach(function (en) {
          en.err.textContent = inline[path].join(" · ");
          if (en.input) {
            en.input.setAttribute("aria-invalid", "true");
            if (!firstInput && en.box.offsetParent !== null) firstInput = en.input;
          }
        });
      }
      list.append(h("li", {}, h("strong", {}, field || "document"), ": " + text));
    });
    const n = order.length;
    const head = n ? "The design was not accepted: " + n + " field" + (n === 1 ? "" : "s") + " to correct."
      : (problem && problem.detail) || "The design was not accepted.";
    errorsBox.replaceChildren(h("div", { class: "notice error" }, h("p", {}, head), n ? list : null));
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
