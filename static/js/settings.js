// A conversation's settings popover: opening it closes the drawer (narrow screens), a click outside
// closes it (Escape too: shortcuts.js); Delete asks first (confirm-dialog.js, fetched then).
import { closeDrawer } from "./sidebar.js";

const settings = document.getElementById("conversation-settings");
if (settings) {
  settings.addEventListener("toggle", function () {
    if (settings.open) closeDrawer(false);
  });
  document.addEventListener("click", function (event) {
    if (settings.open && !settings.contains(event.target) && document.contains(event.target)) settings.open = false;
  });
}
document.querySelectorAll("form[data-confirm]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    import("./confirm-dialog.js").then(function (m) { m.confirmForm(form); }, function () { form.submit(); });
  });
});
