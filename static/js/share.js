// A conversation's Share menu: one popover open at a time (it and the settings close each other),
// closed by Escape or a click outside, and a Copy button beside each link. Without JavaScript it is a
// plain <details> with forms.
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

function setupShareMenu(menu) {
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
  menu.querySelectorAll(".share-url").forEach(addCopyButton);
  const fresh = menu.querySelector(".share-new .share-url");
  if (menu.open && fresh) fresh.focus();
}

const menu = document.getElementById("share-menu");
if (menu) setupShareMenu(menu);
