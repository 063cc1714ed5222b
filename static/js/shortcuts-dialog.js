// The "?" dialog that lists the keyboard shortcuts (in conversations/_layout.html): shortcuts.js fetches
// this module when the dialog is first opened (the "?" key or button), and calls openShortcuts() then and
// each later time. Closing it returns focus to what opened it.
import { closeDrawer } from "./sidebar.js";
import { isMac } from "./util.js";

const dialog = document.getElementById("shortcuts-dialog");
let dialogOpener = null;

export function openShortcuts(opener) {
  if (!dialog || dialog.open || typeof dialog.showModal !== "function") return;
  dialogOpener = opener || document.activeElement;
  closeDrawer(false);
  // The popovers close (the settings, the Share menu): Escape is the dialog's while it is open.
  ["conversation-settings", "share-menu"].forEach(function (id) {
    const details = document.getElementById(id);
    if (details) details.open = false;
  });
  dialog.showModal();
  const close = dialog.querySelector("[data-close-dialog]");
  if (close) close.focus();
}

function setupDialog() {
  dialog.addEventListener("close", function () {
    const opener = dialogOpener;
    dialogOpener = null;
    if (opener && opener !== document.body && document.contains(opener) && opener.focus) opener.focus();
  });
  dialog.querySelectorAll("[data-close-dialog]").forEach(function (el) {
    el.addEventListener("click", function () { dialog.close(); });
  });
  // A click on the backdrop (outside the dialog box) closes it.
  dialog.addEventListener("click", function (event) {
    if (event.target !== dialog) return;
    const r = dialog.getBoundingClientRect();
    const inside = event.clientX >= r.left && event.clientX <= r.right && event.clientY >= r.top && event.clientY <= r.bottom;
    if (!inside) dialog.close();
  });
  if (isMac) dialog.querySelectorAll(".kbd-mod").forEach(function (k) { k.textContent = "⌘"; k.title = "Command"; });
}

if (dialog) setupDialog();
