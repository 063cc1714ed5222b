// Answers as the reader uses them: Copy (the answer's Markdown) and Copy text, a Copy code button on
// each code block, and tables and code that scroll sideways reachable by keyboard. Run on the page's
// answers at load (a conversation, a shared snapshot) and on each turn added later (turns.js).
import { announce, copyText, macTitles } from "./util.js";

// An accessible name begins with the visible label (WCAG 2.5.3, label in name): "Copy code (Python)".
function copyButton(getText, label, accessibleLabel, className) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "btn btn-ghost btn-small " + (className || "copy-button");
  button.textContent = label;
  if (accessibleLabel) {
    button.setAttribute("aria-label", accessibleLabel);
    button.title = accessibleLabel;
  }
  let timer = 0;
  button.addEventListener("click", function () {
    copyText(getText()).then(function () {
      button.textContent = "Copied";
      button.classList.add("copied");
      announce("Copied to the clipboard.");
    }, function () {
      button.textContent = "Copy failed";
      announce("Copying failed. Select the text and copy it by hand.");
    }).then(function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        button.textContent = label;
        button.classList.remove("copied");
      }, 1600);
    });
  });
  return button;
}
function answerText(answer) {
  // innerText skips display:none, so hide the code blocks' copy buttons while reading.
  answer.classList.add("copying");
  const text = answer.innerText;
  answer.classList.remove("copying");
  return text.trim();
}
function makeScrollableFocusable(el, label) {
  if (el.scrollWidth > el.clientWidth + 1 && !el.hasAttribute("tabindex")) {
    el.tabIndex = 0;
    el.setAttribute("role", "region");
    el.setAttribute("aria-label", label);
  }
}

export function enhance(scope) {
  scope.querySelectorAll(".markdown table").forEach(function (table) {
    if (table.parentElement.classList.contains("table-wrap")) return;
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    table.parentNode.insertBefore(wrap, table);
    wrap.appendChild(table);
    // Short cells ("O(n log n)", "yes") stay on one line; long ones wrap.
    table.querySelectorAll("th, td").forEach(function (cell) {
      if (cell.textContent.trim().length <= 24) cell.classList.add("nowrap");
    });
    makeScrollableFocusable(wrap, "Table, scrolls sideways");
  });
  scope.querySelectorAll(".markdown pre").forEach(function (pre) {
    if (pre.dataset.enhanced) return;
    pre.dataset.enhanced = "1";
    const lang = pre.dataset.lang;
    pre.appendChild(copyButton(function () {
      const code = pre.querySelector("code");
      return (code || pre).innerText.replace(/\n$/, "");
    }, "Copy code", lang ? "Copy code (" + lang + ")" : ""));
    const code = pre.querySelector("code");
    if (code) makeScrollableFocusable(code, lang ? lang + " code" : "Code");
  });
  // An answer's Copy gives its Markdown (kept in the page as <template class="answer-source">),
  // "Copy text" the text as shown, without Markdown marks. A partial answer gets neither.
  scope.querySelectorAll(".message-assistant .markdown:not(.partial)").forEach(function (answer) {
    if (answer.dataset.enhanced) return;
    answer.dataset.enhanced = "1";
    const meta = answer.parentElement.querySelector(".turn-meta");
    if (!meta) return;
    const actions = meta.querySelector(".turn-actions") || meta;
    const source = answer.parentElement.querySelector("template.answer-source");
    actions.insertBefore(copyButton(function () { return answerText(answer); }, "Copy text", "Copy text of the answer, without Markdown", "copy-plain"), actions.firstChild);
    actions.insertBefore(copyButton(function () {
      return source ? source.content.textContent.replace(/\s+$/, "") : answerText(answer);
    }, "Copy", "Copy the answer as Markdown"), actions.firstChild);
  });
  macTitles(scope);
}

enhance(document);
