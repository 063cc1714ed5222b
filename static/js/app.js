// aimlweb page behaviour. No inline scripts anywhere, so a strict CSP holds.
// Everything here is an enhancement: the pages work as plain forms without it.
(function () {
  "use strict";

  const root = document.documentElement;
  const isMac = /Mac|iPhone|iPad|iPod/i.test(navigator.platform || navigator.userAgent || "");
  const narrowQuery = window.matchMedia("(max-width: 760px)");

  // localStorage can throw (private mode, disabled storage): never let that break the page.
  const store = {
    get: function (key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } },
    set: function (key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* ignore */ } },
    remove: function (key) { try { window.localStorage.removeItem(key); } catch (e) { /* ignore */ } },
  };
  const session = {
    get: function (key) { try { return window.sessionStorage.getItem(key); } catch (e) { return null; } },
    set: function (key, value) { try { window.sessionStorage.setItem(key, value); } catch (e) { /* ignore */ } },
    remove: function (key) { try { window.sessionStorage.removeItem(key); } catch (e) { /* ignore */ } },
  };

  // --- Screen-reader announcements -----------------------------------------------
  let announceTimer = 0;
  function announce(text) {
    const announcer = document.getElementById("live-announcer");
    if (!announcer) return;
    // Clear first so the same message twice in a row is announced twice.
    announcer.textContent = "";
    window.clearTimeout(announceTimer);
    announceTimer = window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  // --- Theme: follows the system until the user picks one -------------------------
  const systemDark = window.matchMedia("(prefers-color-scheme: dark)");
  function currentTheme() {
    return root.dataset.theme === "dark" ? "dark" : "light";
  }
  function applyTheme(theme) {
    root.dataset.theme = theme;
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
  }
  const savedTheme = store.get("theme");
  applyTheme(savedTheme === "dark" || savedTheme === "light" ? savedTheme : (systemDark.matches ? "dark" : "light"));
  systemDark.addEventListener("change", function (event) {
    if (!store.get("theme")) applyTheme(event.matches ? "dark" : "light");
  });
  function toggleTheme() {
    const next = currentTheme() === "dark" ? "light" : "dark";
    applyTheme(next);
    store.set("theme", next);
    announce(next === "dark" ? "Dark mode" : "Light mode");
  }

  // Keyboard users get strong focus rings on the composer; autofocus and clicks do not.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Tab") root.classList.add("kbd-nav");
  }, true);
  document.addEventListener("pointerdown", function () { root.classList.remove("kbd-nav"); }, true);

  // --- Elapsed timers ("Thinking… 2:41") -------------------------------------------
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

  // --- Helpers ------------------------------------------------------------------------
  function isTextField(el) {
    if (!el || el.nodeType !== 1) return false;
    if (el.isContentEditable) return true;
    const tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    return ["checkbox", "radio", "button", "submit", "reset", "range", "color", "file", "image"].indexOf(el.type) === -1;
  }
  function scroller() {
    return document.getElementById("main");
  }
  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 120;
  }
  function activeTurns() {
    return document.querySelectorAll(".turn[data-active]");
  }
  function composerTextarea() {
    return document.getElementById("id_prompt");
  }

  // --- Composer: Enter sends, Shift+Enter new line, grows, keeps a draft ---------------
  function setupComposer() {
    const form = document.getElementById("composer");
    if (!form) return;
    const textarea = form.querySelector("textarea");
    if (!textarea) return;
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
    function grow() {
      textarea.style.height = "auto";
      textarea.style.height = Math.min(textarea.scrollHeight + 2, window.innerHeight * 0.4) + "px";
    }
    const counter = setupCounter(form, textarea);
    textarea.addEventListener("input", function () {
      if (textarea.value) store.set(key, textarea.value);
      else store.remove(key);
      grow();
      counter.update();
    });
    textarea.addEventListener("keydown", function (event) {
      if (event.isComposing || event.keyCode === 229) return;
      if (event.key === "Enter" && !event.shiftKey && !event.altKey) {
        event.preventDefault();
        const send = document.getElementById("send-button");
        if (!textarea.value.trim()) return;
        if (send && send.disabled) {
          announce(activeTurns().length ? "Wait for the current answer, or press Escape to stop it." : "Sending…");
          return;
        }
        if (counter.over()) {
          announce(counter.message());
          return;
        }
        form.requestSubmit(send || undefined);
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
        announce(counter.message());
        textarea.focus();
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

  // --- Character count: shown from COUNT_FROM of the limit, counted as the server counts -------
  // A line break is one character (a textarea's value has LF line breaks; the server turns the
  // CRLF a browser posts into LF before counting), and a character outside the BMP (an emoji) is
  // one, as Python's len() counts it, not two UTF-16 units.
  const COUNT_FROM = 0.8;
  function charCount(text) {
    const pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
    return text.length - (pairs ? pairs.length : 0);
  }
  function setupCounter(form, textarea) {
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

  // --- New chat: the model picker; the placeholder and heading name the model chosen -----------
  function setupModelPicker() {
    const select = document.getElementById("new-chat-model");
    const textarea = composerTextarea();
    if (!select || !textarea) return;
    const form = document.getElementById("composer");
    // The last model chosen for a new chat, unless the server just drew the form with an error.
    const saved = store.get("new-chat-model");
    const refused = form && form.querySelector(".alert-error");
    if (saved && !refused && Array.prototype.some.call(select.options, function (o) { return o.value === saved; })) {
      select.value = saved;
    }
    const heading = document.getElementById("welcome-model");
    function sync() {
      const option = select.options[select.selectedIndex];
      const label = (option && option.dataset.label) || select.value;
      textarea.placeholder = "Ask " + label + " anything…";
      if (heading) heading.textContent = label;
    }
    select.addEventListener("change", function () {
      store.set("new-chat-model", select.value);
      sync();
    });
    sync();
  }

  function focusComposer() {
    const textarea = composerTextarea();
    if (!textarea) return false;
    closeDrawer(false);
    textarea.focus();
    const end = textarea.value.length;
    try { textarea.setSelectionRange(end, end); } catch (e) { /* ignore */ }
    return true;
  }

  function stopRunning() {
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

  // --- Scrolling ------------------------------------------------------------------------
  function scrollToNewest() {
    const main = scroller();
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

  // --- Live turns: htmx polls each active turn; react when one finishes -----------------
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
  function onTurnSwapped(turn) {
    enhance(turn);
    if (followTurn) {
      const main = scroller();
      if (main) main.scrollTop = main.scrollHeight;
    }
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
  // Each running turn is fetched again every LIVE_POLL_MS while the tab is
  // visible, and only every LIVE_POLL_HIDDEN_MS while it is hidden; the server
  // answers 204 while nothing changed. htmx does the request and the swap
  // (hx-trigger="live" on the turn); this loop only decides when.
  let pollTimer = null;
  // While live.js receives pushed updates (server-sent events) this timer stays off; it calls
  // window.aimlweb.schedulePoll when its stream is blocked or lost.
  function pushed() {
    return !!(window.aimlwebLive && window.aimlwebLive.pushing());
  }
  function pollDelay() {
    const data = document.body.dataset;
    return parseInt(document.hidden ? data.livePollHiddenMs : data.livePollMs, 10) || 1000;
  }
  function schedulePoll(delay) {
    window.clearTimeout(pollTimer);
    pollTimer = null;
    if (!window.htmx || !activeTurns().length || pushed()) return;
    pollTimer = window.setTimeout(function () {
      activeTurns().forEach(function (turn) { window.htmx.trigger(turn, "live"); });
      schedulePoll();
    }, delay === undefined ? pollDelay() : delay);
  }
  window.aimlweb = Object.assign(window.aimlweb || {}, { schedulePoll: schedulePoll, enhanceTurns: enhanceTurns });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) document.title = document.title.replace(/^● [^·]*· /, "");
    // Back on the tab: ask at once rather than after a slow hidden-tab interval.
    schedulePoll(document.hidden ? undefined : 0);
  });

  // --- Copy buttons -----------------------------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      // Plain-http deployments have no async clipboard: fall back to a hidden textarea.
      const active = document.activeElement;
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.className = "visually-hidden";
      document.body.appendChild(area);
      area.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove();
      if (active && active.focus) active.focus();
      if (ok) resolve(); else reject(new Error("Copy failed"));
    });
  }
  function copyButton(getText, label, accessibleLabel, className) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-ghost btn-small " + (className || "copy-button");
    button.textContent = label;
    if (accessibleLabel) {
      button.setAttribute("aria-label", accessibleLabel);
      button.title = accessibleLabel;
    }
    let timer = 0;
    button.addEventListener("click", function () {
      copyText(getText()).then(function () {
        button.textContent = "Copied";
        button.classList.add("copied");
        announce("Copied to the clipboard.");
      }, function () {
        button.textContent = "Copy failed";
        announce("Copying failed. Select the text and copy it by hand.");
      }).then(function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () {
          button.textContent = label;
          button.classList.remove("copied");
        }, 1600);
      });
    });
    return button;
  }
  function answerText(answer) {
    // innerText skips display:none, so hide the code blocks' copy buttons while reading.
    answer.classList.add("copying");
    const text = answer.innerText;
    answer.classList.remove("copying");
    return text.trim();
  }
  function makeScrollableFocusable(el, label) {
    if (el.scrollWidth > el.clientWidth + 1 && !el.hasAttribute("tabindex")) {
      el.tabIndex = 0;
      el.setAttribute("role", "region");
      el.setAttribute("aria-label", label);
    }
  }
  function enhance(scope) {
    scope.querySelectorAll(".markdown table").forEach(function (table) {
      if (table.parentElement.classList.contains("table-wrap")) return;
      const wrap = document.createElement("div");
      wrap.className = "table-wrap";
      table.parentNode.insertBefore(wrap, table);
      wrap.appendChild(table);
      // Short cells ("O(n log n)", "yes") stay on one line; long ones wrap.
      table.querySelectorAll("th, td").forEach(function (cell) {
        if (cell.textContent.trim().length <= 24) cell.classList.add("nowrap");
      });
      makeScrollableFocusable(wrap, "Table, scrolls sideways");
    });
    scope.querySelectorAll(".markdown pre").forEach(function (pre) {
      if (pre.dataset.enhanced) return;
      pre.dataset.enhanced = "1";
      const lang = pre.dataset.lang;
      pre.appendChild(copyButton(function () {
        const code = pre.querySelector("code");
        return (code || pre).innerText.replace(/\n$/, "");
      }, "Copy code", lang ? "Copy " + lang + " code" : "Copy code"));
      const code = pre.querySelector("code");
      if (code) makeScrollableFocusable(code, lang ? lang + " code" : "Code");
    });
    // An answer's Copy gives its Markdown (kept in the page as <template class="answer-source">),
    // "Copy text" the text as shown, without Markdown marks. A partial answer gets neither.
    scope.querySelectorAll(".message-assistant .markdown:not(.partial)").forEach(function (answer) {
      if (answer.dataset.enhanced) return;
      answer.dataset.enhanced = "1";
      const meta = answer.parentElement.querySelector(".turn-meta");
      if (!meta) return;
      const actions = meta.querySelector(".turn-actions") || meta;
      const source = answer.parentElement.querySelector("template.answer-source");
      actions.insertBefore(copyButton(function () { return answerText(answer); }, "Copy text", "Copy the answer as plain text", "copy-plain"), actions.firstChild);
      actions.insertBefore(copyButton(function () {
        return source ? source.content.textContent.replace(/\s+$/, "") : answerText(answer);
      }, "Copy", "Copy the answer as Markdown"), actions.firstChild);
    });
    if (isMac) {
      scope.querySelectorAll("[title*='Ctrl+']").forEach(function (el) {
        el.title = el.title.replace(/Ctrl\+Shift\+/g, "⇧⌘").replace(/Ctrl\+/g, "⌘");
      });
    }
  }

  // --- Sidebar: a collapsible column on wide screens, a drawer on narrow ones ------------
  function sidebarShown() {
    const app = document.getElementById("app");
    if (!app) return false;
    return narrowQuery.matches ? app.classList.contains("sidebar-open") : root.dataset.sidebar !== "collapsed";
  }
  function syncSidebarToggle() {
    const toggle = document.getElementById("sidebar-toggle");
    if (toggle) toggle.setAttribute("aria-expanded", sidebarShown() ? "true" : "false");
  }
  function openDrawer() {
    const app = document.getElementById("app");
    if (!app) return;
    app.classList.add("sidebar-open");
    syncSidebarToggle();
    const target = document.querySelector("#sidebar .conversation-link.current") || document.getElementById("new-chat");
    // Wait for visibility to flip before moving focus into the drawer.
    window.setTimeout(function () { if (target && sidebarShown()) target.focus({ preventScroll: false }); }, 30);
  }
  function closeDrawer(returnFocus) {
    const app = document.getElementById("app");
    if (!app || !app.classList.contains("sidebar-open")) return false;
    const sidebar = document.getElementById("sidebar");
    const hadFocus = sidebar && sidebar.contains(document.activeElement);
    app.classList.remove("sidebar-open");
    syncSidebarToggle();
    if (returnFocus !== false && hadFocus) {
      const toggle = document.getElementById("sidebar-toggle");
      if (toggle) toggle.focus();
    }
    return true;
  }
  function toggleSidebar() {
    if (narrowQuery.matches) {
      if (!closeDrawer()) openDrawer();
      return;
    }
    const sidebar = document.getElementById("sidebar");
    if (root.dataset.sidebar === "collapsed") {
      delete root.dataset.sidebar;
      store.remove("sidebar");
      announce("Sidebar shown.");
    } else {
      const hadFocus = sidebar && sidebar.contains(document.activeElement);
      root.dataset.sidebar = "collapsed";
      store.set("sidebar", "collapsed");
      announce("Sidebar hidden.");
      if (hadFocus) {
        const toggle = document.getElementById("sidebar-toggle");
        if (toggle) toggle.focus();
      }
    }
    syncSidebarToggle();
  }
  narrowQuery.addEventListener("change", function () {
    const app = document.getElementById("app");
    if (app) app.classList.remove("sidebar-open");
    syncSidebarToggle();
  });

  // --- Shortcuts dialog -----------------------------------------------------------------
  let dialogOpener = null;
  function shortcutsDialog() {
    return document.getElementById("shortcuts-dialog");
  }
  function openShortcuts(opener) {
    const dialog = shortcutsDialog();
    if (!dialog || dialog.open || typeof dialog.showModal !== "function") return;
    dialogOpener = opener || document.activeElement;
    closeDrawer(false);
    const details = document.getElementById("conversation-settings");
    if (details) details.open = false;
    dialog.showModal();
    const close = dialog.querySelector("[data-close-dialog]");
    if (close) close.focus();
  }
  function setupDialog() {
    const dialog = shortcutsDialog();
    if (!dialog) return;
    const button = document.getElementById("shortcuts-button");
    if (button && typeof dialog.showModal === "function") {
      button.hidden = false;
      button.addEventListener("click", function () { openShortcuts(button); });
    }
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

  // --- Global keyboard shortcuts ------------------------------------------------------------
  function onKeydown(event) {
    if (event.defaultPrevented || event.isComposing || event.keyCode === 229) return;
    const dialog = shortcutsDialog();
    if (dialog && dialog.open) return; // the modal dialog handles Escape itself
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
      if (closeDrawer()) { event.preventDefault(); return; }
      const settings = document.getElementById("conversation-settings");
      if (settings && settings.open) {
        event.preventDefault();
        settings.open = false;
        settings.querySelector("summary").focus();
        return;
      }
      const edit = document.activeElement && document.activeElement.closest && document.activeElement.closest(".edit-prompt[open]");
      if (edit) {
        event.preventDefault();
        edit.open = false;
        edit.querySelector("summary").focus();
      }
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

  // --- Popovers and inline editors -----------------------------------------------------------
  function setupSettings() {
    const settings = document.getElementById("conversation-settings");
    if (!settings) return;
    settings.addEventListener("toggle", function () {
      if (settings.open) closeDrawer(false);
    });
  }
  // Turns added after the page loaded (earlier ones, a fetched editor): copy buttons, editors, live polls.
  function enhanceTurns(scope) {
    enhance(scope);
    setupEditPrompts(scope);
    tick();
    if (window.htmx) window.htmx.process(scope);
    schedulePoll();
  }
  function setupEditPrompts(scope) {
    scope.querySelectorAll(".edit-prompt").forEach(function (details) {
      if (details.dataset.enhanced) return;
      const textarea = details.querySelector("textarea");
      const form = details.querySelector("form");
      if (!textarea || !form) return; // not fetched yet: enhanced once it is (history section below)
      details.dataset.enhanced = "1";
      details.addEventListener("toggle", function () {
        if (!details.open) return;
        textarea.style.height = "auto";
        textarea.style.height = Math.min(textarea.scrollHeight + 2, window.innerHeight * 0.5) + "px";
        textarea.focus();
        textarea.setSelectionRange(textarea.value.length, textarea.value.length);
      });
      textarea.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.isComposing) {
          event.preventDefault();
          if (textarea.value.trim()) form.requestSubmit();
        }
      });
      const actions = form.querySelector(".edit-actions");
      if (actions && !actions.querySelector(".edit-cancel")) {
        const cancel = document.createElement("button");
        cancel.type = "button";
        cancel.className = "btn btn-ghost btn-small edit-cancel";
        cancel.textContent = "Cancel";
        cancel.addEventListener("click", function () {
          details.open = false;
          details.querySelector("summary").focus();
        });
        actions.insertBefore(cancel, actions.lastElementChild);
      }
    });
  }
  function setupSuggestions() {
    const list = document.querySelector(".suggestions");
    const textarea = composerTextarea();
    if (!list || !textarea) return;
    list.hidden = false;
    list.addEventListener("click", function (event) {
      const button = event.target.closest(".suggestion");
      if (!button) return;
      textarea.value = button.dataset.prompt || "";
      textarea.dispatchEvent(new Event("input", { bubbles: true }));
      focusComposer();
    });
  }

  // Clicks outside close the drawer (narrow screens) and the settings popover.
  document.addEventListener("click", function (event) {
    const target = event.target;
    const app = document.getElementById("app");
    if (app && app.classList.contains("sidebar-open")) {
      const sidebar = document.getElementById("sidebar");
      const toggle = document.getElementById("sidebar-toggle");
      if (!(sidebar && sidebar.contains(target)) && !(toggle && toggle.contains(target))) closeDrawer(false);
    }
    const settings = document.getElementById("conversation-settings");
    if (settings && settings.open && !settings.contains(target) && document.contains(target)) settings.open = false;
  });

  document.addEventListener("keydown", onKeydown);

  document.addEventListener("DOMContentLoaded", function () {
    applyTheme(currentTheme());
    setupComposer();
    setupModelPicker();
    if (document.body.classList.contains("page-conversation")) syncIdleState();
    enhance(document);
    setupEditPrompts(document);
    setupDialog();
    setupSettings();
    setupSuggestions();
    syncSidebarToggle();
    tick();
    window.setInterval(tick, 1000);

    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", toggleTheme);
    const sidebarToggle = document.getElementById("sidebar-toggle");
    if (sidebarToggle) sidebarToggle.addEventListener("click", toggleSidebar);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    if (activeTurns().length && "Notification" in window && Notification.permission === "default") {
      // Ask only after a user gesture, as browsers require.
      document.addEventListener("click", function askOnce() {
        document.removeEventListener("click", askOnce);
        try { Notification.requestPermission(); } catch (e) { /* ignore */ }
      });
    }
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      const target = event.detail.target;
      if (target && target.classList && target.classList.contains("turn")) {
        const main = scroller();
        followTurn = !!main && nearBottom(main);
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
        setupEditPrompts(turn);
        onTurnSwapped(turn);
        followTurn = false;
      }
    });
    schedulePoll();
    if (document.body.classList.contains("page-conversation")) {
      // After layout (fonts, wrapped tables) so the measurement is right.
      window.requestAnimationFrame(scrollToNewest);
    }
  });
})();

// --- History: the sidebar loads more conversations as it scrolls; one menu serves every row ------
// Without JavaScript the "More conversations" link opens the next page, and pin, archive, rename
// and delete are on each conversation's page.
(function () {
  "use strict";

  const ZERO = "00000000-0000-0000-0000-000000000000";
  const observers = new Map();

  function fetchFragment(url) {
    return fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    });
  }
  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  // A "More conversations" link is replaced by the next page when it nears the visible part of its list.
  function loadMore(link) {
    if (link.dataset.loading) return;
    link.dataset.loading = "1";
    link.setAttribute("aria-busy", "true");
    const label = link.textContent;
    link.textContent = "Loading…";
    const hadFocus = document.activeElement === link;
    const container = link.parentNode;
    fetchFragment(link.href).then(function (html) {
      const page = parse(html);
      // A conversation that moved up since the first page was drawn is shown once.
      page.querySelectorAll(".conversation-row").forEach(function (row) {
        if (container.querySelector('.conversation-row[data-id="' + row.dataset.id + '"]')) row.remove();
      });
      const firstNew = page.querySelector(".conversation-link");
      const links = Array.prototype.slice.call(page.querySelectorAll("[data-list-more]"));
      link.replaceWith(page);
      links.forEach(observeMore);
      if (hadFocus && firstNew) firstNew.focus();
    }).catch(function () {
      delete link.dataset.loading;
      link.removeAttribute("aria-busy");
      link.textContent = label + " (loading failed: try again)";
    });
  }
  function observeMore(link) {
    if (link.dataset.observed) return;
    link.dataset.observed = "1";
    link.addEventListener("click", function (event) {
      event.preventDefault();
      loadMore(link);
    });
    if (!("IntersectionObserver" in window)) return;
    const root = link.closest(".conversation-list");
    const key = root || document;
    let observer = observers.get(key);
    if (!observer) {
      observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (!entry.isIntersecting) return;
          observer.unobserve(entry.target);
          loadMore(entry.target);
        });
      }, { root: root, rootMargin: "0px 0px 600px 0px" });
      observers.set(key, observer);
    }
    observer.observe(link);
  }

  // --- The row menu: pin or unpin, rename, archive, delete --------------------------------------
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
  function openMenu(button) {
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
    document.addEventListener("click", function (event) {
      const button = event.target.closest && event.target.closest(".row-menu-button");
      if (button) { openMenu(button); return; }
      if (!menu.contains(event.target)) closeMenu(false);
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
        const ok = window.confirm("Delete “" + title + "”? Its prompts and answers will be deleted for good. " +
          "What they cost stays in the usage ledger and your usage totals.");
        if (!ok) { event.preventDefault(); closeMenu(true); }
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

  // --- A long conversation: earlier turns load as the reader scrolls up --------------------------
  function main() {
    return document.getElementById("main");
  }
  function insertEarlier(link, html) {
    const scroller = main();
    const turns = document.getElementById("turns");
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    const page = parse(html);
    page.querySelectorAll(".turn").forEach(function (turn) {
      // Already shown (it was loaded with a later window): keep the one on the page.
      const shown = document.getElementById(turn.id);
      if (shown && shown !== turn) turn.remove();
    });
    const links = Array.prototype.slice.call(page.querySelectorAll("[data-turns-earlier]"));
    link.replaceWith(page);
    // What the reader was looking at stays where it was.
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
    if (window.aimlweb && window.aimlweb.enhanceTurns) window.aimlweb.enhanceTurns(turns);
    links.forEach(observeEarlier);
  }
  function loadEarlier(link, through) {
    if (link.dataset.loading) return Promise.resolve();
    link.dataset.loading = "1";
    link.setAttribute("aria-busy", "true");
    const label = link.textContent;
    link.textContent = "Loading earlier messages…";
    const url = link.href + (through ? "&through=" + encodeURIComponent(through) : "");
    return fetchFragment(url).then(function (html) { insertEarlier(link, html); }).catch(function () {
      delete link.dataset.loading;
      link.removeAttribute("aria-busy");
      link.textContent = label + " (loading failed: try again)";
    });
  }
  let earlierObserver = null;
  function observeEarlier(link) {
    if (link.dataset.observed) return;
    link.dataset.observed = "1";
    link.addEventListener("click", function (event) {
      event.preventDefault();
      loadEarlier(link);
    });
    if (!("IntersectionObserver" in window) || !main()) return;
    if (!earlierObserver) {
      earlierObserver = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          if (!entry.isIntersecting) return;
          earlierObserver.unobserve(entry.target);
          loadEarlier(entry.target);
        });
      }, { root: main(), rootMargin: "800px 0px 0px 0px" });
    }
    earlierObserver.observe(link);
  }
  window.aimlweb = Object.assign(window.aimlweb || {}, { observeEarlier: observeEarlier });
  // A link to a turn (#turn-<id>, from search) that is not among the loaded ones loads through to it.
  function showLinkedTurn() {
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

  // --- The prompt editor is fetched when "Edit prompt" opens -----------------------------------
  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!details.classList || !details.classList.contains("edit-prompt") || !details.open) return;
    const slot = details.querySelector(".edit-slot");
    if (!slot || slot.dataset.loading) return;
    slot.dataset.loading = "1";
    fetchFragment(slot.querySelector("a").href).then(function (html) {
      slot.replaceWith(parse(html));
      const turn = details.closest(".turn") || details.parentNode;
      if (window.aimlweb && window.aimlweb.enhanceTurns) window.aimlweb.enhanceTurns(turn);
      const textarea = details.querySelector("textarea");
      if (textarea && details.open) {
        textarea.style.height = "auto";
        textarea.style.height = Math.min(textarea.scrollHeight + 2, window.innerHeight * 0.5) + "px";
        textarea.focus();
        textarea.setSelectionRange(textarea.value.length, textarea.value.length);
      }
    }).catch(function () {
      delete slot.dataset.loading; // the link in the slot still opens the editor as a page
    });
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-list-more]").forEach(observeMore);
    setupMenu();
    // After app.js has scrolled to the newest turn (its own frame callback runs first), so the
    // top of the conversation is not "in view" for a moment and fetched for nothing.
    window.requestAnimationFrame(function () {
      showLinkedTurn().then(function () {
        document.querySelectorAll("[data-turns-earlier]").forEach(observeEarlier);
      });
    });
    // The current conversation, when it is in the list, is scrolled into view in the sidebar.
    const current = document.querySelector("#conversation-list .conversation-link.current");
    if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
  });
})();
