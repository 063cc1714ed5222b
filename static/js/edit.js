// "Edit prompt" under a prompt: the editor is fetched when it is first opened (not drawn for every turn
// of a long conversation), grows with the text, Ctrl+Enter sends it, Cancel or Esc closes it. Without
// JavaScript its link opens the editor as a page. This module is itself fetched then, by conversation.js
// (or with the page when the page shows an editor: an edit it refused, with the prompt as typed).
import { fetchFragment, fitHeight, parseFragment } from "./util.js";

function openEditor(details) {
  const textarea = details.querySelector("textarea");
  if (!textarea || !details.open) return;
  fitHeight(textarea, 0.5);
  textarea.focus();
  textarea.setSelectionRange(textarea.value.length, textarea.value.length);
}

// Editors on the page (drawn with it, fetched, or in turns added later): Ctrl+Enter and Cancel.
export function setupEditPrompts(scope) {
  scope.querySelectorAll(".edit-prompt").forEach(function (details) {
    if (details.dataset.enhanced) return;
    const textarea = details.querySelector("textarea");
    const form = details.querySelector("form");
    if (!textarea || !form) return; // not fetched yet: enhanced once it is (below)
    details.dataset.enhanced = "1";
    details.addEventListener("toggle", function () { openEditor(details); });
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

// An "Edit prompt" opened whose editor is not fetched yet (a link in its `.edit-slot`): fetched and shown.
export function openEditPrompt(details) {
  const slot = details.querySelector(".edit-slot");
  if (!slot || slot.dataset.loading) return;
  slot.dataset.loading = "1";
  fetchFragment(slot.querySelector("a").href).then(function (html) {
    slot.replaceWith(parseFragment(html));
    setupEditPrompts(details.parentNode);
    openEditor(details);
  }).catch(function () {
    delete slot.dataset.loading; // the link in the slot still opens the editor as a page
  });
}
