// A conversation's turns as they live: elapsed timers, the answer followed as it grows, Send enabled
// when nothing runs, "Answer ready" (in a hidden tab: title and notification), a queued prompt's start.
// live.js swaps pushed turns in; without it each running turn is polled here (htmx does the request
// and swap: hx-trigger="live"; this module decides when).
import { enhance } from "./answers.js";
import { pushing, whenPushChanges } from "./live.js";
import { activeTurns, announce } from "./util.js";

// --- Elapsed timers -----------------------------------------------------------------------
function formatElapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? h + ":" + String(m).padStart(2, "0") + ":" + sec : m + ":" + sec;
}
function tick() {
  document.querySelectorAll(".elapsed[data-since]").forEach(function (el) {
    const since = Date.parse(el.dataset.since);
    if (isNaN(since)) return;
    const text = formatElapsed(Date.now() - since);
    if (el.textContent !== text) el.textContent = text;
    if (!el.title) el.title = "Time since " + new Date(since).toLocaleTimeString();
  });
}

// --- Scrolling ------------------------------------------------------------------------------
function scrollToNewest() {
  const main = document.getElementById("main");
  const turns = document.querySelectorAll("#turns > .turn");
  if (!main || !turns.length) return;
  if (window.location.hash && document.getElementById(window.location.hash.slice(1))) return;
  const last = turns[turns.length - 1];
  const composer = document.getElementById("composer");
  const visible = main.clientHeight - (composer ? composer.offsetHeight : 0);
  if (last.offsetHeight > visible) {
    // A long answer: show it from its start (the prompt), the composer stays pinned below.
    const top = last.getBoundingClientRect().top - main.getBoundingClientRect().top + main.scrollTop;
    main.scrollTop = Math.max(0, top - 16);
  } else {
    main.scrollTop = main.scrollHeight;
  }
}

// --- A turn swapped in (fetched by a poll, or pushed) ------------------------------------------
let followTurn = false;
// Send is enabled, and the sidebar's "working" badge dropped, whenever no
// turn on the page is active (also on load: an answer can finish while the
// server draws the page, leaving nothing to poll).
function syncIdleState() {
  if (activeTurns().length) return;
  const send = document.getElementById("send-button");
  if (send && send.disabled) {
    send.disabled = false;
    send.removeAttribute("title");
  }
  document.querySelectorAll(".conversation-link.current .badge-working").forEach(function (badge) { badge.remove(); });
}
function onTurnSwapped(turn, before) {
  enhance(turn);
  if (followTurn) {
    const main = document.getElementById("main");
    if (main) main.scrollTop = main.scrollHeight;
  }
  // A queued prompt (status "waiting") was sent: its slot freed, or the answer it follows ended.
  if (before === "waiting" && turn.dataset.active && turn.dataset.status !== "waiting") announce("Queued prompt sent.");
  if (turn.dataset.active) return;
  syncIdleState();
  const status = turn.dataset.status || "";
  const text = status === "completed" ? "Answer ready" : "Answer " + status.replace("_", " ");
  announce(text + ".");
  if (document.hidden) {
    document.title = "● " + text + " · " + document.title.replace(/^● [^·]*· /, "");
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        const prompt = (turn.querySelector(".prompt-text") || {}).textContent || "";
        const note = new Notification("aimlweb: " + text, { body: prompt.trim().slice(0, 180), tag: "turn-" + turn.id });
        note.onclick = function () { window.focus(); note.close(); };
      } catch (e) { /* some platforms only allow notifications from a service worker */ }
    }
  }
}

// --- Polling, when nothing is pushed ------------------------------------------------------------
// Each running turn is fetched again every LIVE_POLL_MS while the tab is
// visible, and only every LIVE_POLL_HIDDEN_MS while it is hidden; the server
// answers 204 while nothing changed.
let pollTimer = null;
function pollDelay() {
  const data = document.body.dataset;
  return parseInt(document.hidden ? data.livePollHiddenMs : data.livePollMs, 10) || 1000;
}
function schedulePoll(delay) {
  window.clearTimeout(pollTimer);
  pollTimer = null;
  if (!window.htmx || !activeTurns().length || pushing()) return;
  pollTimer = window.setTimeout(function () {
    activeTurns().forEach(function (turn) { window.htmx.trigger(turn, "live"); });
    schedulePoll();
  }, delay === undefined ? pollDelay() : delay);
}
// The stream was blocked or lost (poll now), or is back (the timer stops).
whenPushChanges(function () { schedulePoll(0); });

// Turns added after the page loaded (earlier ones, another version): copy buttons, timers, live polls.
// (Their "Edit prompt" needs nothing here: conversation.js fetches the editor when one is opened.)
export function enhanceTurns(scope) {
  enhance(scope);
  tick();
  if (window.htmx) window.htmx.process(scope);
  schedulePoll();
}

document.addEventListener("visibilitychange", function () {
  if (!document.hidden) document.title = document.title.replace(/^● [^·]*· /, "");
  // Back on the tab: ask at once rather than after a slow hidden-tab interval.
  schedulePoll(document.hidden ? undefined : 0);
});
let statusBefore = "";
document.body.addEventListener("htmx:beforeSwap", function (event) {
  const target = event.detail.target;
  if (target && target.classList && target.classList.contains("turn")) {
    const main = document.getElementById("main");
    followTurn = !!main && main.scrollHeight - main.scrollTop - main.clientHeight < 120;
    statusBefore = target.dataset.status || "";
  }
});
document.body.addEventListener("htmx:afterSwap", function (event) {
  let turn = event.target;
  if (!turn || !turn.classList || !turn.classList.contains("turn")) {
    const old = event.detail.target;
    turn = old && old.id ? document.getElementById(old.id) : null;
  }
  if (turn && turn.classList.contains("turn")) {
    tick();
    onTurnSwapped(turn, statusBefore);
    followTurn = false;
    statusBefore = "";
  }
});

syncIdleState();
tick();
window.setInterval(tick, 1000);
if (activeTurns().length && "Notification" in window && Notification.permission === "default") {
  // Ask only after a user gesture, as browsers require.
  document.addEventListener("click", function askOnce() {
    document.removeEventListener("click", askOnce);
    try { Notification.requestPermission(); } catch (e) { /* ignore */ }
  });
}
schedulePoll();
// After layout (fonts, wrapped tables) so the measurement is right.
window.requestAnimationFrame(scrollToNewest);
