// Attachments in the composer (README "Attachments"): files chosen with the Attach button, dropped on the
// page or pasted are uploaded at once (POST /attachments/, checked by the server), each shown before
// sending with its thumbnail or its page count, its size and a Remove button. The server's refusal names
// the file and why; the prompt and the other files stay. Without JavaScript the plain file input is
// posted with the prompt and the server does the same (attachments/_composer.html).
import { announce } from "./util.js";

const box = document.getElementById("attach");
const form = document.getElementById("composer");

function csrf() {
  const field = form && form.querySelector("[name=csrfmiddlewaretoken]");
  return field ? field.value : "";
}

function sizeText(bytes) {
  if (bytes < 1024) return bytes + " bytes";
  if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
  return (bytes / 1024 / 1024).toFixed(1) + " MB";
}

let uploading = 0;
function setBusy(change) {
  uploading += change;
  const send = document.getElementById("send-button");
  if (send) send.disabled = uploading > 0;
  box.classList.toggle("is-uploading", uploading > 0);
}

function showError(message) {
  const errors = box.querySelector(".attach-errors");
  const line = document.createElement("p");
  line.className = "alert alert-error";
  line.textContent = message;
  errors.append(line);
  announce(message);
}

function clearErrors() {
  box.querySelector(".attach-errors").replaceChildren();
}

function listed() {
  return box.querySelectorAll(".attach-list .attach-item").length;
}

// A row's Remove button (the server's Keep box is for pages without JavaScript).
function enhanceRow(row) {
  const keep = row.querySelector(".attach-keep");
  const remove = row.querySelector(".attach-remove");
  if (keep) keep.hidden = true;
  if (!remove) return;
  remove.hidden = false;
  remove.addEventListener("click", function () {
    const body = new URLSearchParams({ csrfmiddlewaretoken: csrf() });
    fetch(remove.dataset.discard, { method: "POST", body: body, credentials: "same-origin" }).catch(function () {});
    const name = row.querySelector(".attach-name");
    row.remove();
    announce("Removed " + (name ? name.textContent : "the file") + ".");
    const input = document.getElementById("id_prompt");
    if (input) input.focus();
  });
}

function placeholder(file) {
  const row = document.createElement("li");
  row.className = "attach-item is-pending";
  const name = document.createElement("span");
  name.className = "attach-name";
  name.textContent = file.name;
  const facts = document.createElement("span");
  facts.className = "attach-facts muted small";
  facts.textContent = "Uploading… " + sizeText(file.size);
  row.append(name, facts);
  box.querySelector(".attach-list").append(row);
  return row;
}

function upload(file) {
  const maxBytes = parseInt(box.dataset.maxBytes, 10) || 0;
  if (maxBytes && file.size > maxBytes) {
    showError("“" + file.name + "” was not attached: it is " + sizeText(file.size) + ", over the limit of " +
      sizeText(maxBytes) + ".");
    return Promise.resolve();
  }
  const data = new FormData();
  data.append("csrfmiddlewaretoken", csrf());
  data.append("file", file, file.name);
  if (box.dataset.conversation) data.append("conversation", box.dataset.conversation);
  const model = document.getElementById("new-chat-model");
  if (model) data.append("model", model.value);
  const row = placeholder(file);
  setBusy(1);
  return fetch(box.dataset.upload, {
    method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "fetch" },
  }).then(function (response) {
    return response.text().then(function (text) {
      if (!response.ok) {
        row.remove();
        showError(response.status === 400 ? text : "“" + file.name + "” was not attached: the upload failed (" +
          response.status + "). Try again.");
        return;
      }
      const template = document.createElement("template");
      template.innerHTML = text.trim();
      const added = template.content.firstElementChild;
      row.replaceWith(added);
      enhanceRow(added);
      announce("Attached " + file.name + ".");
    });
  }).catch(function () {
    row.remove();
    showError("“" + file.name + "” was not attached: the connection failed. Try again.");
  }).finally(function () {
    setBusy(-1);
  });
}

// Files from any source: the button, a drop, a paste. Pasted images come without a useful name.
export function attachFiles(files) {
  clearErrors();
  const maxFiles = parseInt(box.dataset.maxFiles, 10) || 0;
  let room = maxFiles ? maxFiles - listed() : files.length;
  const pending = [];
  Array.from(files).forEach(function (file, index) {
    if (room <= 0) {
      showError("“" + file.name + "” was not attached: a prompt takes at most " + maxFiles + " files.");
      return;
    }
    room -= 1;
    let named = file;
    if (!file.name || file.name === "image.png") {
      const stamp = new Date().toISOString().slice(0, 19).replace(/[T:]/g, "-");
      const extension = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
      named = new File([file], "pasted-" + stamp + (index ? "-" + index : "") + "." + extension, { type: file.type });
    }
    pending.push(upload(named));
  });
  return Promise.all(pending);
}

function hasFiles(event) {
  const types = event.dataTransfer ? Array.from(event.dataTransfer.types || []) : [];
  return types.indexOf("Files") !== -1;
}

function setup() {
  if (!box || !form) return;
  box.classList.add("attach-js");
  box.querySelectorAll(".attach-item").forEach(enhanceRow);
  const input = box.querySelector(".attach-input");
  input.addEventListener("change", function () {
    const files = Array.from(input.files);
    input.value = ""; // uploaded now: not posted again with the prompt
    attachFiles(files);
  });
  let depth = 0;
  document.addEventListener("dragenter", function (event) {
    if (!hasFiles(event)) return;
    depth += 1;
    document.body.classList.add("is-dropping");
  });
  document.addEventListener("dragleave", function (event) {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove("is-dropping");
  });
  document.addEventListener("dragover", function (event) {
    if (hasFiles(event)) event.preventDefault(); // a drop anywhere on the page attaches
  });
  document.addEventListener("drop", function (event) {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    document.body.classList.remove("is-dropping");
    attachFiles(event.dataTransfer.files);
  });
  document.addEventListener("paste", function (event) {
    const files = event.clipboardData ? Array.from(event.clipboardData.files || []) : [];
    if (!files.length) return; // text is pasted as usual
    event.preventDefault();
    attachFiles(files);
  });
}

setup();
