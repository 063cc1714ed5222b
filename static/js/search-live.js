// The sidebar's search as the user types: the results (one per conversation, its best snippets and a
// count: the server draws them, conversations/_search_panel.html) take the list's place, a pause of
// DELAY ms after the last key; a newer search cancels the one in flight. The keyboard: ↓ from the box
// into the results, ↑ ↓ between them, Enter opens one, Escape clears the search (and the list is back).
// Enter in the box still submits the form to the search page, as without JavaScript (with the filters).
// conversation-list.js fetches this module when the box is first focused.
import { announce, parseFragment } from "./util.js";

const DELAY = 250;
const input = document.getElementById("search-q");
const form = input && input.form;
const list = document.getElementById("conversation-list");
let panel = null;
let timer = 0;
let controller = null;
let shown = ""; // the text whose results are on screen

function makePanel() {
  panel = document.createElement("section");
  panel.id = "search-panel";
  panel.className = "search-panel";
  panel.setAttribute("aria-label", "Search results");
  panel.hidden = true;
  form.after(panel);
  panel.addEventListener("keydown", onPanelKey);
}

function links() {
  return panel && !panel.hidden ? Array.prototype.slice.call(panel.querySelectorAll("a[href]")) : [];
}

function cancel() {
  window.clearTimeout(timer);
  if (controller) controller.abort();
  controller = null;
}

function close() {
  cancel();
  shown = "";
  if (panel) {
    panel.hidden = true;
    panel.replaceChildren();
    panel.removeAttribute("aria-busy");
  }
  if (list) list.hidden = false;
}

function show(content) {
  panel.replaceChildren(content);
  panel.hidden = false;
  panel.scrollTop = 0;
  if (list) list.hidden = true;
}

function note(text) {
  const p = document.createElement("p");
  p.className = "panel-note panel-error";
  p.textContent = text;
  return p;
}

function search() {
  const text = input.value.trim();
  if (!text) { close(); return; }
  if (text === shown && !controller) return;
  cancel();
  const mine = new AbortController();
  controller = mine;
  panel.setAttribute("aria-busy", "true");
  const url = form.action + "?q=" + encodeURIComponent(text);
  fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin", signal: mine.signal })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    })
    .then(function (html) {
      if (controller !== mine) return; // a newer search is on its way
      controller = null;
      shown = text;
      panel.removeAttribute("aria-busy");
      show(parseFragment(html));
      const summary = panel.querySelector(".panel-note");
      if (summary) announce(summary.textContent.trim());
    })
    .catch(function (error) {
      if (error.name === "AbortError" || controller !== mine) return;
      controller = null;
      panel.removeAttribute("aria-busy");
      show(note("The search could not be run. Press Enter to search on the search page."));
      announce("The search could not be run.");
    });
}

function schedule() {
  window.clearTimeout(timer);
  if (!input.value.trim()) { close(); return; }
  timer = window.setTimeout(search, DELAY);
}

function clearSearch() {
  input.value = "";
  close();
  input.focus();
  announce("Search cleared.");
}

function move(from, step) {
  const all = links();
  if (!all.length) return;
  const at = all.indexOf(from);
  if (at === -1) { all[step > 0 ? 0 : all.length - 1].focus(); return; }
  const next = at + step;
  if (next < 0) input.focus();
  else all[Math.min(next, all.length - 1)].focus();
}

function onInputKey(event) {
  if (event.isComposing) return;
  if (event.key === "Escape" && input.value) {
    event.preventDefault(); // not the shortcuts' Escape (which closes the drawer)
    clearSearch();
  } else if (event.key === "ArrowDown" && links().length) {
    event.preventDefault();
    if (timer && input.value.trim() !== shown) { window.clearTimeout(timer); search(); return; }
    move(null, 1);
  }
}

function onPanelKey(event) {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    move(document.activeElement, event.key === "ArrowDown" ? 1 : -1);
  } else if (event.key === "Home" || event.key === "End") {
    event.preventDefault();
    const all = links();
    if (all.length) all[event.key === "Home" ? 0 : all.length - 1].focus();
  } else if (event.key === "Escape") {
    event.preventDefault();
    clearSearch();
  }
}

if (input && form && window.fetch && window.AbortController) {
  makePanel();
  input.setAttribute("aria-controls", "search-panel");
  input.addEventListener("input", schedule);
  input.addEventListener("keydown", onInputKey);
  // Typed before this module arrived: search for it now.
  if (input.value !== input.defaultValue && input.value.trim()) schedule();
}
