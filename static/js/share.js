// A conversation's Share menu: one popover open at a time (it and the settings close each other),
// closed by a click outside (Escape too: shortcuts.js), and a Copy button beside each link. Without
// JavaScript it is a plain <details> with forms. conversation.js fetches this module when the menu is
// first opened.
import { copyText } from "./util.js";

function addCopyButton(input) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-small share-copy";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy link");
  button.addEventListener("click", function () {
    copyText(input.value).then(function () {
      button.textContent = "Copied";
      window.setTimeout(function () { button.textContent = "Copy"; }, 1500);
    }, function () { input.select(); }); // the link stays selected, to copy by hand
  });
  const row = document.createElement("div");
  row.className = "share-url-row";
  input.parentNode.insertBefore(row, input);
  row.appendChild(input);
  row.appendChild(button);
  input.addEventListener("focus", function () { input.select(); });
}

// Set up when the menu is first opened (the toggle that opened it is over: its part is done here too).
export function setupShareMenu(menu) {
  const settings = document.getElementById("conversation-settings");
  function closeSettings() {
    if (menu.open && settings) settings.open = false;
  }
  menu.addEventListener("toggle", closeSettings);
  closeSettings();
  if (settings) {
    settings.addEventListener("toggle", function () {
      if (settings.open) menu.open = false;
    });
  }
  document.addEventListener("click", function (event) {
    if (menu.open && !menu.contains(event.target) && document.contains(event.target)) menu.open = false;
  });
  menu.querySelectorAll(".share-url").forEach(addCopyButton);
  const fresh = menu.querySelector(".share-new .share-url");
  if (menu.open && fresh) fresh.focus();
}
