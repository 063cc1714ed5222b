// The export and import page: a large import takes a while, so say so, and keep it from being sent
// twice. Without JavaScript it is a plain upload form.
const form = document.querySelector(".import-form");
if (form) {
  form.addEventListener("submit", function () {
    const button = document.getElementById("import-button");
    const busy = document.getElementById("import-busy");
    window.setTimeout(function () {
      if (button) { button.disabled = true; button.textContent = "Importing…"; }
      if (busy) busy.hidden = false;
    }, 0);
  });
}
