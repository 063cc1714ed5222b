// The admin's Copy buttons (an invite's link, accounts/admin.py): `data-copy` names the field to copy.
// Without JavaScript the buttons stay hidden and the field can be selected by hand.
import { copyText } from "./util.js";

document.querySelectorAll("button[data-copy]").forEach(function (button) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const label = button.textContent;
  let timer = 0;
  button.hidden = false;
  button.addEventListener("click", function () {
    copyText(field.value).then(function () {
      button.textContent = "Copied";
    }, function () {
      field.select();
      button.textContent = "Select and copy by hand";
    }).then(function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { button.textContent = label; }, 1600);
    });
  });
});
