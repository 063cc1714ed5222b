// Helpers shared by several features. Every module of static/js is an enhancement: the pages work as
// plain forms and links without it, and none is inline, so a strict Content-Security-Policy holds.

// localStorage and sessionStorage can throw (private mode, disabled storage): never let that break the page.
function storage(name) {
  return {
    get(key) { try { return window[name].getItem(key); } catch (e) { return null; } },
    set(key, value) { try { window[name].setItem(key, value); } catch (e) { /* ignore */ } },
    remove(key) { try { window[name].removeItem(key); } catch (e) { /* ignore */ } },
  };
}
export const store = storage("localStorage");
export const session = storage("sessionStorage");

// Screen-reader announcements, through the page's #live-announcer.
let announceTimer = 0;
export function announce(text) {
  const announcer = document.getElementById("live-announcer");
  if (!announcer) return;
  // Clear first so the same message twice in a row is announced twice.
  announcer.textContent = "";
  window.clearTimeout(announceTimer);
  announceTimer = window.setTimeout(function () { announcer.textContent = text; }, 50);
}

// On a Mac the shortcuts use Command: the titles that name them say so.
export const isMac = /Mac|iPhone|iPad|iPod/i.test(navigator.platform || navigator.userAgent || "");
export function macTitles(scope) {
  if (!isMac) return;
  scope.querySelectorAll("[title*='Ctrl+']").forEach(function (el) {
    el.title = el.title.replace(/Ctrl\+Shift\+/g, "⇧⌘").replace(/Ctrl\+/g, "⌘");
  });
}

// The turns shown on a conversation page whose answer is still queued or being written.
export function activeTurns() {
  return document.querySelectorAll(".turn[data-active]");
}

// A textarea as tall as its text, up to `share` of the window's height.
export function fitHeight(textarea, share) {
  textarea.style.height = "auto";
  textarea.style.height = Math.min(textarea.scrollHeight + 2, window.innerHeight * share) + "px";
}

// A fragment of a page (the server draws it for htmx requests), as text, then as nodes.
export function fetchFragment(url) {
  return fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" }).then(function (response) {
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.text();
  });
}
export function parseFragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html;
  return template.content;
}

// A link to more of a list ("More conversations", "Show earlier messages") loads it in place: `load(link)`
// runs when the link is clicked, or once it comes within `margin` (a rootMargin) of what `root` shows.
export function loadWhenNear(link, root, margin, load) {
  if (link.dataset.observed) return;
  link.dataset.observed = "1";
  const observer = "IntersectionObserver" in window && new IntersectionObserver(function (entries) {
    if (entries.some(function (entry) { return entry.isIntersecting; })) loadNow();
  }, { root: root, rootMargin: margin });
  function loadNow() {
    if (observer) observer.disconnect();
    load(link);
  }
  link.addEventListener("click", function (event) {
    event.preventDefault();
    loadNow();
  });
  if (observer) observer.observe(link);
}
// Fetches `url` for such a link, which says "Loading…" (`busyText`) meanwhile; `insert(html)` puts it in
// its place. On a failure the link is back, with a note, to try again.
export function fetchInPlace(link, url, busyText, insert) {
  if (link.dataset.loading) return Promise.resolve();
  link.dataset.loading = "1";
  link.setAttribute("aria-busy", "true");
  const label = link.textContent;
  link.textContent = busyText;
  return fetchFragment(url).then(insert).catch(function () {
    delete link.dataset.loading;
    link.removeAttribute("aria-busy");
    link.textContent = label + " (loading failed: try again)";
  });
}

export function copyText(text) {
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
