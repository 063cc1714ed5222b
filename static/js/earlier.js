// A long conversation opens at its newest turns: earlier ones load as the reader scrolls up (without
// JavaScript: "Show earlier messages"), and a link to a turn not loaded yet (#turn-<id>, from search)
// loads through to it. conversation.js fetches this module when it is first needed: the link nears
// what is shown (or is clicked), or the address names a turn.
import { enhanceTurns } from "./turns.js";
import { fetchInPlace, loadWhenNear, parseFragment } from "./util.js";

function insertEarlier(link, html) {
  const scroller = document.getElementById("main");
  const turns = document.getElementById("turns");
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  const page = parseFragment(html);
  page.querySelectorAll(".turn").forEach(function (turn) {
    // Already shown (it was loaded with a later window): keep the one on the page.
    const shown = document.getElementById(turn.id);
    if (shown && shown !== turn) turn.remove();
  });
  const links = Array.prototype.slice.call(page.querySelectorAll("[data-turns-earlier]"));
  link.replaceWith(page);
  // What the reader was looking at stays where it was.
  scroller.scrollTop = scroller.scrollHeight - fromBottom;
  enhanceTurns(turns);
  links.forEach(observeEarlier);
}
export function loadEarlier(link, through) {
  const url = link.href + (through ? "&through=" + encodeURIComponent(through) : "");
  return fetchInPlace(link, url, "Loading earlier messages…", function (html) { insertEarlier(link, html); });
}
export function observeEarlier(link) {
  loadWhenNear(link, document.getElementById("main"), "800px 0px 0px 0px", loadEarlier);
}
// A link to a turn (#turn-<id>, from search) that is not among the loaded ones loads through to it.
function loadLinkedTurn() {
  const match = /^#turn-([0-9a-f-]{36})$/.exec(window.location.hash);
  if (!match) return Promise.resolve();
  const target = document.getElementById("turn-" + match[1]);
  const link = document.querySelector("[data-turns-earlier]");
  const loaded = target ? Promise.resolve() : (link ? loadEarlier(link, match[1]) : Promise.resolve());
  return loaded.then(function () {
    const turn = document.getElementById("turn-" + match[1]);
    if (!turn) {
      // Not on the version shown: ask for the page of the path through it (once).
      const params = new URLSearchParams(window.location.search);
      if (!params.has("turn")) {
        params.set("turn", match[1]);
        window.location.replace(window.location.pathname + "?" + params.toString() + window.location.hash);
      }
      return;
    }
    turn.classList.add("turn-linked");
    turn.scrollIntoView({ block: "start" });
  });
}
// The page's address names a turn: it is shown, then earlier turns load as the reader scrolls up.
export function showLinkedTurn() {
  loadLinkedTurn().then(function () {
    document.querySelectorAll("[data-turns-earlier]").forEach(observeEarlier);
  });
}
