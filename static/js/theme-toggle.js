// The theme toggle: light or dark, following the system until the user picks one (Ctrl+Shift+L, or the
// button in the sidebar). theme.js, a classic script run before the first paint, sets the first theme.
import { announce, store } from "./util.js";

const root = document.documentElement;
const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

function currentTheme() {
  return root.dataset.theme === "dark" ? "dark" : "light";
}
function applyTheme(theme) {
  root.dataset.theme = theme;
  const toggle = document.getElementById("theme-toggle");
  if (toggle) toggle.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
}
export function toggleTheme() {
  const next = currentTheme() === "dark" ? "light" : "dark";
  applyTheme(next);
  store.set("theme", next);
  announce(next === "dark" ? "Dark mode" : "Light mode");
}

applyTheme(currentTheme()); // as theme.js chose it
systemDark.addEventListener("change", function (event) {
  if (!store.get("theme")) applyTheme(event.matches ? "dark" : "light");
});
const toggle = document.getElementById("theme-toggle");
if (toggle) toggle.addEventListener("click", toggleTheme);
