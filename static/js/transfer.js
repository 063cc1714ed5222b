// The Share menu of a conversation: one popover open at a time, closed by Escape or a click
// outside, and a Copy button beside each link; the import page's busy state. Without
// JavaScript both still work (a plain <details> with forms, a plain upload form).
(function () {
  "use strict";

  function copy(input, button) {
    const done = function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
    } else {
      // Plain http has no async clipboard: select the text and use the legacy command.
      input.select();
      try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected */ }
    }
  }

  // The import page: say that a large import takes a while, and keep it from being sent twice.
  function setupImport() {
    const form = document.querySelector(".import-form");
    if (!form) return;
    form.addEventListener("submit", function () {
      const button = document.getElementById("import-button");
      const busy = document.getElementById("import-busy");
      window.setTimeout(function () {
        if (button) { button.disabled = true; button.textContent = "Importing…"; }
        if (busy) busy.hidden = false;
      }, 0);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupImport();
    const menu = document.getElementById("share-menu");
    if (!menu) return;
    const settings = document.getElementById("conversation-settings");
    menu.addEventListener("toggle", function () {
      if (menu.open && settings) settings.open = false;
    });
    if (settings) {
      settings.addEventListener("toggle", function () {
        if (settings.open) menu.open = false;
      });
    }
    document.addEventListener("click", function (event) {
      if (menu.open && !menu.contains(event.target) && document.contains(event.target)) menu.open = false;
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.open && !event.defaultPrevented) {
        event.preventDefault();
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
    menu.querySelectorAll(".share-url").forEach(function (input) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-small share-copy";
      button.textContent = "Copy";
      button.setAttribute("aria-label", "Copy link");
      button.addEventListener("click", function () { copy(input, button); });
      const row = document.createElement("div");
      row.className = "share-url-row";
      input.parentNode.insertBefore(row, input);
      row.appendChild(input);
      row.appendChild(button);
      input.addEventListener("focus", function () { input.select(); });
    });
    const fresh = menu.querySelector(".share-new .share-url");
    if (menu.open && fresh) fresh.focus();
  });
})();
