/* CreativeOps pages: copy-to-clipboard buttons and the "Generating…" state of the regenerate form.
   No framework; the pages work without it (copying then means selecting the text). */
(function () {
  "use strict";

  function copyWithSelection(text) {
    // Fallback for browsers or contexts (plain http, denied permission) without navigator.clipboard.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.top = "-1000px";
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    document.body.removeChild(area);
    return copied;
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).then(
        function () { return true; },
        function () { return copyWithSelection(text); }
      );
    }
    return Promise.resolve(copyWithSelection(text));
  }

  function showCopyResult(button, copied) {
    var status = document.getElementById(button.getAttribute("data-copy-status"));
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = copied ? "Copied" : "Copy failed";
    if (status) {
      status.textContent = copied ? "Copied to the clipboard." : "Could not copy: select the text and press Ctrl+C.";
    }
    window.setTimeout(function () {
      button.textContent = label;
      if (status) { status.textContent = ""; }
    }, 2500);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-text]");
    if (!button) { return; }
    event.preventDefault();
    copyText(button.getAttribute("data-copy-text")).then(function (copied) {
      showCopyResult(button, copied);
    });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-progress")) { return; }
    var button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.textContent = "Generating…";
    }
    form.setAttribute("aria-busy", "true");
    var progress = document.getElementById(form.getAttribute("data-progress"));
    if (progress) { progress.hidden = false; }
  });
})();
