// Tells the console the browser's time zone, so pages show times in it (a
// staff member's own preference, set on their time zone page, comes first).
// The server reads the cookie from the next page on; without JavaScript,
// times show in UTC (or the preference), labelled either way.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (error) {
    return;
  }
  if (!zone || zone.length > 64) {
    return;
  }
  var cookie = "tz=" + encodeURIComponent(zone);
  if (document.cookie.split("; ").indexOf(cookie) !== -1) {
    return;
  }
  var secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = cookie + "; Path=/; Max-Age=31536000; SameSite=Lax" + secure;
})();
