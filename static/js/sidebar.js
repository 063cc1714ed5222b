// The sidebar: a collapsible column on wide screens (remembered; theme.js applies it before the first
// paint), a drawer on narrow ones. Ctrl+Shift+B or the topbar button toggles it.
import { announce, store } from "./util.js";

const root = document.documentElement;
const narrowQuery = window.matchMedia("(max-width: 760px)");

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
export function closeDrawer(returnFocus) {
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
export function toggleSidebar() {
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
// A click outside the drawer (narrow screens) closes it.
document.addEventListener("click", function (event) {
  const app = document.getElementById("app");
  if (!app || !app.classList.contains("sidebar-open")) return;
  const sidebar = document.getElementById("sidebar");
  const toggle = document.getElementById("sidebar-toggle");
  if (!(sidebar && sidebar.contains(event.target)) && !(toggle && toggle.contains(event.target))) closeDrawer(false);
});
syncSidebarToggle();
const sidebarToggle = document.getElementById("sidebar-toggle");
if (sidebarToggle) sidebarToggle.addEventListener("click", toggleSidebar);
