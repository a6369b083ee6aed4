// A page that comes back with errors: move focus to the first one, so a
// keyboard or screen reader user starts where the correcting starts. That
// is the form's summary when it says what is wrong with the form as a whole
// (data-error-focus), else the first field marked invalid. Without
// JavaScript the summary still announces itself (role="alert") and links
// to each field.
(function () {
  "use strict";
  var first = document.querySelector("[data-error-focus], [aria-invalid='true']");
  if (!first) {
    return;
  }
  var details = first.closest("details");
  if (details) {
    details.open = true;  // a field in a closed <details> cannot take focus
  }
  first.focus();
})();
