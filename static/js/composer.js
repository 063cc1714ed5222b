// The composer: Enter sends, Shift+Enter adds a line, the box grows, the draft is kept until a page
// shows it sent, characters are counted as the server counts them. While an answer runs, what is sent
// waits on the server as a follow-up; Esc stops the answer.
import { stopRunning } from "./shortcuts.js";
import { activeTurns, announce, fitHeight, session, store } from "./util.js";

// --- Character count, from COUNT_FROM of the limit. As Python's len() after the server turns CRLF
// into LF: a line break is one, an emoji (a surrogate pair) is one.
const COUNT_FROM = 0.8;
function charCount(text) {
  const pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
  return text.length - (pairs ? pairs.length : 0);
}
function setupCounter(textarea) {
  const out = document.getElementById("composer-count");
  const max = parseInt(textarea.dataset.maxChars, 10) || 0;
  let count = 0;
  let wasOver = false;
  const number = function (n) { return n.toLocaleString("en-US"); };
  const api = {
    over: function () { return max > 0 && count > max; },
    message: function () {
      const extra = count - max;
      return "This prompt has " + number(count) + " characters, over the limit of " + number(max) +
        ": shorten it by " + number(extra) + (extra === 1 ? " character" : " characters") + " to send it.";
    },
    update: function () {
      if (!out || !max) return;
      count = charCount(textarea.value);
      const over = count > max;
      out.hidden = count < max * COUNT_FROM;
      out.classList.toggle("is-over", over);
      out.classList.toggle("is-near", !over && count >= max * 0.95);
      out.textContent = over ? number(count) + " / " + number(max) + " · " + number(count - max) + " over the limit"
        : number(count) + " / " + number(max) + " characters";
      if (over && !wasOver) announce(api.message());
      wasOver = over;
    },
  };
  return api;
}

// Over the limit: why, above the box (a new alert: announced each time); the text stays.
function refuse(textarea, message) {
  const old = document.getElementById("composer-refusal");
  if (old) old.remove();
  if (!message) return textarea.removeAttribute("aria-invalid");
  const note = document.createElement("p");
  note.id = "composer-refusal";
  note.className = "alert alert-error";
  note.setAttribute("role", "alert");
  note.textContent = message;
  textarea.closest(".composer-box").before(note);
  textarea.setAttribute("aria-invalid", "true");
  textarea.focus();
}

function setupComposer(form, textarea) {
  const key = "draft:" + form.dataset.draftKey;
  // After a send, the draft is dropped once a page shows the prompt sent. A page with an error
  // (the server re-filled the box), or no page of ours at all (an expired form, a server error:
  // the user goes back), keeps it.
  const sent = session.get("sent");
  if (sent) {
    session.remove("sent");
    const draft = (store.get(sent) || "").trim();
    const shown = Array.prototype.some.call(document.querySelectorAll("#turns .prompt-text"), function (el) {
      return el.textContent.trim() === draft;
    });
    if (!form.querySelector(".alert-error") && shown) store.remove(sent);
  }
  if (!textarea.value && store.get(key)) textarea.value = store.get(key);
  const grow = function () { fitHeight(textarea, 0.4); };
  const counter = setupCounter(textarea);
  textarea.addEventListener("input", function () {
    if (textarea.value) store.set(key, textarea.value);
    else store.remove(key);
    grow();
    counter.update();
    if (!counter.over()) refuse(textarea);
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.isComposing || event.keyCode === 229) return;
    if (event.key === "Enter" && !event.shiftKey && !event.altKey) {
      event.preventDefault();
      const send = document.getElementById("send-button");
      if (!textarea.value.trim()) return;
      if (send && send.disabled) {
        announce("Sending…"); // disabled only while this page's send is on its way
        return;
      }
      if (counter.over()) refuse(textarea, counter.message());
      else form.requestSubmit(send || undefined);
    } else if (event.key === "Escape" && !event.shiftKey && !event.ctrlKey && !event.metaKey && activeTurns().length) {
      // Esc in the composer stops the running answer.
      event.preventDefault();
      stopRunning();
    }
  });
  form.addEventListener("submit", function (event) {
    if (counter.over()) {
      // The server would refuse it too; say so here, with the text still in the box.
      event.preventDefault();
      refuse(textarea, counter.message());
      return;
    }
    session.set("sent", key);
    const send = document.getElementById("send-button");
    if (send) window.setTimeout(function () { send.disabled = true; }, 0);
  });
  // Clicking the padding around the textarea focuses it.
  const box = form.querySelector(".composer-box");
  if (box) box.addEventListener("mousedown", function (event) {
    if (event.target === box) { event.preventDefault(); textarea.focus(); }
  });
  window.addEventListener("resize", grow);
  grow();
  counter.update();
}

const form = document.getElementById("composer");
const textarea = form && form.querySelector("textarea");
if (textarea) setupComposer(form, textarea);
