// "Almost there" (accounts/pending.html): asks once a minute whether the account was approved, and shows
// the page that says so when it was. Without JavaScript its "Check again" link does the same.
const check = document.getElementById("check-again");
if (check) {
  const timer = window.setInterval(function () {
    fetch(check.href, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : "";
    }).then(function (html) {
      if (html.includes('id="approved"')) {
        window.clearInterval(timer);
        window.location.assign(check.href);
      }
    }, function () { /* offline for a moment: the next minute asks again */ });
  }, 60000);
}
