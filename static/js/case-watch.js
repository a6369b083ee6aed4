// A case page waiting for an answer (an attestation link is out) asks the
// server every few seconds whether the case changed, and when it did shows
// the new page in place. Without JavaScript a reload does the same.
// It stops after ten minutes (the console's idle timeout is fifteen, and
// these requests do not count as activity) or at the first odd answer.
(function () {
  "use strict";

  var EVERY_MS = 3000;
  var GIVE_UP_MS = 10 * 60 * 1000;

  function typing(main) {
    var fields = main.querySelectorAll("input[type=text], input:not([type]), textarea");
    return Array.prototype.some.call(fields, function (field) { return field.value !== field.defaultValue; });
  }

  function note(section, text) {
    Array.prototype.forEach.call(section.querySelectorAll(".watch-note"), function (el) {
      el.textContent = text;
    });
  }

  async function showNewPage(anchor) {
    var response = await fetch(window.location.pathname, { credentials: "same-origin" });
    if (!response.ok) { throw new Error("page " + response.status); }
    var fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    var main = fresh.querySelector("main");
    if (!main) { throw new Error("no main"); }
    document.querySelector("main").replaceWith(document.adoptNode(main));
    var target = anchor && document.getElementById(anchor);
    if (target) { target.scrollIntoView(); }
    var live = document.getElementById("watch-status");
    if (live) { live.textContent = "The case changed: this page shows it now."; }
    watch();
  }

  function watch() {
    var section = document.querySelector("[data-watch]");
    if (!section) { return; }
    var started = Date.now();
    note(section, "This page updates by itself when the answer arrives.");

    async function poll() {
      if (Date.now() - started > GIVE_UP_MS) {
        note(section, "Reload this page to see the answer.");
        return;
      }
      try {
        var response = await fetch(section.dataset.watch, {
          credentials: "same-origin", headers: { "Accept": "application/json" },
        });
        var data = await response.json();
        if (data.version === section.dataset.version) {
          window.setTimeout(poll, EVERY_MS);
        } else if (typing(document.querySelector("main"))) {
          note(section, "The case changed. Reload this page to see it (what you typed is kept until then).");
        } else {
          var waiting = section.querySelector(".step .waiting");
          var step = waiting && waiting.closest(".step");
          await showNewPage(step ? step.id : "");
        }
      } catch (ignored) {
        note(section, "Reload this page to see the answer.");
      }
    }

    window.setTimeout(poll, EVERY_MS);
  }

  watch();
})();
