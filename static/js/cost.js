// What the next prompt may cost, under the composer ("Next prompt: up to about $0.42"), kept current as
// the user types, picks a new chat's model or its max output tokens. Computed here from the figures the
// server put on #composer-money (conversations/usage/budgets.py `ComposerCost`), as the server holds a
// prompt: the input sent besides the prompt plus the typed characters / chars-per-token at the input
// price, plus the model's hold (what its answers really take, never above the cap) at the output price.
// A finished answer's fragment replaces #composer-money (out of band) with new figures: it is read again.
const money = function () { return document.getElementById("composer-money"); };
const form = function () { return document.getElementById("composer"); };

function readModels(box) {
  try { return JSON.parse(box.dataset.models || "{}") || {}; } catch (e) { return {}; }
}

// As the server cleans a prompt before it counts it: no blank lines before it, no whitespace after it.
function cleaned(text) {
  return text.replace(/^(?:[ \t]*\n)+/, "").replace(/\s+$/, "");
}

// Characters as Python's len() counts them: one per code point (an emoji is one, not two UTF-16 units).
function characters(text) {
  return Array.from(text).length;
}

// Dollars and cents, as budgets.about_usd writes them.
function aboutUsd(value) {
  if (value < 0.005) return "less than $0.01";
  return "$" + value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

function chosenModel(box) {
  const picker = document.getElementById("new-chat-model");
  return picker ? picker.value : box.dataset.model;
}

// The new chat's max output tokens, when one is typed and valid (the server refuses the others).
function typedCap() {
  const field = document.getElementById("id_max_output_tokens");
  if (!field || !field.value.trim()) return 0;
  const cap = Number(field.value);
  return Number.isInteger(cap) && cap >= 16 ? cap : 0;
}

// The estimate in USD of the prompt typed now, or null when the model has no prices.
function estimate() {
  const box = money();
  const textarea = document.getElementById("id_prompt");
  if (!box || !box.dataset.models) return null;
  const model = readModels(box)[chosenModel(box)];
  if (!model || model.input === null || model.output === null) return null;
  const perToken = parseInt(box.dataset.charsPerToken, 10) || 3;
  const typed = textarea ? characters(cleaned(textarea.value)) : 0;
  let input = (parseInt(box.dataset.inputTokens, 10) || 0) + Math.ceil(typed / perToken);
  // The composer's files, each with the input tokens the server counted for it (attachments/tokens.py).
  form().querySelectorAll(".attach-item[data-input-tokens]").forEach(function (item) {
    input += parseInt(item.dataset.inputTokens, 10) || 0;
  });
  const cap = typedCap();
  const hold = cap ? Math.min(model.hold, cap) : model.hold;
  return {
    usd: (input * parseFloat(model.input) + hold * parseFloat(model.output)) / 1e6,
    input: input,
    output: hold,
    why: cap && cap < model.hold ? "the max output tokens set here" : model.why,
  };
}

function refreshEstimate() {
  const box = money();
  const line = document.getElementById("composer-estimate");
  if (!box || !line) return;
  const found = estimate();
  line.hidden = !found;
  if (!found) return;
  line.querySelector(".estimate-usd").textContent = aboutUsd(found.usd);
  const left = box.dataset.left === undefined ? NaN : parseFloat(box.dataset.left);
  const over = !isNaN(left) && found.usd > left;
  line.classList.toggle("is-over", over);
  line.querySelector(".estimate-left").textContent = over ? ", more than the " + aboutUsd(left) + " left" : "";
  line.title = "Held against the budget while the answer runs: about " + found.input.toLocaleString("en-US") +
    " input tokens and " + found.output.toLocaleString("en-US") + " output tokens (" + found.why +
    "). An answer that runs longer is charged in full.";
}

function setup() {
  const composer = form();
  if (!composer || !money()) return;
  // Typing, the model picker and the max output tokens box (outside the form, form="composer").
  document.addEventListener("input", function (event) {
    const target = event.target;
    if (target && (target.form === composer || target.id === "id_prompt")) refreshEstimate();
  });
  document.addEventListener("change", function (event) {
    if (event.target && event.target.form === composer) refreshEstimate();
  });
  // A finished answer brought new figures (out of band; the old element was replaced), or a file was
  // attached or removed (attach.js). Not on other changes: the estimate's own text is in the form.
  let shown = null;
  new MutationObserver(function () {
    const now = [money(), ...Array.from(composer.querySelectorAll(".attach-item"), (item) => item.dataset.inputTokens)];
    if (now[0] && (!shown || now.length !== shown.length || now.some((value, i) => value !== shown[i]))) {
      shown = now;
      refreshEstimate();
    }
  }).observe(composer, { childList: true, subtree: true });
  refreshEstimate();
}

setup();
