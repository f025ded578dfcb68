// The page of `restore app`: open a photo, paint a mask, run a command as a job, poll its progress,
// compare before/after, show the uncertainty map, download the result. The commands and their
// options come from /api/commands (the command line's own); nothing is fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, file: null, width: 0, height: 0, job: null, urls: [] };

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

async function answerError(response) {  // the server's one-line JSON error, or the status
  try { return (await response.json()).error || response.statusText; } catch (e) { return `${response.status} ${response.statusText}`; }
}

function displaySize(w, h) {  // fit the workspace's width and 70% of the window's height, up to 8x
  const maxW = Math.max(200, $("workspace").clientWidth - 8), maxH = Math.max(200, window.innerHeight * 0.7);
  const k = Math.min(maxW / w, maxH / h, 8);
  return [Math.max(1, Math.round(w * k)), Math.max(1, Math.round(h * k))];
}

function buildOptions() {
  const cmd = state.info.commands[$("command").value];
  $("command-help").textContent = cmd.help;
  $("brush-tools").hidden = !cmd.files.includes("mask");
  const box = $("options");
  box.querySelectorAll("label").forEach((l) => l.remove());
  for (const o of cmd.options) {
    const label = document.createElement("label");
    const input = document.createElement(o.choices ? "select" : "input");
    input.name = o.name;
    if (o.choices) {  // a choice: "default" (the library's) or one of the command line's values
      for (const v of ["", ...o.choices]) input.append(new Option(v || "default", v));
    } else input.type = o.kind === "text" ? "text" : "number";
    if (o.kind === "int") input.step = "1";
    if (o.kind === "float") input.step = "any";
    if (o.min !== null && o.min !== undefined) input.min = o.min;
    if (o.max !== null && o.max !== undefined) input.max = o.max;
    if (o.default !== null) input.value = o.default; else input.placeholder = "default";
    label.title = o.help;
    label.append(`${o.name} `, input);
    if (o.name === "samples") {
      const hint = document.createElement("span");
      hint.className = "hint";
      hint.textContent = ` (${state.info.std_min_samples}+: uncertainty map)`;
      label.append(hint);
    }
    box.append(label);
  }
}

async function openPhoto(file) {
  showError("");
  let bitmap;
  try { bitmap = await createImageBitmap(file); } catch (e) {
    showError(`${file.name}: the browser cannot show this file; open a PNG, JPEG or WebP`);
    return;
  }
  state.file = file;
  state.width = bitmap.width;
  state.height = bitmap.height;
  const [w, h] = displaySize(bitmap.width, bitmap.height);
  for (const id of ["photo", "mask"]) {
    const c = $(id);
    c.width = bitmap.width;
    c.height = bitmap.height;
    c.style.width = `${w}px`;
    c.style.height = `${h}px`;
  }
  $("photo").getContext("2d").drawImage(bitmap, 0, 0);
  clearMask();
  $("stage").hidden = false;
  $("empty").hidden = true;
  $("result").hidden = true;
  $("run").disabled = false;
}

function clearMask() {
  $("mask").getContext("2d").clearRect(0, 0, state.width, state.height);
}

function setupBrush() {
  const canvas = $("mask");
  let last = null;
  const at = (e) => {  // the pointer in image pixels
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  const paint = (from, to) => {
    const g = canvas.getContext("2d");
    g.globalCompositeOperation = $("erase").checked ? "destination-out" : "source-over";
    g.strokeStyle = g.fillStyle = "#f00";
    g.lineWidth = Number($("brush").value);
    g.lineCap = g.lineJoin = "round";
    g.beginPath();
    g.moveTo(from[0], from[1]);
    g.lineTo(to[0], to[1]);
    g.stroke();
  };
  canvas.addEventListener("pointerdown", (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = at(e);
    paint(last, last);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = at(e);
    paint(last, p);
    last = p;
  });
  for (const type of ["pointerup", "pointercancel"]) canvas.addEventListener(type, () => { last = null; });
  $("brush").addEventListener("input", () => { $("brush-size").textContent = $("brush").value; });
  $("clear").addEventListener("click", clearMask);
}

function maskBlob() {  // white = fill where the brush left paint (alpha >= 128), black elsewhere; opaque PNG
  const src = $("mask").getContext("2d").getImageData(0, 0, state.width, state.height).data;
  const out = new ImageData(state.width, state.height);
  let any = false;
  for (let i = 0; i < src.length; i += 4) {
    const v = src[i + 3] >= 128 ? 255 : 0;
    any = any || v > 0;
    out.data[i] = out.data[i + 1] = out.data[i + 2] = v;
    out.data[i + 3] = 255;
  }
  const c = document.createElement("canvas");
  c.width = state.width;
  c.height = state.height;
  c.getContext("2d").putImageData(out, 0, 0);
  return new Promise((resolve) => c.toBlob((b) => resolve(any ? b : null), "image/png"));
}

async function run() {
  showError("");
  const command = $("command").value;
  const form = new FormData();
  form.append("command", command);
  form.append("image", state.file, state.file.name);
  if (state.info.commands[command].files.includes("mask")) {
    const mask = await maskBlob();
    if (!mask) { showError("paint the region to fill first (white = fill)"); return; }
    form.append("mask", mask, "mask.png");
  }
  for (const input of $("options").querySelectorAll("input, select")) if (input.value.trim()) form.append(input.name, input.value.trim());
  $("run").disabled = true;
  const response = await fetch("/api/jobs", { method: "POST", body: form });
  if (response.status !== 202) {
    showError(await answerError(response));
    $("run").disabled = false;
    return;
  }
  state.job = (await response.json()).id;
  $("progress").hidden = false;
  $("bar").removeAttribute("value");
  $("status").textContent = "starting";
  poll(state.job);
}

async function poll(id) {
  const response = await fetch(`/api/jobs/${id}`);
  if (!response.ok) { finish(await answerError(response)); return; }
  const job = await response.json();
  if (job.state === "running") {
    if (job.steps) {
      $("bar").max = job.steps;
      $("bar").value = job.step;
      $("status").textContent = `pass ${job.pass}: step ${job.step} / ${job.steps}`;
    }
    setTimeout(() => poll(id), 250);
    return;
  }
  if (job.state === "failed") { finish(job.error); return; }
  $("bar").max = 1;
  $("bar").value = 1;
  $("status").textContent = `done in ${job.seconds.toFixed(1)} s (${job.pass} pass${job.pass === 1 ? "" : "es"})`;
  showResult(job);
  finish("");
}

function finish(error) {
  if (error) { showError(error); $("status").textContent = "failed"; }
  $("run").disabled = false;
}

function showResult(job) {
  state.urls.forEach((u) => URL.revokeObjectURL(u));
  state.urls = [URL.createObjectURL(state.file)];
  const before = $("before"), after = $("after");
  before.src = state.urls[0];
  after.src = job.result;
  const [w, h] = displaySize(state.width, state.height);
  for (const im of [before, after]) { im.style.width = `${w}px`; im.style.height = `${h}px`; }
  $("slider").style.width = `${w}px`;
  $("download").href = job.result;
  $("download").download = job.name;
  $("std-figure").hidden = !job.std;
  if (job.std) { $("std").src = job.std; $("std").style.width = `${w}px`; }
  $("result").hidden = false;
  $("result").scrollIntoView({ behavior: "smooth", block: "start" });
}

async function init() {
  const response = await fetch("/api/commands");
  if (!response.ok) { showError(await answerError(response)); return; }
  state.info = await response.json();
  for (const name of Object.keys(state.info.commands)) $("command").append(new Option(name, name));
  $("command").addEventListener("change", buildOptions);
  buildOptions();
  setupBrush();
  $("file").addEventListener("change", () => { if ($("file").files[0]) openPhoto($("file").files[0]); });
  $("run").addEventListener("click", run);
  $("slider").addEventListener("input", () => { $("compare").style.setProperty("--cut", `${$("slider").value}%`); });
  document.body.dataset.ready = "1";
}

init();
