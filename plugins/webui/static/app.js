// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Ask before destructive actions: <button data-confirm="Delete everything?">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  // Bulk forms: "select all" and buttons that need at least one row selected.
  document.querySelectorAll("form.bulk").forEach(function (form) {
    var boxes = form.querySelectorAll("tbody input[type=checkbox]");
    var all = form.querySelector("input.select-all");
    var needy = form.querySelectorAll("[data-needs-selection]");
    function refresh() {
      var chosen = Array.prototype.some.call(boxes, function (box) { return box.checked; });
      needy.forEach(function (button) { button.disabled = !chosen; });
    }
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        refresh();
      });
    }
    boxes.forEach(function (box) { box.addEventListener("change", refresh); });
    refresh();
  });
})();
