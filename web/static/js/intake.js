/* Demand form enhancements (vanilla JS, no dependencies). Without JS the form still works:
 * the region is one grouped <select>, the skills are checkboxes in groups.
 *  - region: cascading selects province → city → district, built from and setting the original <select>;
 *  - skills: a search box, chips of the chosen skills, a limit of data-max;
 *  - submit: the button is disabled after the first click (the server is double-click safe anyway). */
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  // The cascade is built from the plain grouped <select> itself (each option names its parent; the provinces
  // come with the cascade box), so the page carries the region list once; without JS the <select> stays.
  function regionCascade(form) {
    var field = form.querySelector("[data-region-field]");
    var original = field && field.querySelector("[data-region-select]");
    if (!original) { return; }
    var box = field.querySelector("[data-cascade]");
    var regions = JSON.parse(box.getAttribute("data-provinces") || "[]").map(function (province) {
      return { c: province[0], n: province[1], p: null };
    });
    Array.prototype.forEach.call(original.options, function (option) {
      if (!option.value) { return; }
      regions.push({ c: option.value, n: option.getAttribute("data-n") || option.textContent,
                     p: option.getAttribute("data-p") || null });
    });
    buildCascade(field, original, regions);
  }

  function buildCascade(field, original, regions) {
    var box = field.querySelector("[data-cascade]");
    var labels = JSON.parse(box.getAttribute("data-labels") || "{}");
    var byCode = {}, children = {};
    regions.forEach(function (r) {
      byCode[r.c] = r;
      (children[r.p || ""] = children[r.p || ""] || []).push(r);
    });
    var levels = [labels.province, labels.city, labels.district];
    var selects = levels.map(function (label, index) {
      var id = "region_level_" + index;
      var wrap = el("div");
      wrap.appendChild(el("label", { "for": id }, label));
      var select = el("select", { id: id, "data-level": String(index) });
      if (index === 0) {  // the field's name, required mark, hint and error now belong to the first level
        select.required = true;
        ["aria-describedby", "aria-invalid"].forEach(function (name) {
          if (original.hasAttribute(name)) { select.setAttribute(name, original.getAttribute(name)); }
        });
      }
      wrap.appendChild(select);
      box.appendChild(wrap);
      select.addEventListener("change", function () { onChange(index); });
      return select;
    });

    function fill(index, parentCode, selected) {
      var select = selects[index];
      var options = parentCode === null ? children[""] : (children[parentCode] || []);
      select.innerHTML = "";
      select.parentNode.hidden = options.length === 0;
      if (!options.length) { return; }
      var placeholder = index === 0 ? labels.choose : (labels.choose + " " + (labels.whole || ""));
      select.appendChild(el("option", { value: "" }, placeholder));
      options.forEach(function (r) {
        var option = el("option", { value: r.c }, r.n);
        if (r.c === selected) { option.selected = true; }
        select.appendChild(option);
      });
    }

    function deepest() {
      for (var i = selects.length - 1; i >= 0; i -= 1) {
        if (!selects[i].parentNode.hidden && selects[i].value) { return selects[i].value; }
      }
      return "";
    }

    function onChange(index) {
      for (var i = index + 1; i < selects.length; i += 1) {
        if (i === index + 1 && selects[index].value) { fill(i, selects[index].value, null); }
        else { selects[i].innerHTML = ""; selects[i].parentNode.hidden = true; }
      }
      original.value = deepest();
      original.dispatchEvent(new Event("change"));
    }

    // start from the value the server rendered (after an error, what was chosen stays chosen)
    var path = [], code = original.value;
    while (code && byCode[code]) { path.unshift(code); code = byCode[code].p; }
    fill(0, null, path[0] || null);
    for (var i = 1; i < selects.length; i += 1) {
      if (path[i - 1]) { fill(i, path[i - 1], path[i] || null); }
      else { selects[i].parentNode.hidden = true; }
    }
    original.hidden = true;
    original.setAttribute("aria-hidden", "true");
    original.tabIndex = -1;
    field.querySelector("label[for=region_code]").setAttribute("for", "region_level_0");
    box.hidden = false;
  }

  function skillsPicker(form) {
    var picker = form.querySelector("[data-skills-picker]");
    if (!picker) { return; }
    var max = parseInt(picker.getAttribute("data-max") || "12", 10);
    var filter = picker.querySelector("[data-skill-filter]");
    var chips = picker.querySelector("[data-skill-chips]");
    var boxes = Array.prototype.slice.call(picker.querySelectorAll("input[type=checkbox][name=skills]"));

    function labelOf(box) { return box.parentNode.textContent.replace(/\s+/g, " ").trim(); }

    function render() {
      var chosen = boxes.filter(function (b) { return b.checked; });
      chips.innerHTML = "";
      chosen.forEach(function (box) {
        var chip = el("span", { "class": "chip" }, labelOf(box));
        var remove = el("button", { type: "button", "aria-label": "×" }, "×");
        remove.addEventListener("click", function () { box.checked = false; render(); });
        chip.appendChild(remove);
        chips.appendChild(chip);
      });
      boxes.forEach(function (b) { b.disabled = !b.checked && chosen.length >= max; });
    }

    boxes.forEach(function (b) { b.addEventListener("change", render); });
    filter.hidden = false;
    filter.addEventListener("input", function () {
      var term = filter.value.trim().toLowerCase();
      picker.querySelectorAll(".skill-group").forEach(function (group) {
        var any = false;
        group.querySelectorAll(".check").forEach(function (label) {
          var hit = !term || label.textContent.toLowerCase().indexOf(term) >= 0 ||
            group.querySelector("summary").textContent.toLowerCase().indexOf(term) >= 0;
          label.hidden = !hit;
          any = any || hit;
        });
        group.hidden = !any;
        if (term) { group.open = any; }
      });
    });
    render();
  }

  function submitOnce(form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("[data-submit]");
      if (button) { window.setTimeout(function () { button.disabled = true; }, 0); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-intake-form]");
    if (!form) { return; }
    regionCascade(form);
    skillsPicker(form);
    submitOnce(form);
  });
}());
