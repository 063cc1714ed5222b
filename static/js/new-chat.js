// A new chat (the home page): the model picker, whose choice the placeholder and heading name (and which
// efforts the settings offer), and the suggested prompts.
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
    syncEffort(option);
  }
  select.addEventListener("change", function () {
    store.set("new-chat-model", select.value);
    sync();
  });
  sync();
}

// The effort field offers only the efforts the chosen model takes (its option's data-efforts), and
// hides for a model that takes none (the server refuses the others too).
function syncEffort(option) {
  const field = document.getElementById("new-chat-effort");
  const effort = field && field.querySelector("select");
  if (!effort) return;
  const takes = ((option && option.dataset.efforts) || "").split(",").filter(Boolean);
  field.hidden = !takes.length;
  Array.prototype.forEach.call(effort.options, function (o) {
    if (o.value) o.hidden = o.disabled = takes.indexOf(o.value) < 0;
  });
  if (effort.value && takes.indexOf(effort.value) < 0) effort.value = "";
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
