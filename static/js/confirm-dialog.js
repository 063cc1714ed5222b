// The app's own "are you sure?" (Delete): a modal <dialog>, not the browser's confirm(). Modal, so the
// page behind is inert and Tab stays inside; Escape or Cancel says no, and focus goes back where it
// was. Cancel has the focus first: Enter alone never deletes. Fetched on first use (settings.js,
// row-menu.js); without JavaScript the Delete buttons open the confirmation page instead.
let dialog = null;
let answer = null; // the pending promise's resolve

function build() {
  dialog = document.createElement("dialog");
  dialog.id = "confirm-dialog";
  dialog.className = "dialog confirm-dialog";
  dialog.setAttribute("aria-labelledby", "confirm-dialog-title");
  dialog.setAttribute("aria-describedby", "confirm-dialog-text");
  const head = document.createElement("div");
  head.className = "dialog-head";
  const title = document.createElement("h2");
  title.id = "confirm-dialog-title";
  head.append(title);
  const text = document.createElement("p");
  text.id = "confirm-dialog-text";
  text.className = "confirm-text";
  const actions = document.createElement("form");
  actions.method = "dialog";
  actions.className = "confirm-actions";
  const cancel = document.createElement("button");
  cancel.type = "submit";
  cancel.value = "cancel";
  cancel.className = "btn btn-ghost";
  cancel.textContent = "Cancel";
  const ok = document.createElement("button");
  ok.type = "submit";
  ok.value = "ok";
  ok.className = "btn btn-danger";
  actions.append(cancel, ok);
  dialog.append(head, text, actions);
  document.body.append(dialog);
  // Escape closes this dialog only, not what is behind it too (shortcuts.js closes panels on Escape).
  dialog.addEventListener("keydown", function (event) {
    if (event.key === "Escape") event.stopPropagation();
  });
  dialog.addEventListener("close", function () {
    const resolve = answer;
    answer = null;
    if (resolve) resolve(dialog.returnValue === "ok");
  });
}

// Resolves true when the user confirms. `title` heads the dialog, `text` says what happens, `action`
// names the button that does it.
export function confirmAction(title, text, action) {
  if (!dialog) build();
  if (dialog.open) dialog.close("cancel");
  const opener = document.activeElement;
  dialog.querySelector("h2").textContent = title;
  dialog.querySelector(".confirm-text").textContent = text;
  dialog.querySelector(".btn-danger").textContent = action;
  dialog.returnValue = "";
  return new Promise(function (resolve) {
    answer = function (confirmed) {
      if (!confirmed && opener && opener.isConnected && opener.focus) opener.focus();
      resolve(confirmed);
    };
    dialog.showModal();
    dialog.querySelector(".btn-ghost").focus();
  });
}

// A form of the page (Delete, in a conversation's settings) that is a GET of the confirmation page
// without JavaScript: asked here instead, then posted (with the page's CSRF token).
export function confirmForm(form) {
  const token = document.querySelector("[name=csrfmiddlewaretoken]");
  if (!token) { form.submit(); return; }
  confirmAction(form.dataset.confirmTitle, form.dataset.confirm, "Delete").then(function (ok) {
    if (!ok) return;
    form.method = "post";
    form.append(token.cloneNode());
    form.submit();
  });
}
