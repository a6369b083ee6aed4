// Passkey ceremonies for any element with data-passkey="register" or
// "authenticate": fetch options from the server, let the browser's
// authenticator answer, send the answer back, follow the server's redirect.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  async function postJSON(url, payload) {
    var response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(payload || {}),
    });
    var data = {};
    try { data = await response.json(); } catch (ignored) { /* not JSON */ }
    if (!response.ok || data.error) {
      throw new Error(data.error || "The server refused the request. Reload the page and try again.");
    }
    return data;
  }

  function report(button, message) {
    var region = document.getElementById(button.dataset.statusId || "passkey-status");
    if (region) { region.textContent = message; }
  }

  async function register(button) {
    var options = await postJSON(button.dataset.optionsUrl);
    var publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
    var credential = await navigator.credentials.create({ publicKey: publicKey });
    var nameField = document.getElementById(button.dataset.nameField || "passkey-name");
    return postJSON(button.dataset.verifyUrl, {
      credential: credential.toJSON(),
      name: nameField ? nameField.value : "",
    });
  }

  async function authenticate(button) {
    var options = await postJSON(button.dataset.optionsUrl);
    var publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
    var credential = await navigator.credentials.get({ publicKey: publicKey });
    var url = button.dataset.verifyUrl;
    if (button.dataset.next) { url += "?next=" + encodeURIComponent(button.dataset.next); }
    return postJSON(url, { credential: credential.toJSON() });
  }

  function passkeysSupported() {
    return Boolean(window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON
      && PublicKeyCredential.parseRequestOptionsFromJSON && navigator.credentials);
  }

  // Passkey buttons and forms that lead to one start hidden or disabled: a
  // page without this script (JavaScript off) shows its <noscript> advice
  // instead of a button that would do nothing.
  function reveal() {
    var supported = passkeysSupported();
    document.querySelectorAll("[data-passkey]").forEach(function (button) {
      button.hidden = !supported;
    });
    document.querySelectorAll("form[data-needs-passkeys]").forEach(function (form) {
      var flag = form.querySelector('input[name="passkeys"]');
      if (flag) { flag.value = supported ? "supported" : ""; }
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = !supported; });
    });
    document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) {
      note.hidden = supported;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", reveal);
  } else {
    reveal();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-passkey]");
    if (!button) { return; }
    event.preventDefault();
    if (!window.PublicKeyCredential || !PublicKeyCredential.parseCreationOptionsFromJSON) {
      report(button, "This browser cannot use passkeys. Use an up-to-date browser.");
      return;
    }
    button.disabled = true;
    report(button, "Waiting for your passkey…");
    var ceremony = button.dataset.passkey === "register" ? register : authenticate;
    ceremony(button).then(function (result) {
      window.location.assign(result.redirect);
    }).catch(function (error) {
      report(button, error.name === "NotAllowedError"
        ? "The passkey request was cancelled or timed out. Try again."
        : error.message);
      button.disabled = false;
    });
  });
})();
