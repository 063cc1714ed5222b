// Keyboard: the global shortcuts, the "?" dialog that lists them (shortcuts-dialog.js, fetched when first
// opened), and strong focus rings for keyboard users. Loaded on every page (templates/base.html); a
// shortcut whose target is not on the page does nothing.
import { closeDrawer, toggleSidebar } from "./sidebar.js";
import { toggleTheme } from "./theme-toggle.js";
import { announce, macTitles } from "./util.js";

const root = document.documentElement;

// Keyboard users get strong focus rings on the composer; autofocus and clicks do not.
document.addEventListener("keydown", function (event) {
  if (event.key === "Tab") root.classList.add("kbd-nav");
}, true);
document.addEventListener("pointerdown", function () { root.classList.remove("kbd-nav"); }, true);

function isTextField(el) {
  if (!el || el.nodeType !== 1) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  return ["checkbox", "radio", "button", "submit", "reset", "range", "color", "file", "image"].indexOf(el.type) === -1;
}

export function focusComposer() {
  const textarea = document.getElementById("id_prompt");
  if (!textarea) return false;
  closeDrawer(false);
  textarea.focus();
  const end = textarea.value.length;
  try { textarea.setSelectionRange(end, end); } catch (e) { /* ignore */ }
  return true;
}

export function stopRunning() {
  const button = document.querySelector(".turn[data-active] .stop-button");
  if (!button || !button.form) {
    announce("No answer is running.");
    return false;
  }
  if (button.disabled) return true;
  announce("Stopping the answer…");
  button.form.requestSubmit(button);
  button.disabled = true;
  return true;
}

// --- The shortcuts dialog (pages with the sidebar) -------------------------------------------------
const dialog = document.getElementById("shortcuts-dialog");
const canShowDialog = !!dialog && typeof dialog.showModal === "function";
function openShortcuts(opener) {
  if (canShowDialog) import("./shortcuts-dialog.js").then(function (module) { module.openShortcuts(opener); });
}
const dialogButton = document.getElementById("shortcuts-button");
if (dialogButton && canShowDialog) {
  dialogButton.hidden = false;
  dialogButton.addEventListener("click", function () { openShortcuts(dialogButton); });
}

// --- The shortcuts ----------------------------------------------------------------------------
function closeOpenPanel() {
  const account = document.getElementById("account-menu");
  if (account && account.open) {
    account.open = false;
    account.querySelector("summary").focus();
    return true;
  }
  const settings = document.getElementById("conversation-settings");
  const edit = document.activeElement && document.activeElement.closest && document.activeElement.closest(".edit-prompt[open]");
  const share = document.getElementById("share-menu");
  const panel = settings && settings.open ? settings : edit || (share && share.open ? share : null);
  if (!panel) return false;
  panel.open = false;
  panel.querySelector("summary").focus();
  return true;
}
function onKeydown(event) {
  if (event.defaultPrevented || event.isComposing || event.keyCode === 229) return;
  if (document.querySelector("dialog[open]")) return; // a modal dialog handles Escape itself
  const mod = event.ctrlKey || event.metaKey;
  const key = (event.key || "").toLowerCase();
  const code = event.code || "";

  if (mod && event.shiftKey && !event.altKey) {
    if (code === "KeyO" || key === "o") {
      const newChat = document.getElementById("new-chat");
      if (newChat) { event.preventDefault(); window.location.href = newChat.href; }
    } else if (code === "KeyS" || key === "s") {
      if (document.getElementById("app")) { event.preventDefault(); stopRunning(); }
    } else if (code === "KeyB" || key === "b") {
      if (document.getElementById("sidebar")) { event.preventDefault(); toggleSidebar(); }
    } else if (code === "KeyL" || key === "l") {
      event.preventDefault();
      toggleTheme();
    }
    return;
  }
  if (event.key === "Escape" && !mod && !event.altKey) {
    if (event.shiftKey) {
      if (focusComposer()) event.preventDefault();
      return;
    }
    // The drawer, else the settings popover, else the prompt editor being typed in, else the Share menu.
    if (closeDrawer() || closeOpenPanel()) event.preventDefault();
    return;
  }
  if (mod || event.altKey || isTextField(event.target)) return;
  if (event.key === "?") {
    event.preventDefault();
    openShortcuts();
  } else if (event.key === "/") {
    if (focusComposer()) event.preventDefault();
  }
}

document.addEventListener("keydown", onKeydown);
// The sidebar's account menu (a <details>) closes on a click outside it.
document.addEventListener("click", function (event) {
  const account = document.getElementById("account-menu");
  if (account && account.open && !account.contains(event.target)) account.open = false;
});
macTitles(document);
