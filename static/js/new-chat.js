// A new chat (the home page): the model picker, whose choice the placeholder and heading name, and the
// suggested prompts.
import { focusComposer } from "./shortcuts.js";
import { store } from "./util.js";

function setupModelPicker(select, textarea) {
  const form = document.getElementById("composer");
  // The last model chosen for a new chat, unless the server just drew the form with an error.
  const saved = store.get("new-chat-model");
  const refused = form && form.querySelector(".alert-error");
  if (saved && !refused && Array.prototype.some.call(select.options, function (o) { return o.value === saved; })) {
    select.value = saved;
  }
  const heading = document.getElementById("welcome-model");
  function sync() {
    const option = select.options[select.selectedIndex];
    const label = (option && option.dataset.label) || select.value;
    textarea.placeholder = "Ask " + label + " anything…";
    if (heading) heading.textContent = label;
  }
  select.addEventListener("change", function () {
    store.set("new-chat-model", select.value);
    sync();
  });
  sync();
}

function setupSuggestions(list, textarea) {
  list.hidden = false;
  list.addEventListener("click", function (event) {
    const button = event.target.closest(".suggestion");
    if (!button) return;
    textarea.value = button.dataset.prompt || "";
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    focusComposer();
  });
}

const textarea = document.getElementById("id_prompt");
const select = document.getElementById("new-chat-model");
const suggestions = document.querySelector(".suggestions");
if (textarea && select) setupModelPicker(select, textarea);
if (textarea && suggestions) setupSuggestions(suggestions, textarea);
