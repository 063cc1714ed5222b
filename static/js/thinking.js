// The model's thinking under a turn (<details class="thinking">, drawn by the server: open while the
// turn runs, collapsed once it has ended). A running turn is swapped in again at every update (pushed
// by live.js or polled by turns.js), which would reset the reader's choice: a summary the reader
// opened or closed stays so, across those swaps and when the answer ends, and a keyboard user's focus
// on its summary stays there.
const chosen = new Map(); // turn element id -> open
let focused = null; // the id of the turn whose summary had the focus when it was swapped

document.addEventListener("click", function (event) {
  const summary = event.target.closest ? event.target.closest("details.thinking > summary") : null;
  const turn = summary ? summary.closest(".turn") : null;
  // The click toggles the details after this handler: its new state is the opposite of the current one.
  if (turn && turn.id) chosen.set(turn.id, !summary.parentElement.open);
});

document.body.addEventListener("htmx:beforeSwap", function (event) {
  const target = event.detail.target;
  const active = document.activeElement;
  focused = target && target.id && active && active.matches("details.thinking > summary") && target.contains(active)
    ? target.id : null;
});

document.body.addEventListener("htmx:afterSwap", function (event) {
  let turn = event.target;
  if (!turn || !turn.classList || !turn.classList.contains("turn")) {
    const old = event.detail.target;
    turn = old && old.id ? document.getElementById(old.id) : null;
  }
  if (!turn) return;
  const details = turn.querySelector("details.thinking");
  if (!details) return;
  if (chosen.has(turn.id)) details.open = chosen.get(turn.id);
  if (focused === turn.id) details.querySelector("summary").focus();
  focused = null;
});
