// The page: ask /health for the model's heads, POST the text to /tag, show what comes back.
// The highlighted text is formats.py's HTML writer's output (html-escaped by the server).
"use strict";
const $ = (id) => document.getElementById(id);
let last = null; // the last /tag response, for the download

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function describe() {
  try {
    const health = await (await fetch("health")).json();
    $("model").textContent = `model ${health.model || ""} (target ${health.target}; heads ${health.heads.join(", ")})`;
    const choices = [["target", `target (${health.target})`]];
    if (health.heads.length > 1) choices.push(["all", "all"], ...health.heads.map((h) => [h, h]));
    for (const [value, label] of choices) $("heads").add(new Option(label, value));
  } catch (e) {
    $("model").textContent = `cannot reach the server: ${e}`;
    $("model").className = "error";
  }
}

function show(response) {
  const doc = response.documents[0];
  $("result").innerHTML = doc.html;
  $("legend").replaceChildren(...Object.entries(response.colours).map(([type, colour]) => {
    const mark = document.createElement("mark");
    mark.textContent = type;
    mark.style.background = colour;
    return mark;
  }));
  const body = $("entities").tBodies[0];
  body.replaceChildren();
  for (const e of doc.entities) {
    const row = body.insertRow();
    row.className = "entity-row";
    cell(row, e.text);
    const type = cell(row, "");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = response.colours[e.type] || "#ddd";
    type.append(swatch, e.type);
    cell(row, e.head);
    cell(row, e.start, "number");
    cell(row, e.end, "number");
    cell(row, e.score.toFixed(3), "number");
  }
  $("entities").hidden = doc.entities.length === 0;
  $("status").textContent = `${doc.entities.length} entities in ${response.sentences} sentences` +
    (response.dropped ? ` (${response.dropped} overlapping dropped)` : "");
}

async function tag(event) {
  event.preventDefault();
  $("status").className = "muted";
  $("status").textContent = "tagging…";
  $("tag").disabled = true;
  try {
    const reply = await fetch("tag", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({text: $("text").value, heads: $("heads").value || "target",
                            overlap: $("overlap").value, html: true}),
    });
    const data = await reply.json();
    if (!reply.ok) throw new Error(data.error || reply.statusText);
    last = data;
    show(data);
    $("download").disabled = false;
  } catch (e) {
    $("status").className = "error";
    $("status").textContent = `${e.message}`;
  } finally {
    $("tag").disabled = false;
  }
}

function download() {
  const documents = last.documents.map(({html, ...rest}) => rest); // the entities, not the page's markup
  const blob = new Blob([JSON.stringify({heads: last.heads, documents}, null, 2)], {type: "application/json"});
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "entities.json";
  a.click();
  // revoked after the click has been handled: revoking at once can cancel the download in some browsers
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

$("form").addEventListener("submit", tag);
$("download").addEventListener("click", download);
describe();
