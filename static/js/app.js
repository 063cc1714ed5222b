// aimlweb page behaviour. No inline scripts anywhere, so a strict CSP holds.
(function () {
  "use strict";

  // --- Theme: follows the system until the user picks one -------------------
  const root = document.documentElement;
  const savedTheme = localStorage.getItem("theme");
  const systemDark = window.matchMedia("(prefers-color-scheme: dark)");
  root.dataset.theme = savedTheme || (systemDark.matches ? "dark" : "light");
  systemDark.addEventListener("change", function (event) {
    if (!localStorage.getItem("theme")) root.dataset.theme = event.matches ? "dark" : "light";
  });

  function currentTheme() {
    return root.dataset.theme === "dark" ? "dark" : "light";
  }

  // --- Elapsed timers ("Thinking… 2:41") -------------------------------------
  function formatElapsed(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function tick() {
    document.querySelectorAll(".elapsed[data-since]").forEach(function (el) {
      const since = Date.parse(el.dataset.since);
      if (!isNaN(since)) el.textContent = formatElapsed(Date.now() - since);
    });
  }

  // --- Composer: Enter sends, Shift+Enter new line, grows, keeps a draft -------
  function setupComposer() {
    const form = document.getElementById("composer");
    if (!form) return;
    const textarea = form.querySelector("textarea");
    const key = "draft:" + form.dataset.draftKey;
    // After a send, the page that follows either shows an error (the server
    // re-filled the textarea: keep the draft) or accepted it (drop the draft).
    const sent = sessionStorage.getItem("sent");
    if (sent) {
      sessionStorage.removeItem("sent");
      if (!form.querySelector(".alert-error")) localStorage.removeItem(sent);
    }
    if (!textarea.value && localStorage.getItem(key)) textarea.value = localStorage.getItem(key);
    function grow() {
      textarea.style.height = "auto";
      textarea.style.height = Math.min(textarea.scrollHeight, window.innerHeight * 0.4) + "px";
    }
    textarea.addEventListener("input", function () {
      localStorage.setItem(key, textarea.value);
      grow();
    });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        const send = document.getElementById("send-button");
        if (send && !send.disabled && textarea.value.trim()) form.requestSubmit();
      }
    });
    form.addEventListener("submit", function () {
      sessionStorage.setItem("sent", key);
      const send = document.getElementById("send-button");
      if (send) window.setTimeout(function () { send.disabled = true; }, 0);
    });
    grow();
  }

  // --- Live turns: htmx polls each active turn; react when one finishes --------
  function activeTurns() {
    return document.querySelectorAll(".turn[data-active]");
  }
  function onTurnSwapped(turn) {
    if (turn.dataset.active) return;
    const send = document.getElementById("send-button");
    if (send && activeTurns().length === 0) {
      send.disabled = false;
      send.removeAttribute("title");
    }
    const status = turn.dataset.status;
    const text = status === "completed" ? "Answer ready" : "Answer " + status.replace("_", " ");
    const announcer = document.getElementById("live-announcer");
    if (announcer) announcer.textContent = text + ".";
    if (document.hidden) {
      document.title = "● " + text + " · " + document.title.replace(/^● [^·]*· /, "");
      if ("Notification" in window && Notification.permission === "granted") {
        new Notification("aimlweb: " + text, { body: (turn.querySelector(".prompt-text") || {}).textContent || "" });
      }
    }
    enhanceCode(turn);
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) document.title = document.title.replace(/^● [^·]*· /, "");
  });

  // --- Copy buttons -------------------------------------------------------------
  function copyButton(getText, label) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-ghost btn-small copy-button";
    button.textContent = label;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(getText()).then(function () {
        button.textContent = "Copied";
        window.setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
    return button;
  }
  function enhanceCode(scope) {
    scope.querySelectorAll(".markdown pre").forEach(function (pre) {
      if (pre.dataset.enhanced) return;
      pre.dataset.enhanced = "1";
      pre.appendChild(copyButton(function () { return pre.querySelector("code").innerText; }, "Copy code"));
    });
    scope.querySelectorAll(".message-assistant .markdown").forEach(function (answer) {
      if (answer.dataset.enhanced) return;
      answer.dataset.enhanced = "1";
      const meta = answer.parentElement.querySelector(".turn-meta");
      if (meta) meta.appendChild(copyButton(function () { return answer.innerText; }, "Copy"));
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupComposer();
    enhanceCode(document);
    tick();
    window.setInterval(tick, 1000);

    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", function () {
      const next = currentTheme() === "dark" ? "light" : "dark";
      root.dataset.theme = next;
      localStorage.setItem("theme", next);
    });
    const sidebarToggle = document.getElementById("sidebar-toggle");
    if (sidebarToggle) sidebarToggle.addEventListener("click", function () {
      const open = document.getElementById("app").classList.toggle("sidebar-open");
      sidebarToggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    if (activeTurns().length && "Notification" in window && Notification.permission === "default") {
      // Ask only after a user gesture, as browsers require.
      document.addEventListener("click", function askOnce() {
        Notification.requestPermission();
        document.removeEventListener("click", askOnce);
      });
    }
    document.body.addEventListener("htmx:afterSwap", function (event) {
      const turn = event.detail.target && event.detail.target.id ? document.getElementById(event.detail.target.id) : null;
      if (turn && turn.classList.contains("turn")) { tick(); onTurnSwapped(turn); }
    });
  });
})();
