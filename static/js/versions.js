// Versions of a turn: the ‹ › buttons under an answer show another version without reloading.
//
// Without this script each button is a plain post of the page's #turn-actions form to
// /t/<id>/show/, answered with the page at that version. Here the same post is sent with fetch,
// and the path it answers with replaces the messages: the reader stays where they were, and
// keyboard focus stays on the switcher. A path with an answer still being written is opened as
// a page (its live updates start with the page). conversation.js fetches this module at the first
// click on a ‹ › button, and calls showVersion() for that click and each later one.
import { observeEarlier } from "./earlier.js";
import { enhanceTurns } from "./turns.js";
import { announce } from "./util.js";

function plainPost(button) {
  button.dataset.plain = "1";
  button.form.requestSubmit(button);
}

function turnIdOf(url) {
  const match = /\/t\/([0-9a-f-]{36})\/show\//.exec(url);
  return match ? match[1] : "";
}

function swap(button, html, url) {
  const next = new DOMParser().parseFromString(html, "text/html").getElementById("turns");
  const turns = document.getElementById("turns");
  if (!next || !turns || next.querySelector(".turn[data-active]")) {
    window.location.assign(url);
    return;
  }
  const scroller = document.getElementById("main") || document.scrollingElement;
  const place = button.closest(".turn");
  const before = place ? place.getBoundingClientRect().top : 0;
  const direction = button.dataset.version;
  turns.replaceWith(next);
  const shown = document.getElementById("turn-" + turnIdOf(button.formAction));
  if (shown && scroller) scroller.scrollTop += shown.getBoundingClientRect().top - before;
  enhanceTurns(next);
  next.querySelectorAll("[data-turns-earlier]").forEach(observeEarlier);
  // The address shows the conversation; the version is remembered by the server.
  window.history.replaceState(window.history.state, "", window.location.pathname);
  const group = shown && shown.querySelector(".versions");
  if (!group) return;
  const same = group.querySelector('[data-version="' + direction + '"]:not(:disabled)');
  (same || group.querySelector(".version-button:not(:disabled)") || group).focus();
  announce(group.getAttribute("aria-label") + " shown.");
}

// The version `button` names, fetched in place of the page's turns.
export function showVersion(button) {
  const group = button.closest(".versions");
  if (group.getAttribute("aria-busy") === "true") return;
  group.setAttribute("aria-busy", "true");
  const body = new FormData(button.form);
  fetch(button.formAction, { method: "POST", body: body, credentials: "same-origin" })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text().then(function (html) { swap(button, html, response.url); });
    })
    .catch(function () {
      group.removeAttribute("aria-busy");
      plainPost(button); // the page at that version, the way it works without this script
    });
}
