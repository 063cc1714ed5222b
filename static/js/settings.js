// A conversation's settings popover: opening it closes the drawer (narrow screens), a click outside
// closes it (Escape too: shortcuts.js); what it deletes is confirmed first.
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
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
});
