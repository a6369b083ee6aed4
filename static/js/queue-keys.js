// Keyboard shortcuts of the reset queue: "/" goes to the search box, "j" and
// "k" move a selection through the table's rows (the row's case link gets
// the focus, so Enter opens it; a colleague's case has no link and gets the
// focus itself), "?" opens the list of shortcuts (the same
// <details> the "Keyboard shortcuts" button opens; without JavaScript it
// still opens by itself), Escape closes it. Keys typed into a field are the
// field's. Nothing on the page needs these.
(function () {
  "use strict";

  var search = document.getElementById("id_q");
  var help = document.getElementById("shortcuts");
  var table = document.getElementById("queue-cases");
  var current = -1;

  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function rows() {
    return table ? Array.prototype.slice.call(table.tBodies[0].rows) : [];
  }

  function mark(index) {
    var list = rows();
    current = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (row, i) {
      row.classList.toggle("selected", i === current);
      if (i === current) { row.setAttribute("aria-current", "true"); } else { row.removeAttribute("aria-current"); }
    });
  }

  function select(index) {
    if (!rows().length) { return; }
    mark(index);
    var row = rows()[current];
    var link = row.querySelector("a[data-case-link]");
    if (link) {
      link.focus();
    } else {  // a colleague's case: nothing to open, the row itself shows where we are
      row.tabIndex = -1;
      row.focus();
    }
  }

  function openHelp() {
    if (!help) { return; }
    help.open = true;
    help.querySelector("summary").focus();
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape" && help && help.open) {
      help.open = false;
      help.querySelector("summary").focus();
      return;
    }
    if (typing(event.target)) { return; }
    if (event.key === "/" && search) {
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.key === "j") {
      event.preventDefault();
      select(current + 1);
    } else if (event.key === "k") {
      event.preventDefault();
      select(current < 0 ? 0 : current - 1);
    } else if (event.key === "?") {
      event.preventDefault();
      openHelp();
    } else if (event.key === "Enter" && current >= 0 && event.target === document.body) {
      // The selected row lost the focus (a click on the page): Enter still opens it.
      var link = rows()[current].querySelector("a[data-case-link]");
      if (link) { window.location.assign(link.href); }
    }
  });

  if (table) {
    // A row reached with Tab or a click becomes the selection j and k move from.
    table.addEventListener("focusin", function (event) {
      var row = event.target.closest("tbody tr");
      var index = rows().indexOf(row);
      if (index >= 0) { mark(index); }
    });
  }
}());
