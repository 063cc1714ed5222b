// The model's thinking under a turn (<details class="thinking">, drawn by the server: open while the
// turn runs, collapsed once it has ended). A running turn is swapped in again at every update (pushed
// by live.js or polled by turns.js), which would reset the reader's choice: a summary the reader
// opened or closed stays so, across those swaps and when the answer ends.
const chosen = new Map(); // turn element id -> open

document.addEventListener("click", function (event) {
  const summary = event.target.closest ? event.target.closest("details.thinking > summary") : null;
  const turn = summary ? summary.closest(".turn") : null;
  // The click toggles the details after this handler: its new state is the opposite of the current one.
  if (turn && turn.id) chosen.set(turn.id, !summary.parentElement.open);
});

document.body.addEventListener("htmx:afterSwap", function (event) {
  let turn = event.target;
  if (!turn || !turn.classList || !turn.classList.contains("turn")) {
    const old = event.detail.target;
    turn = old && old.id ? document.getElementById(old.id) : null;
  }
  if (!turn || !chosen.has(turn.id)) return;
  const details = turn.querySelector("details.thinking");
  if (details) details.open = chosen.get(turn.id);
});
