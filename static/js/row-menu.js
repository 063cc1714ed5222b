// The sidebar's row menu, one for every row: pin or unpin, rename in place, archive, delete (without
// JavaScript they are on each conversation's page). conversation-list.js fetches this module at the first
// click on a row's menu button, and calls toggleMenu() for that click and each later one.
import { confirmAction } from "./confirm-dialog.js";

const ZERO = "00000000-0000-0000-0000-000000000000";

let openFor = null;
function rowUrl(id, action) {
  const list = document.getElementById("conversation-list");
  return list.dataset.rowUrl.replace(ZERO, id) + action + "/";
}
function closeMenu(returnFocus) {
  const menu = document.getElementById("row-menu");
  if (!menu || menu.hidden) return false;
  menu.hidden = true;
  if (openFor) {
    openFor.setAttribute("aria-expanded", "false");
    openFor.closest(".conversation-row").classList.remove("menu-open");
    if (returnFocus) openFor.focus();
  }
  openFor = null;
  return true;
}
// The menu below `button` (its row's), or closed if it is open there.
export function toggleMenu(button) {
  const menu = document.getElementById("row-menu");
  const row = button.closest(".conversation-row");
  if (!menu || !row) return;
  if (openFor === button) { closeMenu(true); return; }
  closeMenu(false);
  openFor = button;
  const pinned = !!row.dataset.pinned;
  menu.querySelectorAll("[data-action]").forEach(function (item) {
    const action = item.dataset.action;
    item.hidden = (action === "pin" && pinned) || (action === "unpin" && !pinned);
    if (item.type === "submit") item.formAction = rowUrl(row.dataset.id, action);
  });
  menu.dataset.id = row.dataset.id;
  menu.dataset.title = row.dataset.title;
  button.setAttribute("aria-expanded", "true");
  row.classList.add("menu-open");
  menu.hidden = false;
  // Below the button, kept inside the window.
  const box = button.getBoundingClientRect();
  const top = Math.min(box.bottom + 4, window.innerHeight - menu.offsetHeight - 8);
  menu.style.top = Math.max(8, top) + "px";
  menu.style.left = Math.max(8, Math.min(box.right - menu.offsetWidth, window.innerWidth - menu.offsetWidth - 8)) + "px";
  const first = menu.querySelector("[data-action]:not([hidden])");
  if (first) first.focus();
}
function renameInline(id, title) {
  const row = document.querySelector('#conversation-list .conversation-row[data-id="' + id + '"]');
  const token = document.querySelector("#row-action-form [name=csrfmiddlewaretoken]");
  if (!row || !token) return;
  const link = row.querySelector(".conversation-link");
  const form = document.createElement("form");
  form.method = "post";
  form.action = rowUrl(id, "rename");
  form.className = "row-rename";
  const fields = { csrfmiddlewaretoken: token.value, next: window.location.pathname + window.location.search };
  Object.keys(fields).forEach(function (name) {
    const hidden = document.createElement("input");
    hidden.type = "hidden";
    hidden.name = name;
    hidden.value = fields[name];
    form.appendChild(hidden);
  });
  const input = document.createElement("input");
  input.type = "text";
  input.name = "title";
  input.value = title;
  input.maxLength = 200;
  input.required = true;
  input.setAttribute("aria-label", "New title");
  form.appendChild(input);
  link.hidden = true;
  row.insertBefore(form, link);
  let done = false;
  function cancel() {
    if (done) return; // removing the form blurs the field, which cancels again
    done = true;
    form.remove();
    link.hidden = false;
    link.focus();
  }
  input.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); cancel(); }
  });
  input.addEventListener("blur", function () {
    if (!form.dataset.sending) cancel();
  });
  form.addEventListener("submit", function (event) {
    if (!input.value.trim()) { event.preventDefault(); cancel(); return; }
    form.dataset.sending = "1";
  });
  input.focus();
  input.select();
}
function setupMenu() {
  const menu = document.getElementById("row-menu");
  if (!menu) return;
  // A click elsewhere closes it (one on a menu button is conversation-list.js's: toggleMenu).
  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest(".row-menu-button");
    if (!button && !menu.contains(event.target)) closeMenu(false);
  });
  menu.addEventListener("click", function (event) {
    const item = event.target.closest("[data-action]");
    if (!item) return;
    const id = menu.dataset.id;
    const title = menu.dataset.title;
    if (item.dataset.action === "rename") {
      closeMenu(false);
      renameInline(id, title);
    } else if (item.dataset.action === "delete") {
      event.preventDefault();
      const opener = openFor;
      confirmAction("Delete “" + title + "”?", "Its prompts and answers will be deleted for good. " +
        "What they cost stays in the usage ledger and your usage totals.", "Delete").then(function (ok) {
        closeMenu(false);
        if (ok) item.form.requestSubmit(item);
        else if (opener && opener.isConnected) opener.focus();
      });
    }
  });
  menu.addEventListener("keydown", function (event) {
    const items = Array.prototype.filter.call(menu.querySelectorAll("[data-action]"), function (i) { return !i.hidden; });
    const index = items.indexOf(document.activeElement);
    if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); closeMenu(true); }
    else if (event.key === "ArrowDown") { event.preventDefault(); items[(index + 1) % items.length].focus(); }
    else if (event.key === "ArrowUp") { event.preventDefault(); items[(index - 1 + items.length) % items.length].focus(); }
    else if (event.key === "Tab") closeMenu(false);
  });
  const list = document.getElementById("conversation-list");
  if (list) list.addEventListener("scroll", function () { closeMenu(false); }, { passive: true });
  window.addEventListener("resize", function () { closeMenu(false); });
}


setupMenu();
