// vrender Studio: edit a VideoProject, preview its frames, render it and follow the jobs.
// Plain browser JavaScript, no build step; talks to the service's public API only.
"use strict";

const API = "/api/v1";
const $ = (id) => document.getElementById(id);
const PREVIEW_MAX_WIDTH = 960;

// ---------------------------------------------------------------- API calls and the API key

let apiKey = sessionStorage.getItem("vrender.apiKey") || "";
let keyPrompt = null;

/** Asks for an API key (once at a time); resolves when one is entered. */
function askKey(message) {
  if (!keyPrompt) {
    keyPrompt = new Promise((resolve) => {
      const dialog = $("key-dialog");
      $("key-error").textContent = message || "";
      $("key-input").value = "";
      $("key-form").onsubmit = (e) => {
        e.preventDefault();
        apiKey = $("key-input").value.trim();
        sessionStorage.setItem("vrender.apiKey", apiKey);
        dialog.close();
        keyPrompt = null;
        resolve();
      };
      dialog.showModal();
    });
  }
  return keyPrompt;
}

/** fetch() with the API key; asks for a key on 401 and retries. */
async function call(path, options = {}) {
  for (;;) {
    const headers = new Headers(options.headers || {});
    if (apiKey) headers.set("x-api-key", apiKey);
    const resp = await fetch(path, { ...options, headers });
    if (resp.status !== 401) return resp;
    const body = await resp.json().catch(() => ({}));
    await askKey(apiKey ? `The key was refused: ${body.message || "401"}` : "");
  }
}

async function errorBody(resp) {
  try {
    return await resp.json();
  } catch (_) {
    return { message: `${resp.status} ${resp.statusText}`, details: [] };
  }
}

// ---------------------------------------------------------------- editor and errors

const editor = $("editor");

function setStatus(text) {
  $("status").textContent = text;
}

/** Shows problems as `path: message` list items (the API's `details`). */
function showErrors(body) {
  const list = $("errors");
  list.replaceChildren();
  const details = body && body.details && body.details.length ? body.details : body ? [{ path: "", message: body.message }] : [];
  for (const d of details) {
    const li = document.createElement("li");
    if (d.path) {
      const code = document.createElement("code");
      code.className = "path";
      code.textContent = d.path;
      li.append(code, ": ");
    }
    li.append(d.message);
    list.append(li);
  }
}

/** The editor's JSON, or null after showing where it does not parse. */
function parsedProject() {
  try {
    return JSON.parse(editor.value);
  } catch (e) {
    showErrors({ message: `not valid JSON: ${e.message}` });
    return null;
  }
}

function loadText(text) {
  editor.value = text;
  state.frame = 0;
  $("scrubber").value = 0;
  schedulePreview(0);
}

async function loadExamples() {
  const resp = await fetch("/studio/examples.json");
  const examples = await resp.json();
  const select = $("example-select");
  for (const ex of examples) {
    const opt = document.createElement("option");
    opt.value = ex.name;
    opt.textContent = ex.name;
    select.append(opt);
  }
  select.onchange = () => {
    const ex = examples.find((e) => e.name === select.value);
    if (ex) loadText(JSON.stringify(ex.project, null, 2));
    select.value = "";
  };
}

$("file-input").onchange = async (e) => {
  const file = e.target.files[0];
  if (file) loadText(await file.text());
  e.target.value = "";
};

$("format-button").onclick = () => {
  const p = parsedProject();
  if (p) editor.value = JSON.stringify(p, null, 2);
};

let editTimer = null;
editor.addEventListener("input", () => {
  clearTimeout(editTimer);
  editTimer = setTimeout(() => schedulePreview(state.frame), 400);
});

// ---------------------------------------------------------------- preview, scrubber, play

const state = { frame: 0, total: 0, fps: 30, wanted: null, busy: false, playing: false, url: null };

/** Asks for frame `n`; while a preview is on its way only the latest wish is kept. */
function schedulePreview(n) {
  state.wanted = n;
  if (!state.busy) drainPreviews();
}

async function drainPreviews() {
  state.busy = true;
  try {
    while (state.wanted !== null) {
      const n = state.wanted;
      state.wanted = null;
      await showFrame(n);
    }
  } finally {
    state.busy = false;
  }
}

/** Renders frame `n` of the editor's project into the preview; false on any problem. */
async function showFrame(n) {
  const project = parsedProject();
  if (!project) return false;
  const width = Math.min(PREVIEW_MAX_WIDTH, Number(project.width) || PREVIEW_MAX_WIDTH);
  const started = performance.now();
  const resp = await call(`${API}/render/previews?frame=${n}&width=${width}&format=jpeg`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: editor.value,
  });
  if (!resp.ok) {
    const body = await errorBody(resp);
    showErrors(body);
    setStatus(`${resp.status}: ${body.message}`);
    return false;
  }
  const total = Number(resp.headers.get("x-total-frames"));
  const blob = await resp.blob();
  const url = URL.createObjectURL(blob);
  const img = $("preview");
  // data-frame names the frame shown once it is decoded (the browser test reads it).
  delete img.dataset.frame;
  img.src = url;
  await img.decode().catch(() => {});
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = url;
  state.frame = Number(resp.headers.get("x-frame"));
  state.total = total;
  state.fps = Number(project.frameRate) || 30;
  const scrubber = $("scrubber");
  scrubber.max = Math.max(0, total - 1);
  scrubber.disabled = false;
  if (!state.playing && document.activeElement !== scrubber) scrubber.value = state.frame;
  $("play-button").disabled = false;
  $("frame-label").textContent = `${state.frame} / ${total - 1} · ${(state.frame / state.fps).toFixed(2)} s`;
  const ms = Math.round(performance.now() - started);
  $("preview-info").textContent = `${img.naturalWidth}×${img.naturalHeight} · server ${resp.headers.get("x-render-ms")} ms (cache ${resp.headers.get("x-preview-cache")}) · ${ms} ms`;
  img.dataset.frame = String(state.frame);
  showErrors(null);
  setStatus("valid");
  markFilmstrip();
  // After the frame asked for: the strip waits while a preview is wanted or playing.
  if (!state.playing && state.wanted === null) setTimeout(refreshFilmstrip, 0);
  return true;
}

$("scrubber").addEventListener("input", (e) => schedulePreview(Number(e.target.value)));

// ---------------------------------------------------------------- filmstrip

const FILMSTRIP_FRAMES = 8;
const FILMSTRIP_WIDTH = 160;
/** The project text the filmstrip shows, and a counter that stops an outdated fill. */
const strip = { text: null, generation: 0 };

/** Fills the filmstrip with frames spread over the timeline (once per project text; the server
 *  keeps the prepared project, so each is one composition). Clicking one shows it. */
async function refreshFilmstrip() {
  const text = editor.value;
  if (text === strip.text || !state.total) return;
  strip.text = text;
  const generation = ++strip.generation;
  const box = $("filmstrip");
  box.replaceChildren();
  const total = state.total;
  const frames = [...new Set(Array.from({ length: FILMSTRIP_FRAMES }, (_, i) =>
    Math.min(total - 1, Math.round((i * (total - 1)) / Math.max(1, FILMSTRIP_FRAMES - 1)))))];
  for (const n of frames) {
    const resp = await call(`${API}/render/previews?frame=${n}&width=${FILMSTRIP_WIDTH}&format=jpeg`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: text,
    });
    if (generation !== strip.generation) return;
    if (!resp.ok) {
      strip.text = null;
      return;
    }
    const img = document.createElement("img");
    img.src = URL.createObjectURL(await resp.blob());
    img.alt = `frame ${n}`;
    img.title = `frame ${n} · ${(n / state.fps).toFixed(2)} s`;
    img.dataset.frame = String(n);
    img.onload = () => URL.revokeObjectURL(img.src);
    img.onclick = () => {
      $("scrubber").value = n;
      schedulePreview(n);
    };
    box.append(img);
  }
}

/** Marks the filmstrip frame nearest to the one shown. */
function markFilmstrip() {
  let best = null;
  for (const img of $("filmstrip").children) {
    img.classList.remove("current");
    if (Number(img.dataset.frame) <= state.frame) best = img;
  }
  if (best) best.classList.add("current");
}

/** Plays previews in real time, skipping frames the server cannot keep up with. */
async function play() {
  state.playing = true;
  $("play-button").textContent = "❚❚ Pause";
  let first = state.frame + 1 >= state.total ? 0 : state.frame;
  const t0 = performance.now();
  while (state.playing) {
    const n = first + Math.floor(((performance.now() - t0) / 1000) * state.fps);
    if (n >= state.total) break;
    if (!(await showFrame(n))) break;
    $("scrubber").value = n;
    if (n === state.frame && performance.now() - t0 < ((n - first + 1) / state.fps) * 1000) {
      await new Promise((r) => setTimeout(r, 1000 / state.fps));
    }
  }
  state.playing = false;
  $("play-button").textContent = "▶ Play";
}

$("play-button").onclick = () => {
  if (state.playing) state.playing = false;
  else play();
};

// ---------------------------------------------------------------- render and jobs

$("render-button").onclick = async () => {
  const project = parsedProject();
  if (!project) return;
  // The server names the stored copy (a fixed projectId could only be created once).
  delete project.projectId;
  delete project.$schema;
  const status = $("render-status");
  status.textContent = "storing the project…";
  const created = await call(`${API}/render/projects`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(project),
  });
  if (!created.ok) {
    const body = await errorBody(created);
    showErrors(body);
    status.textContent = `project refused: ${body.message}`;
    return;
  }
  const stored = await created.json();
  const request = { projectId: stored.projectId };
  if ($("quality-select").value) request.quality = $("quality-select").value;
  if ($("output-select").value) request.outputFormat = $("output-select").value;
  const submitted = await call(`${API}/render/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  if (!submitted.ok) {
    const body = await errorBody(submitted);
    status.textContent = `job refused: ${body.message}`;
    return;
  }
  const job = await submitted.json();
  status.textContent = `job ${job.jobId} queued`;
  showJob(job, true);
  follow(job.jobId);
};

const TERMINAL = ["completed", "failed", "cancelled"];

function jobElement(id) {
  let li = document.getElementById(`job-${id}`);
  if (li) return li;
  li = document.createElement("li");
  li.id = `job-${id}`;
  li.dataset.job = id;
  li.innerHTML = `<div class="line"><code class="id"></code><span class="status"></span>
    <progress max="100" value="0"></progress><span class="percent"></span>
    <span class="phase"></span><span class="eta"></span><button type="button" class="cancel">Cancel</button></div>
    <div class="result"></div>`;
  li.querySelector(".id").textContent = id.slice(0, 8);
  li.querySelector(".cancel").onclick = async () => {
    const resp = await call(`${API}/render/jobs/${id}`, { method: "DELETE" });
    if (!resp.ok) $("render-status").textContent = `cancel: ${(await errorBody(resp)).message}`;
  };
  return li;
}

/** Shows a job's state (a JobView) in its list item. */
function showJob(job, first) {
  const li = jobElement(job.jobId);
  if (first) $("jobs").prepend(li);
  else if (!li.isConnected) $("jobs").append(li);
  li.dataset.status = job.status;
  const status = li.querySelector(".status");
  status.textContent = job.status;
  status.className = `status ${job.status}`;
  li.querySelector("progress").value = job.progress;
  li.querySelector(".percent").textContent = `${Math.round(job.progress)} %`;
  li.querySelector(".phase").textContent = job.currentPhase || "";
  const eta = job.estimatedTimeRemaining;
  li.querySelector(".eta").textContent = eta != null && !TERMINAL.includes(job.status) ? `ETA ${eta.toFixed(1)} s` : "";
  li.querySelector(".cancel").hidden = TERMINAL.includes(job.status);
  const result = li.querySelector(".result");
  if (job.status === "failed" && job.error) result.textContent = job.error;
  if (job.status === "completed" && job.outputUrl && !result.querySelector("video")) {
    const video = document.createElement("video");
    video.controls = true;
    video.preload = "metadata";
    video.src = job.outputUrl;
    const link = document.createElement("a");
    link.href = job.outputUrl;
    link.download = `${job.jobId}.${job.outputFormat}`;
    link.textContent = "Download";
    result.replaceChildren(video, link);
  }
}

/** Follows a job's Server-Sent Events (read with fetch, which can send the API key). */
async function follow(id) {
  const resp = await call(`${API}/render/jobs/${id}/events`, { headers: { accept: "text/event-stream" } });
  if (!resp.ok || !resp.body) return;
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if ((event === "job" || event === "end") && data.length) showJob(JSON.parse(data.join("\n")));
    }
  }
}

async function loadJobs() {
  const resp = await call(`${API}/render/jobs?limit=10`);
  if (!resp.ok) return;
  const list = await resp.json();
  for (const job of list.items) {
    showJob(job, false);
    if (!TERMINAL.includes(job.status)) follow(job.jobId);
  }
}

loadExamples();
loadJobs();
