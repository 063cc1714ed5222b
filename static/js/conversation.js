// The conversation page's features that wait for their first use: each module is fetched then (a
// dynamic import), not with the page, and runs what the user asked for. What the page needs at once
// (composer.js, turns.js, settings.js) comes with its own tags.
import { loadWhenNear } from "./util.js";

// "Edit prompt": edit.js fetches the editor when one is opened. With the page only when it shows one
// (an edit it refused, with the prompt as typed).
document.addEventListener("toggle", function (event) {
  const details = event.target;
  if (!details.classList || !details.classList.contains("edit-prompt") || !details.open) return;
  if (details.querySelector(".edit-slot")) import("./edit.js").then(function (edit) { edit.openEditPrompt(details); });
}, true);
if (document.querySelector(".edit-prompt form")) {
  import("./edit.js").then(function (edit) { edit.setupEditPrompts(document); });
}

// Versions, the ‹ › buttons: versions.js shows the version without a reload.
document.addEventListener("click", function (event) {
  const button = event.target.closest && event.target.closest(".version-button");
  if (!button || button.disabled || button.dataset.plain || !button.form || !window.fetch) return;
  event.preventDefault();
  import("./versions.js").then(function (versions) { versions.showVersion(button); }, function () {
    button.dataset.plain = "1"; // not fetched: the page at that version, as without JavaScript
    button.form.requestSubmit(button);
  });
});

// Earlier turns: earlier.js loads them when the "Show earlier messages" link nears what is shown (as
// it does itself for the links it adds), or at once to reach the turn the address names (#turn-<id>).
// After turns.js has scrolled to the newest turn (its frame callback was asked for first), so the top
// of the conversation is not "in view" for a moment and fetched for nothing.
window.requestAnimationFrame(function () {
  if (/^#turn-/.test(window.location.hash)) {
    import("./earlier.js").then(function (earlier) { earlier.showLinkedTurn(); });
    return;
  }
  document.querySelectorAll("[data-turns-earlier]").forEach(function (link) {
    loadWhenNear(link, document.getElementById("main"), "800px 0px 0px 0px", function () {
      import("./earlier.js").then(function (earlier) { earlier.loadEarlier(link); });
    });
  });
});

// The Share menu: share.js when it is first opened (or drawn open: a link just created).
const share = document.getElementById("share-menu");
function setupShare() {
  import("./share.js").then(function (module) { module.setupShareMenu(share); });
}
if (share && share.open) setupShare();
else if (share) share.addEventListener("toggle", setupShare, { once: true });
