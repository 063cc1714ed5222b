// Runs before the first paint (loaded without defer): applies the saved or
// system theme and the remembered sidebar state, so nothing flashes.
(function () {
  "use strict";
  var root = document.documentElement;
  var theme = null;
  var sidebar = null;
  try {
    theme = localStorage.getItem("theme");
    sidebar = localStorage.getItem("sidebar");
  } catch (e) { /* storage disabled: follow the system */ }
  if (theme !== "dark" && theme !== "light") {
    theme = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  root.setAttribute("data-theme", theme);
  if (sidebar === "collapsed") root.setAttribute("data-sidebar", "collapsed");
  root.classList.add("js");
})();
