// Bulk forms (alerts, stale channels): a "choose every row on this page"
// box in the table head, and the count chosen on the submit button. Without
// JavaScript the rows are ticked one by one and the form works the same.
(function () {
  "use strict";
  document.querySelectorAll("form.bulk").forEach(function (form) {
    var name = form.getAttribute("data-bulk");
    var all = form.querySelector("input.select-all");
    var submit = form.querySelector(".bulk-action button[type=submit]");
    var label = submit ? submit.textContent : "";
    var rows = function () {
      return Array.prototype.slice.call(
        form.querySelectorAll('input[type=checkbox][name="' + name + '"]'));
    };
    var update = function () {
      var boxes = rows();
      var ticked = boxes.filter(function (box) { return box.checked; }).length;
      if (all) {
        all.checked = boxes.length > 0 && ticked === boxes.length;
        all.indeterminate = ticked > 0 && ticked < boxes.length;
      }
      if (submit) {
        submit.textContent = ticked ? label + " (" + ticked + ")" : label;
      }
    };
    if (all && rows().length) {
      all.hidden = false;
      all.addEventListener("change", function () {
        rows().forEach(function (box) { box.checked = all.checked; });
        update();
      });
    }
    form.addEventListener("change", update);
    update();
  });
})();
