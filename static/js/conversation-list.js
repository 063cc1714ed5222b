// The sidebar's list of conversations: more rows load as it scrolls (without JavaScript the "More
// conversations" link opens the next page), and one menu serves every row: pin or unpin, rename in
// place, archive, delete (without JavaScript they are on each conversation's page). The menu is
// row-menu.js, fetched at the first click on a row's menu button.
import { fetchInPlace, loadWhenNear, parseFragment } from "./util.js";

// A "More conversations" link is replaced by the next page when it nears the visible part of its list.
function loadMore(link) {
  const hadFocus = document.activeElement === link;
  const container = link.parentNode;
  fetchInPlace(link, link.href, "Loading…", function (html) {
    const page = parseFragment(html);
    // A conversation that moved up since the first page was drawn is shown once.
    page.querySelectorAll(".conversation-row").forEach(function (row) {
      if (container.querySelector('.conversation-row[data-id="' + row.dataset.id + '"]')) row.remove();
    });
    const firstNew = page.querySelector(".conversation-link");
    const links = Array.prototype.slice.call(page.querySelectorAll("[data-list-more]"));
    link.replaceWith(page);
    links.forEach(observeMore);
    if (hadFocus && firstNew) firstNew.focus();
  });
}
function observeMore(link) {
  loadWhenNear(link, link.closest(".conversation-list"), "0px 0px 600px 0px", loadMore);
}

document.querySelectorAll("[data-list-more]").forEach(observeMore);
// A row's menu button (rows added later too): the menu opens below it, or closes.
document.addEventListener("click", function (event) {
  const button = event.target.closest && event.target.closest(".row-menu-button");
  if (button) import("./row-menu.js").then(function (menu) { menu.toggleMenu(button); });
});
// The current conversation, when it is in the list, is scrolled into view in the sidebar.
const current = document.querySelector("#conversation-list .conversation-link.current");
if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
// Search as the user types: search-live.js, fetched when the box is first focused.
const searchBox = document.getElementById("search-q");
if (searchBox) searchBox.addEventListener("focus", function () { import("./search-live.js"); }, { once: true });
