// Pushed live updates: one server-sent event stream per page (/events/, conversations/live.py).
// While the stream works, turns.js's polling timer stays off:
// - a "turn" event says a running turn on this page changed and brings its fragment, drawn for
//   this page's session (else the page fetches it, as a poll would); turns.js reacts to the swap
//   as to a polled one (Send enabled, "Answer ready", title and notification in a hidden tab);
// - a "conversation" event carries a sidebar row (title, working or done, order), from any tab or
//   device of the user.
// When the stream does not work (a proxy that buffers it: no event within a few seconds; the
// server answers 204 because it is not served under ASGI; repeated errors), the page polls.
import { activeTurns, store } from "./util.js";

const script = document.querySelector("script[data-events-url]");
const eventsUrl = script && script.dataset.eventsUrl;
const since = script && script.dataset.since;
// How long a stream may take to deliver its first event before the page polls instead.
const OPEN_TIMEOUT_MS = 4000;
// Errors in a row (no event between them) after which the page gives up and polls for good.
const MAX_FAILURES = 4;
const DONE_KEY = "live:done";

// connecting -> open; open -> reconnecting (polls after OPEN_TIMEOUT_MS) -> open; any -> off.
let state = eventsUrl && window.EventSource ? "connecting" : "off";
let source = null;
let timer = 0;
let failures = 0;
const listeners = [];

// turns.js: no polling while this is true.
export function pushing() {
  return state === "connecting" || state === "open" || state === "reconnecting";
}
// What the stream is doing: "connecting", "open", "reconnecting", "lost" or "off".
function currentState() {
  return state;
}
export { currentState as state };
// `callback` runs when pushing() may have changed: the stream was given up or lost (poll now), or is back.
export function whenPushChanges(callback) {
  listeners.push(callback);
}

function pushChanged() {
  listeners.forEach(function (callback) { callback(); });
}
function giveUp() {
  window.clearTimeout(timer);
  if (source) source.close();
  source = null;
  state = "off";
  pushChanged();
}
function waitForEvent() {
  window.clearTimeout(timer);
  timer = window.setTimeout(function () {
    if (state === "connecting") {
      giveUp(); // nothing came through: a proxy holds the stream back
    } else if (state === "reconnecting") {
      state = "lost"; // keep trying in the background, poll meanwhile
      pushChanged();
    }
  }, OPEN_TIMEOUT_MS);
}

// --- Turns ---------------------------------------------------------------------------
function turnVersion(el) {
  const get = el.getAttribute("hx-get") || "";
  const match = /[?&]v=(\d+)/.exec(get);
  return match ? match[1] : "0";
}
function onTurn(data) {
  const el = document.getElementById("turn-" + data.id);
  if (!el || !el.dataset.active || !window.htmx) return;
  if (turnVersion(el) === String(data.v)) return; // already shown
  if (!data.html) {
    window.htmx.trigger(el, "live"); // fetch it, as a poll would
    return;
  }
  // The fragment came with the event: swap it in as htmx swaps a fetched one, with the same
  // events (turns.js follows the answer, enables Send, announces it, updates the title).
  window.htmx.trigger(el, "htmx:beforeSwap", { target: el });
  window.htmx.swap(el, data.html, { swapStyle: "outerHTML" }, { eventInfo: { target: el } });
}

// --- Sidebar rows ----------------------------------------------------------------------
function doneSet() {
  try { return JSON.parse(store.get(DONE_KEY) || "{}") || {}; } catch (e) { return {}; }
}
function saveDone(done) {
  // Bounded: the 50 most recent answers that finished unseen.
  const ids = Object.keys(done).sort(function (a, b) { return done[b] - done[a]; }).slice(0, 50);
  const kept = {};
  ids.forEach(function (id) { kept[id] = done[id]; });
  store.set(DONE_KEY, JSON.stringify(kept));
}
function currentId() {
  const current = document.querySelector("#sidebar .conversation-link.current");
  const row = current && current.closest("[data-id]");
  return row ? row.dataset.id : "";
}
function markDone(row) {
  const link = row.querySelector(".conversation-link");
  if (!link || link.querySelector(".badge-done")) return;
  const badge = document.createElement("span");
  badge.className = "badge badge-done";
  badge.title = "The answer is ready";
  badge.textContent = "done";
  const time = link.querySelector(".conversation-time");
  link.insertBefore(badge, time);
}
function showDone() {
  const done = doneSet();
  const here = currentId();
  if (here && done[here] && !document.hidden) {
    delete done[here]; // seen: this conversation is on screen
    saveDone(done);
  }
  document.querySelectorAll("#sidebar [data-id]").forEach(function (row) {
    const badge = row.querySelector(".badge-done");
    if (done[row.dataset.id] && !row.querySelector(".badge-working")) markDone(row);
    else if (badge) badge.remove();
  });
}
function isHeading(el) {
  return el && el.tagName === "H2";
}
function isPinnedRow(el) {
  return el && el.dataset && el.dataset.id !== undefined && el.dataset.pinned !== undefined;
}
function dropOrphanHeading(heading) {
  // A group heading left with no row under it goes too.
  if (!isHeading(heading)) return;
  const next = heading.nextElementSibling;
  if (!next || !(next.dataset && next.dataset.id !== undefined)) heading.remove();
}
function firstUnpinned(list) {
  let el = list.firstElementChild;
  while (el) {
    if (isPinnedRow(el) || (isHeading(el) && isPinnedRow(el.nextElementSibling))) {
      el = el.nextElementSibling;
      continue;
    }
    return el;
  }
  return null;
}
function rowElement(data) {
  const holder = document.createElement("div");
  holder.innerHTML = data.html; // the server's own row markup for this user (escaped there)
  const row = holder.firstElementChild;
  if (!row) return null;
  const link = row.querySelector(".conversation-link");
  if (link && data.url === window.location.pathname) {
    link.classList.add("current");
    link.setAttribute("aria-current", "page");
  }
  return row; // its menu button works at once: conversation-list.js listens on the document
}
function rowTime(row) {
  const time = row && row.querySelector("time[datetime]");
  const when = time ? Date.parse(time.getAttribute("datetime")) : NaN;
  return isNaN(when) ? 0 : when;
}
function removeRow(row) {
  const heading = row.previousElementSibling;
  row.remove();
  dropOrphanHeading(heading);
}
function insertPinned(list, row) {
  // Pinned rows come first, the most recently pinned on top.
  let heading = list.firstElementChild;
  if (!(isHeading(heading) && isPinnedRow(heading.nextElementSibling))) {
    heading = document.createElement("h2");
    heading.className = "list-heading";
    heading.textContent = "Pinned";
    list.insertBefore(heading, list.firstElementChild);
  }
  heading.after(row);
}
function insertNewest(list, row, group) {
  const anchor = firstUnpinned(list);
  if (isHeading(anchor) && anchor.textContent.trim() === group) {
    anchor.after(row);
  } else {
    const heading = document.createElement("h2");
    heading.className = "list-heading";
    heading.textContent = group;
    list.insertBefore(heading, anchor);
    heading.after(row);
  }
  const empty = list.querySelector(".list-empty");
  if (empty) empty.remove();
}
function onConversation(data) {
  const list = document.getElementById("conversation-list");
  if (!list) return;
  const old = list.querySelector('[data-id="' + data.id + '"]');
  const wasRunning = !!(old && old.querySelector(".badge-working"));
  if (data.archived) {
    if (old) removeRow(old);
    return;
  }
  const row = rowElement(data);
  if (!row) return;
  const changedAt = data.v / 1000;
  if (data.pinned) {
    if (old && isPinnedRow(old)) old.replaceWith(row); // pinned rows keep their place
    else {
      if (old) removeRow(old);
      insertPinned(list, row);
    }
  } else if (old && !isPinnedRow(old) && changedAt <= rowTime(old) + 1) {
    old.replaceWith(row); // not newer (a Stop, a repeat): same place
  } else if (old || changedAt >= rowTime(firstRow(list))) {
    if (old) removeRow(old);
    insertNewest(list, row, data.group); // newest first
  }
  // else: an older conversation not loaded in this list (further down): nothing to show.
  if (wasRunning && !data.running && !(data.id === currentId() && !document.hidden)) {
    const done = doneSet();
    done[data.id] = Date.now();
    saveDone(done);
  }
  showDone();
}
function firstRow(list) {
  let el = firstUnpinned(list);
  while (el && !(el.dataset && el.dataset.id !== undefined)) el = el.nextElementSibling;
  return el;
}

// --- The stream --------------------------------------------------------------------------
function streamUrl() {
  const params = new URLSearchParams();
  if (since) params.set("since", since);
  activeTurns().forEach(function (el) {
    params.append("t", el.id.replace(/^turn-/, "") + "." + turnVersion(el));
  });
  return eventsUrl + "?" + params.toString();
}
function handler(fn) {
  return function (event) {
    let data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    fn(data);
  };
}
function connect() {
  source = new window.EventSource(streamUrl());
  waitForEvent();
  source.addEventListener("hello", function () {
    window.clearTimeout(timer);
    failures = 0;
    state = "open";
    pushChanged(); // stops a polling timer left from a lost stream (pushing() is true again)
  });
  source.addEventListener("turn", handler(onTurn));
  source.addEventListener("conversation", handler(onConversation));
  source.addEventListener("error", function () {
    if (!source) return;
    if (source.readyState === window.EventSource.CLOSED) {
      giveUp(); // the server said no (204: not served here; 401: signed out) or sent no stream
      return;
    }
    failures += 1;
    if (failures >= MAX_FAILURES) {
      giveUp();
    } else if (state === "open") {
      state = "reconnecting"; // EventSource retries by itself, resuming from the last event id
      waitForEvent();
    }
  });
}

window.addEventListener("storage", function (event) {
  if (event.key === DONE_KEY) showDone();
});
document.addEventListener("visibilitychange", showDone);
document.addEventListener("DOMContentLoaded", function () {
  showDone();
  if (state === "off") return;
  if (!document.getElementById("sidebar") && !activeTurns().length) {
    state = "off";
    return;
  }
  connect();
});
// A page restored from the back/forward cache reopens its stream.
window.addEventListener("pageshow", function (event) {
  if (event.persisted && state !== "off" && !source) connect();
});
window.addEventListener("pagehide", function () {
  if (source) source.close();
  source = null;
});
