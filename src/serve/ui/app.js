// The s2d web wizard: the original S2D's numbered steps in the browser, a page of plans
// (diff, apply, destroy, jobs) and a usage page. Plain ES2020, no framework, nothing fetched
// from elsewhere. It knows only the HTTP API of `s2d serve` (docs/serve.md,
// /v1/openapi.json): it composes a TOML plan, posts it, shows the diff, starts jobs and
// follows their event stream. It decides nothing about what a migration changes.
"use strict";

/* ------------------------------------------------------------------------------------------
 * Constants (the plan format's allowed values: src/plan/validate.rs)
 * ---------------------------------------------------------------------------------------- */

const TOKEN_KEY = "s2d-token";
const DISK_FORMATS = ["raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso", "ami", "aki", "ari", "ploop"];
const VISIBILITIES = ["private", "shared", "community", "public"];

const STEP_TITLES = [
  null,
  "Source cloud",
  "Server and snapshot",
  "Image and server options",
  "Target cloud and networks",
  "Keypair",
  "Security group",
  "Floating IP",
  "Review",
  "Apply",
];

/** Every field a diagnostic can point at: its step and its label. */
const FIELDS = {
  "source-cloud": { step: 1, label: "Source cloud" },
  server: { step: 2, label: "Server" },
  "snapshot-name": { step: 2, label: "Snapshot name" },
  "image-name": { step: 3, label: "Image name" },
  "disk-format": { step: 3, label: "Disk format" },
  visibility: { step: 3, label: "Visibility" },
  "target-name": { step: 3, label: "Server name in the target" },
  flavor: { step: 3, label: "Flavor" },
  volumes: { step: 3, label: "Volumes" },
  stop: { step: 3, label: "Stop the source while its volumes are copied" },
  "target-cloud": { step: 4, label: "Target cloud" },
  network: { step: 4, label: "Networks" },
  // `nic-<i>`: one per NIC of the chosen server, added when its NICs are listed (step 4).
  keypair: { step: 5, label: "Keypair" },
  "secgroup-name": { step: 6, label: "Security group" },
  fip: { step: 7, label: "Floating IP" },
};

const GLYPHS = {
  create: "+",
  update: "~",
  replace: "±",
  delete: "-",
  adopt: "<=",
  forget: "x",
  no_op: "·",
};

const VERBS = {
  create: "will be created",
  update: "will be updated in place",
  replace: "will be replaced (deleted and made again)",
  delete: "will be deleted",
  adopt: "exists and will be adopted (used, not duplicated)",
  forget: "will be forgotten (dropped from the state, left in the cloud)",
  no_op: "unchanged",
};

/* ------------------------------------------------------------------------------------------
 * Small DOM helpers
 * ---------------------------------------------------------------------------------------- */

/**
 * Make an element. `attrs`: `class`, `text`, `dataset` (object), `on<event>` (a function,
 * attached with addEventListener: the page's policy allows no inline handlers), boolean
 * properties (`disabled`, `checked`, `selected`, `hidden`, `multiple`), anything else as an
 * attribute. Children: nodes, strings, numbers, arrays; null/undefined/false are skipped.
 */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (["disabled", "checked", "selected", "hidden", "multiple", "required", "open"].includes(key)) el[key] = Boolean(value);
    else if (key === "value") el.value = value;
    else el.setAttribute(key, String(value));
  }
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function $(id) {
  return document.getElementById(id);
}

function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replace an element's children (arrays allowed, as in h()). */
function fill(el, ...children) {
  clear(el);
  appendAll(el, children);
  return el;
}

function option(value, label, selected) {
  return h("option", { value, selected: Boolean(selected) }, label);
}

/** A field's error container (`err-<field>`), empty until an error is shown. */
function fieldError(field) {
  return h("div", { class: "field-error", id: `err-${field}`, role: "alert", "aria-live": "polite" });
}

function formRow(label, forId, control, field, hint) {
  return h(
    "div",
    { class: "form-row" },
    h("label", { for: forId }, label),
    h("div", { class: "control" }, control, hint ? h("div", { class: "hint" }, hint) : null, fieldError(field)),
  );
}

function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

function fmtRate(bytes, ms) {
  if (!bytes || !ms) return "";
  return `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s`;
}

/**
 * When the service logged an event (its `ts`, RFC 3339) in milliseconds, else null (an
 * event of an older service has none).
 */
function eventTime(data) {
  if (!data || typeof data.ts !== "string") return null;
  const ms = Date.parse(data.ts);
  return Number.isNaN(ms) ? null : ms;
}

function fmtNum(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return "";
  return Number(n).toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString();
}

/** A string as a TOML basic string (JSON's escapes are a subset of TOML's). */
function tomlString(s) {
  return JSON.stringify(String(s));
}

/* ------------------------------------------------------------------------------------------
 * The token and the API
 * ---------------------------------------------------------------------------------------- */

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body || null;
    this.help = body && body.error && body.error.help ? body.error.help : null;
  }
}

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (_) {
    return "";
  }
}

function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (_) {
    /* storage refused (private mode): the token is asked again after a reload */
  }
}

/** Take `#token=...` from the address, keep it, and take it out of the address bar. */
function readTokenFromHash() {
  const hash = location.hash || "";
  const m = hash.match(/^#(?:.*[&?])?token=([^&]*)/);
  if (!m) return;
  const value = decodeURIComponent(m[1]).trim();
  if (value) setToken(value);
  history.replaceState(null, "", `${location.pathname}${location.search}#/wizard/1`);
}

function showTokenBar(message) {
  $("token-bar").hidden = false;
  $("token-message").textContent = message || "";
  const input = $("token-input");
  input.value = "";
  input.focus();
}

function hideTokenBar() {
  $("token-bar").hidden = true;
  $("token-message").textContent = "";
}

/**
 * Call the API. JSON answers are parsed; `raw: true` returns the Response (downloads, event
 * streams). Errors become ApiError with the service's message; a 401 brings the token field
 * back.
 */
async function api(method, path, opts = {}) {
  const headers = { Authorization: `Bearer ${token()}` };
  let body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.body !== undefined) {
    headers["Content-Type"] = opts.type || "text/plain";
    body = opts.body;
  }
  Object.assign(headers, opts.headers || {});
  let res;
  try {
    res = await fetch(path, { method, headers, body, signal: opts.signal, cache: "no-store" });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, `the service cannot be reached (${e && e.message ? e.message : e})`);
  }
  if (res.status === 401) {
    showTokenBar("The service refused the token: paste the one it printed at start.");
    throw new ApiError(401, "the service refused the token: paste the token in the field above");
  }
  if (!res.ok) {
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      data = null;
    }
    const message = data && data.error && data.error.message ? data.error.message : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, message, data);
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/** Cloud listings, kept for the wizard's session (going back does not ask again). */
const listCache = new Map();

async function cached(path) {
  if (!listCache.has(path)) {
    const p = api("GET", path);
    listCache.set(path, p);
    p.catch(() => listCache.delete(path));
  }
  return listCache.get(path);
}

function cloudPath(cloud, what) {
  return `/v1/clouds/${encodeURIComponent(cloud)}/${what}`;
}

/** Fetch with the token and save the answer as a file through a Blob URL. */
async function download(path, fallbackName) {
  const res = await api("GET", path, { raw: true });
  const blob = await res.blob();
  let name = fallbackName;
  const cd = res.headers.get("Content-Disposition") || "";
  const m = cd.match(/filename="?([^";]+)"?/);
  if (m) name = m[1];
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

/**
 * Run `fn` with `buttons` disabled (a request runs); errors go to `errorBox` if given.
 * Returns fn's result, or undefined after an error.
 */
async function busy(buttons, fn, errorBox) {
  const list = (Array.isArray(buttons) ? buttons : [buttons]).filter(Boolean);
  const before = list.map((b) => b.disabled);
  list.forEach((b) => {
    b.disabled = true;
    b.classList.add("busy");
  });
  try {
    return await fn();
  } catch (e) {
    if (errorBox) showApiError(errorBox, e);
    else console.error(e);
    return undefined;
  } finally {
    list.forEach((b, i) => {
      b.disabled = before[i];
      b.classList.remove("busy");
    });
  }
}

function showApiError(box, e) {
  if (!box) return;
  clear(box);
  if (!e) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const status = e.status ? ` (HTTP ${e.status})` : "";
  box.append(h("strong", {}, "Error"), `${status}: ${e.message || e}`);
  if (e.help) box.append(h("div", { class: "help" }, e.help));
}

/* ------------------------------------------------------------------------------------------
 * Event streams (Server-Sent Events read with fetch: EventSource sends no Authorization)
 * ---------------------------------------------------------------------------------------- */

/**
 * Read `GET /v1/jobs/{id}/events` to its `end`, calling onEvent(kind, data, id) for each
 * event. Reconnects with Last-Event-ID when the connection drops before `end`. Resolves
 * with the final Job.
 */
async function followJob(jobId, onEvent, signal) {
  let lastId = null;
  let failures = 0;
  for (;;) {
    try {
      const headers = {};
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const res = await api("GET", `/v1/jobs/${encodeURIComponent(jobId)}/events`, { raw: true, headers, signal });
      let final = null;
      await readSse(res, (ev) => {
        if (ev.id !== null) lastId = ev.id;
        let data = null;
        try {
          data = ev.data ? JSON.parse(ev.data) : null;
        } catch (_) {
          data = ev.data;
        }
        failures = 0;
        if (ev.event === "end") final = data;
        onEvent(ev.event, data, ev.id);
      });
      if (final) return final;
    } catch (e) {
      if ((e && e.name === "AbortError") || (e instanceof ApiError && e.status >= 400 && e.status < 500)) throw e;
    }
    failures++;
    if (failures > 20) {
      // The stream keeps failing: ask for the job itself.
      return api("GET", `/v1/jobs/${encodeURIComponent(jobId)}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(500 * failures, 5000)));
  }
}

/** Parse an SSE body: `field: value` lines, a blank line ends an event. */
async function readSse(res, dispatch) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  let ev = { id: null, event: "message", data: [] };
  const line = (text) => {
    if (text === "") {
      if (ev.data.length) dispatch({ id: ev.id, event: ev.event || "message", data: ev.data.join("\n") });
      ev = { id: null, event: "message", data: [] };
      return;
    }
    if (text.startsWith(":")) return; // a comment (keep-alive)
    const colon = text.indexOf(":");
    const field = colon < 0 ? text : text.slice(0, colon);
    let value = colon < 0 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") ev.data.push(value);
    else if (field === "event") ev.event = value;
    else if (field === "id") ev.id = value;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let m;
    while ((m = buffer.match(/\r\n|\r|\n/))) {
      // A lone \r at the end of the buffer may be the start of \r\n: wait for more.
      if (m[0] === "\r" && m.index === buffer.length - 1) break;
      line(buffer.slice(0, m.index));
      buffer = buffer.slice(m.index + m[0].length);
    }
  }
  buffer += decoder.decode();
  if (buffer) line(buffer.replace(/\r$/, ""));
  line("");
}

/* ------------------------------------------------------------------------------------------
 * Job progress view (wizard step 9, and the plans page)
 * ---------------------------------------------------------------------------------------- */

/** A volume's addresses: its intermediates and the target volume, `<kind>.<server>[i]`. */
const VOLUME_ADDRESS = /^(volume_snapshot|volume_copy|volume_upload|volume_image|volume)\.(.+\[\d+\])$/;
/** The order a volume's steps run in. */
const VOLUME_STAGES = ["volume_snapshot", "volume_copy", "volume_upload", "volume_image", "volume"];

/**
 * The live view of one job: a row per resource with its state and elapsed time, a progress
 * bar per image transfer, then the final status, the overview and the private keys. Its
 * DOM is built once and keeps updating while detached (the wizard re-attaches it).
 */
class JobView {
  constructor(planId) {
    this.planId = planId;
    this.jobId = null;
    this.rows = new Map();
    this.ended = false;
    this.job = null;
    this.onEnd = null;
    // The words after a volume's heading (`<server>[i]` -> "name, 1 GiB, root"), when the
    // page knows the server's volumes (the wizard does).
    this.describeVolume = null;
    this.root = h("div", { class: "job-view" });
    this.head = h(
      "div",
      { class: "job-head" },
      h("span", { class: "label" }, "Job: "),
      (this.jobLabel = h("code", {}, "—")),
      " · status: ",
      (this.status = h("span", { id: "job-status", class: "job-status", "data-status": "" }, "not started")),
      (this.cancelBtn = h("button", { id: "job-cancel", type: "button", class: "secondary small", hidden: true, onclick: () => this.cancel() }, "Stop")),
    );
    this.note = h("div", { class: "job-note" });
    this.errors = h("div", { class: "api-error", hidden: true });
    this.table = h(
      "table",
      { class: "progress-table" },
      h("thead", {}, h("tr", {}, h("th", {}, "Resource"), h("th", {}, "Action"), h("th", {}, "State"), h("th", {}, "Elapsed"), h("th", { class: "wide" }, "Progress"))),
      (this.tbody = h("tbody", {})),
    );
    this.progress = h("div", { id: "progress", class: "progress" }, this.table);
    this.final = h("div", { class: "job-final" });
    this.root.append(this.head, this.errors, this.final, this.progress, this.note);
    this.ticker = setInterval(() => this.tick(), 500);
  }

  async cancel() {
    if (!this.jobId) return;
    await busy(this.cancelBtn, async () => {
      await api("POST", `/v1/jobs/${encodeURIComponent(this.jobId)}/cancel`);
      this.note.textContent = "Stopping: no new step starts; the running ones finish and the state is saved.";
    }, this.errors);
  }

  /** Start following a job (its events from the start). */
  follow(job) {
    this.jobId = job.id;
    this.job = job;
    this.jobLabel.textContent = `${job.kind} ${job.id}`;
    this.setStatus(job.status);
    this.cancelBtn.hidden = job.status !== "running";
    followJob(job.id, (kind, data) => this.event(kind, data))
      .then((final) => this.end(final))
      .catch((e) => {
        showApiError(this.errors, e);
        this.setStatus("unknown");
      });
  }

  setStatus(status) {
    this.status.textContent = status;
    this.status.dataset.status = status;
    this.status.className = `job-status st-${status}`;
  }

  row(address, action) {
    let r = this.rows.get(address);
    if (!r) {
      const bar = h("progress", { max: 1, value: 0, hidden: true });
      const barText = h("span", { class: "bar-text" });
      const tr = h(
        "tr",
        { id: `progress-${address}`, dataset: { state: "pending" }, class: "st-pending" },
        h("td", {}, h("code", {}, address)),
        h("td", { class: "action" }, action || ""),
        h("td", { class: "state" }, "pending"),
        h("td", { class: "elapsed num" }, ""),
        h("td", { class: "wide" }, bar, barText),
      );
      // Rate samples are taken on one clock: the events' `ts` when they carry it (true for a
      // replayed job too), else their arrival time. `lastAt`/`lastBytes`: the sample's start.
      r = { tr, bar, barText, state: "pending", started: null, startedTs: null, elapsed: null, bytes: 0, total: null, clock: null, lastAt: null, lastBytes: 0, rate: null, peak: null, message: null };
      this.rows.set(address, r);
      this.place(address, tr);
    } else if (action && !r.tr.children[1].textContent) {
      r.tr.children[1].textContent = action;
    }
    return r;
  }

  /**
   * Put a new row in the table: a volume's steps (`volume_snapshot.`, `volume_copy.`,
   * `volume_upload.`, `volume_image.`, then `volume.` `<server>[i]`) together under one
   * heading per volume, in the order they run; any other row at the end.
   */
  place(address, tr) {
    const m = VOLUME_ADDRESS.exec(address);
    if (!m) {
      this.tbody.append(tr);
      return;
    }
    const key = m[2];
    const stage = VOLUME_STAGES.indexOf(m[1]);
    tr.dataset.volume = key;
    tr.dataset.stage = String(stage);
    tr.classList.add("volume-step");
    if (!this.volumeGroups) this.volumeGroups = new Map();
    let group = this.volumeGroups.get(key);
    if (!group) {
      const head = h("tr", { class: "volume-head", dataset: { volume: key } }, h("td", { colspan: 5 }, "Volume ", h("code", {}, key), this.describeVolume ? this.describeVolume(key) : null));
      this.tbody.append(head);
      group = { head, rows: [] };
      this.volumeGroups.set(key, group);
    }
    // The group's rows are kept in stage order: before the first of a later stage, else last.
    const before = group.rows.find((r) => Number(r.dataset.stage) > stage);
    if (before) before.before(tr);
    else (group.rows.length ? group.rows[group.rows.length - 1] : group.head).after(tr);
    group.rows.push(tr);
    group.rows.sort((a, b) => Number(a.dataset.stage) - Number(b.dataset.stage));
  }

  setState(address, state, text) {
    const r = this.row(address);
    r.state = state;
    r.tr.dataset.state = state;
    r.tr.className = `st-${state}${r.tr.dataset.volume ? " volume-step" : ""}`;
    r.tr.children[2].textContent = state;
    if (text !== undefined) {
      const td = r.tr.children[4];
      let msg = td.querySelector(".row-message");
      if (!msg) {
        msg = h("div", { class: "row-message" });
        td.append(msg);
      }
      msg.textContent = text;
    }
    return r;
  }

  event(kind, data) {
    if (!data || typeof data !== "object") return;
    switch (kind) {
      case "planned": {
        for (const c of data.changes || []) {
          const k = c.action && c.action.kind;
          if (k && k !== "no_op") this.row(c.address, k);
        }
        if (!(data.changes || []).some((c) => c.action && c.action.kind !== "no_op")) {
          this.note.textContent = "Nothing to change: the target already matches the plan.";
        }
        break;
      }
      case "started": {
        const r = this.setState(data.address, "running");
        if (data.action) r.tr.children[1].textContent = data.action;
        r.started = performance.now();
        r.startedTs = eventTime(data);
        break;
      }
      case "finished": {
        const r = this.setState(data.address, "done");
        r.elapsed = data.elapsed_ms;
        r.tr.children[3].textContent = fmtMs(data.elapsed_ms);
        if (r.bytes && data.elapsed_ms) {
          r.bar.max = r.total || r.bytes;
          r.bar.value = r.bytes;
          const peak = r.peak !== null ? `, peak ${(r.peak / 1e6).toFixed(1)} MB/s` : "";
          r.barText.textContent = `${fmtBytes(r.bytes)} · ${fmtRate(r.bytes, data.elapsed_ms)} average${peak}`;
        }
        break;
      }
      case "failed": {
        const r = this.setState(data.address, "failed", data.message || "failed");
        const at = eventTime(data);
        if (r.startedTs !== null && at !== null) r.tr.children[3].textContent = fmtMs(at - r.startedTs);
        else if (r.started !== null) r.tr.children[3].textContent = fmtMs(performance.now() - r.started);
        break;
      }
      case "skipped":
        this.setState(data.address, "skipped", `skipped: ${data.because} did not succeed`);
        break;
      case "cancelled":
        this.setState(data.address, "cancelled", "not started: the job was stopped");
        break;
      case "transfer":
        this.transfer(data);
        break;
      case "state_saved":
        this.note.textContent = `State saved (serial ${data.serial}).`;
        break;
      case "state_save_failed":
        this.errors.hidden = false;
        this.errors.append(h("div", {}, h("strong", {}, "The state could not be saved: "), data.message || ""));
        break;
      default:
        break;
    }
  }

  transfer(data) {
    const r = this.row(data.address, "create");
    // The service's time of the event gives true rates even when the events are replayed from
    // the log (they then arrive all at once); the arrival time is the fallback.
    const ts = eventTime(data);
    const clock = ts !== null ? "ts" : "arrival";
    const now = ts !== null ? ts : performance.now();
    if (r.clock !== clock || r.lastAt === null || data.bytes < r.lastBytes) {
      // The first sample, or another clock, or a transfer that started over: a new baseline.
      r.clock = clock;
      r.lastAt = now;
      r.lastBytes = data.bytes;
    } else if (now - r.lastAt > 150 && data.bytes > r.lastBytes) {
      const inst = (data.bytes - r.lastBytes) / ((now - r.lastAt) / 1000);
      r.rate = r.rate === null ? inst : 0.6 * inst + 0.4 * r.rate;
      r.peak = r.peak === null ? r.rate : Math.max(r.peak, r.rate);
      r.lastAt = now;
      r.lastBytes = data.bytes;
    }
    r.bytes = data.bytes;
    r.total = data.total;
    r.bar.hidden = false;
    if (data.total) {
      r.bar.max = data.total;
      r.bar.value = Math.min(data.bytes, data.total);
    } else {
      r.bar.removeAttribute("value"); // indeterminate
    }
    const pct = data.total ? ` (${Math.floor((100 * data.bytes) / data.total)} %)` : "";
    const rate = r.rate !== null ? ` · ${(r.rate / 1e6).toFixed(1)} MB/s` : "";
    r.barText.textContent = `${fmtBytes(data.bytes)}${data.total ? ` of ${fmtBytes(data.total)}` : ""}${pct}${rate}`;
  }

  tick() {
    if (this.ended) return;
    for (const r of this.rows.values()) {
      if (r.state === "running" && r.started !== null) r.tr.children[3].textContent = fmtMs(performance.now() - r.started);
    }
  }

  /** The job ended: its final record. */
  end(job) {
    this.ended = true;
    clearInterval(this.ticker);
    this.job = job;
    this.cancelBtn.hidden = true;
    if (!job) return;
    this.setStatus(job.status);
    // The report is the truth about each node (events may have been thinned or missed).
    const report = job.report;
    if (report && Array.isArray(report.nodes)) {
      for (const n of report.nodes) {
        const text = n.status === "failed" ? n.message : n.status === "skipped" ? `skipped: ${n.because} did not succeed` : undefined;
        const r = this.setState(n.address, n.status, text);
        if (n.action) r.tr.children[1].textContent = n.action;
        if (n.elapsed_ms || n.status === "done") r.tr.children[3].textContent = fmtMs(n.elapsed_ms);
      }
    }
    for (const r of this.rows.values()) {
      if (r.state === "running" || r.state === "pending") this.setState(r.tr.id.slice("progress-".length), job.status === "succeeded" ? "done" : "not-run");
    }
    clear(this.final);
    const lines = [];
    if (job.error) {
      const d = job.diagnostic || {};
      lines.push(h("div", { class: "api-error" }, h("strong", {}, "The job did not finish: "), job.error,
        d.help ? h("div", { class: "hint" }, "What to do: ", d.help) : null,
        d.code ? h("div", { class: "hint mono" }, d.code, d.request_id ? ` (request ${d.request_id})` : "") : null));
    }
    if (report && report.state_error) lines.push(h("div", { class: "api-error" }, h("strong", {}, "State: "), report.state_error));
    if (report) {
      const count = (s) => report.nodes.filter((n) => n.status === s).length;
      lines.push(
        h(
          "p",
          { class: "job-summary" },
          `${job.kind === "destroy" ? "Destroy" : "Apply"} ${job.status}: ${count("done")} done, ${count("failed")} failed, ${count("skipped")} skipped, ${count("cancelled")} not started, in ${fmtMs(report.total_ms)}.`,
        ),
      );
    }
    if (job.private_keys && job.private_keys.length) lines.push(this.keys(job));
    if (Array.isArray(job.overview)) lines.push(overviewTable(job.overview));
    appendAll(this.final, lines);
    if (this.onEnd) this.onEnd(job);
  }

  keys(job) {
    const box = h("div", { class: "private-keys" }, h("h3", {}, "Private keys"), h("p", { class: "hint" }, "The target generated these keys: save them now, they are not shown anywhere else."));
    const err = h("div", { class: "api-error", hidden: true });
    for (const address of job.private_keys) {
      const name = address.replace(/^keypair\./, "");
      const btn = h("button", {
        id: `key-${name}`,
        type: "button",
        class: "secondary",
        onclick: () => busy(btn, () => download(`/v1/plans/${encodeURIComponent(job.plan_id)}/keys/${encodeURIComponent(name)}`, `${name}.pem`), err),
      }, `Download ${name}.pem`);
      box.append(btn, " ");
    }
    box.append(err);
    return box;
  }

  dispose() {
    clearInterval(this.ticker);
  }
}

/** The servers as the target reports them after a job (ServerOverview). */
function overviewTable(rows) {
  const heads = ["Server", "Status", "Flavor", "Image", "Keypair", "Security groups", "Fixed IPs", "Floating IPs"];
  const table = h("table", { id: "overview", class: "overview" }, h("thead", {}, h("tr", {}, heads.map((t) => h("th", {}, t)))));
  const body = h("tbody", {});
  const shortId = (id) => h("span", { class: "mono small", title: id || "" }, id && id.length > 13 ? `${id.slice(0, 8)}…` : id || "");
  for (const s of rows) {
    body.append(
      h(
        "tr",
        { id: `overview-${s.address}`, class: "server-row" },
        h("td", {}, h("strong", {}, String(s.address).replace(/^server\./, "")), h("div", { class: "hint" }, "id ", shortId(s.id))),
        h("td", { class: `status-${String(s.status).toLowerCase()}` }, s.status),
        h("td", {}, s.flavor),
        h("td", {}, shortId(s.image)),
        h("td", {}, s.keypair),
        h("td", {}, (s.security_groups || []).join(", ")),
        h("td", { class: "mono" }, (s.fixed_ips || []).join(", ")),
        h("td", { class: "mono" }, (s.floating_ips || []).join(", ") || h("span", { class: "hint" }, "none")),
      ),
    );
    if (s.steps && s.steps.length) {
      body.append(
        h(
          "tr",
          { class: "steps-row" },
          h(
            "td",
            { colspan: heads.length },
            h("span", { class: "hint" }, "Steps: "),
            s.steps.map((st, i) => [
              i ? h("span", { class: "sep" }, " → ") : null,
              h("span", { class: "step-time" }, h("code", {}, st.address), ` ${fmtMs(st.elapsed_ms)}`, st.bytes ? ` (${fmtBytes(st.bytes)}, ${fmtRate(st.bytes, st.elapsed_ms)})` : ""),
            ]),
          ),
        ),
      );
    }
  }
  if (!rows.length) body.append(h("tr", {}, h("td", { colspan: heads.length, class: "hint" }, "No server is recorded in the state.")));
  table.append(body);
  return h("div", { class: "overview-box" }, h("h3", {}, "Overview"), table);
}

/* ------------------------------------------------------------------------------------------
 * Diff rendering (the `s2d plan --json` document)
 * ---------------------------------------------------------------------------------------- */

function summaryLine(outcome) {
  const s = outcome.summary || {};
  const changes = outcome.changes || [];
  if (!changes.some((c) => c.action && c.action.kind !== "no_op")) {
    return outcome.operation === "destroy" ? "Nothing to destroy: the state records no resource." : "No changes: the target already matches the plan.";
  }
  let text = `${outcome.operation === "destroy" ? "Destroy" : "Plan"}: ${s.add || 0} to add, ${s.change || 0} to change, ${s.destroy || 0} to destroy`;
  if (s.adopt) text += `, ${s.adopt} to adopt`;
  return `${text}.`;
}

function short(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function renderDiff(outcome) {
  const list = h("ul", { id: "diff", class: "diff" });
  const unchanged = [];
  for (const c of outcome.changes || []) {
    const kind = (c.action && c.action.kind) || "no_op";
    if (kind === "no_op") {
      unchanged.push(c);
      continue;
    }
    const details = [];
    if (kind === "update" && Array.isArray(c.action.changes)) {
      details.push(h("ul", { class: "attr-changes" }, c.action.changes.map((a) => h("li", {}, h("code", {}, a.name), ": ", h("span", { class: "before" }, short(a.before)), " → ", h("span", { class: "after" }, short(a.after))))));
    }
    const reason = c.reason || (kind === "replace" && c.action.reason) || null;
    const attrs = c.after || c.before;
    if (attrs && Object.keys(attrs).length) {
      details.push(
        h(
          "details",
          { class: "attrs" },
          h("summary", {}, "attributes"),
          h("table", { class: "kv" }, h("tbody", {}, Object.entries(attrs).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", { class: "mono" }, short(v)))))),
        ),
      );
    }
    list.append(
      h(
        "li",
        { class: `change act-${kind}`, id: `change-${c.address}`, dataset: { action: kind } },
        h("span", { class: "glyph", "aria-hidden": "true" }, GLYPHS[kind] || "?"),
        h("code", { class: "address" }, c.address),
        " ",
        h("span", { class: "verb" }, VERBS[kind] || kind),
        reason ? h("span", { class: "reason" }, ` (${reason})`) : null,
        c.id ? h("span", { class: "hint mono" }, ` id ${c.id}`) : null,
        details,
      ),
    );
  }
  if (unchanged.length) {
    list.append(
      h(
        "li",
        { class: "change act-no_op" },
        h("span", { class: "glyph", "aria-hidden": "true" }, GLYPHS.no_op),
        h("details", {}, h("summary", {}, `${unchanged.length} unchanged`), h("ul", {}, unchanged.map((c) => h("li", {}, h("code", {}, c.address))))),
      ),
    );
  }
  return h("div", { class: "diff-box" }, h("p", { id: "diff-summary", class: "diff-summary" }, summaryLine(outcome)), list);
}

/* ------------------------------------------------------------------------------------------
 * The wizard's state
 * ---------------------------------------------------------------------------------------- */

function freshWizard() {
  return {
    step: 1,
    reached: 1,
    servers: null, // the source cloud's servers, once listed
    source: "",
    server: "",
    serverId: "",
    snapshot: "",
    imageName: "",
    diskFormat: "",
    visibility: "private",
    targetName: "",
    flavor: "",
    target: "",
    network: "",
    nics: null, // the chosen server's NICs, in NIC order (GET .../servers/{id}/nics)
    nicsOf: "", // the server they were listed for
    nicPlan: [], // per NIC: { mode: "map" | "build", network, keepIp, keepMac, name, router }
    fipNic: 0, // the NIC the floating IP goes on
    volumes: null, // the chosen server's volumes, root first (GET .../servers/{id}/volumes)
    volumesOf: "", // the server they were listed for
    volSkip: [], // ids of the volumes left behind
    volTypes: {}, // source volume type -> target volume type ("" or absent: the target's default)
    stop: false, // shut the source off while its volumes are snapshotted
    kpMode: "",
    kpImport: "",
    kpCreate: "",
    kpExisting: "",
    sgName: "",
    fipMode: "",
    fipPool: "",
    fipExisting: "",
    // Which text fields still follow their default (the user has not typed in them).
    auto: { snapshot: true, imageName: true, targetName: true, kpCreate: true, sgName: true },
    errors: {}, // field -> message, from the page's own checks
    diag: {}, // field -> [diagnostic], from the service's 422
    generalDiag: [],
    planId: null,
    submitted: null, // the TOML text last accepted by the service
    planOk: false,
    outcome: null,
    jobView: null,
    finished: false,
  };
}

let W = freshWizard();

function resetWizard() {
  if (W.jobView) W.jobView.dispose();
  W = freshWizard();
  listCache.clear();
}

function serverObj() {
  return W.servers ? W.servers.find((s) => (W.serverId ? s.id === W.serverId : s.name === W.server)) || null : null;
}

/**
 * The chosen server's volumes (`GET .../servers/{id}/volumes`), the root volume first. An
 * encrypted volume cannot be moved: it starts out skipped, and stays so.
 */
async function serverVolumes() {
  const s = serverObj();
  const key = s ? s.id : "";
  if (!W.volumes || W.volumesOf !== key) {
    const answer = s ? await cached(cloudPath(W.source, `servers/${encodeURIComponent(s.id)}/volumes`)) : null;
    W.volumes = (answer && answer.volumes) || [];
    W.volumesOf = key;
    W.volSkip = W.volumes.filter((v) => v.encrypted && !v.root).map((v) => v.id);
    W.volTypes = {};
  }
  return W.volumes;
}

/** How the plan names a volume: its name when no other volume of the server has it, else its id. */
function volumeRef(v) {
  const vols = W.volumes || [];
  return v.name && vols.filter((o) => o.name === v.name).length === 1 ? v.name : v.id;
}

/** The source volume types of the volumes that come along, sorted. */
function movedVolumeTypes() {
  const types = new Set();
  for (const v of W.volumes || []) if (v.volume_type && !W.volSkip.includes(v.id)) types.add(v.volume_type);
  return [...types].sort();
}

/**
 * Step 3's volumes: a row per volume (size, type, device, whether it comes along), a select
 * of the target's types per source type, and the `stop` choice. Hidden for a server with none.
 */
async function renderVolumes(box) {
  const vols = await serverVolumes();
  if (!vols.length) return;
  box.hidden = false;
  const rows = vols.map((v, i) => {
    let along;
    if (v.root) along = h("span", { class: "hint" }, "root volume: always comes along");
    else if (v.encrypted) {
      along = h("label", { class: "inline" }, h("input", { type: "checkbox", id: `vol-skip-${i}`, checked: true, disabled: true }), " skip (encrypted: its key stays in the source's key manager, s2d cannot move it)");
    } else {
      along = h("label", { class: "inline" }, h("input", { type: "checkbox", id: `vol-skip-${i}`, checked: W.volSkip.includes(v.id), dataset: { id: v.id }, onchange: () => showTotal() }), " skip (leave it behind)");
    }
    return h(
      "tr",
      { id: `volume-${i}`, dataset: { id: v.id } },
      h("td", {}, v.name ? v.name : h("code", { title: v.id }, v.id), v.encrypted ? " 🔒" : null),
      h("td", { class: "num" }, v.size_gb === null || v.size_gb === undefined ? "?" : `${v.size_gb} GiB`),
      h("td", {}, v.volume_type || "—"),
      h("td", {}, v.device || "—", v.root ? h("strong", {}, " (root)") : null),
      h("td", {}, along),
    );
  });
  const table = h(
    "table",
    { id: "volumes-table", class: "volumes-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Volume"), h("th", {}, "Size"), h("th", {}, "Type"), h("th", {}, "Device"), h("th", {}, "In the target"))),
    h("tbody", {}, rows),
  );
  const sourceTypes = [...new Set(vols.map((v) => v.volume_type).filter(Boolean))].sort();
  const cloud = W.target || W.source;
  const selects = sourceTypes.map((t, j) => {
    const sel = h("select", { id: `voltype-${j}`, dataset: { type: t } }, option("", "target default", !W.volTypes[t]));
    if (W.volTypes[t]) sel.append(option(W.volTypes[t], W.volTypes[t], true));
    return [t, sel];
  });
  const stop = h("input", { type: "checkbox", id: "stop", checked: W.stop });
  const totalText = h("span", { id: "volumes-total" });
  // The GiB the ticked boxes leave to copy, kept current as boxes change.
  const showTotal = () => {
    const total = vols.filter((v, i) => {
      const box = $(`vol-skip-${i}`);
      return v.root || !(box ? box.checked : W.volSkip.includes(v.id));
    }).reduce((n, v) => n + (v.size_gb || 0), 0);
    totalText.textContent = `${total} GiB to copy`;
  };
  fill(
    box,
    h("legend", {}, "Volumes"),
    h("p", { class: "hint" }, `Each volume that comes along is snapshotted and copied in ${W.source}, moved as an image, and made a volume again in the target (`, totalText, `); the server there ${vols.some((v) => v.root) ? "boots from the copy of its root volume and " : ""}gets its data volumes in the same device order.${vols.some((v) => v.root) ? " It boots from a volume: no snapshot or image of the server is made, and the image settings above do not apply." : ""}`),
    table,
    fieldError("volumes"),
    selects.length ? h("h4", {}, "The target's volume type for each source type") : null,
    selects.length && !W.target ? h("p", { class: "hint" }, `The target is chosen in step 4: the types listed are ${cloud}'s until then (come back here to list the target's).`) : null,
    selects.map(([t, sel], j) => formRow(`Type ${t}`, `voltype-${j}`, sel, "volumes")),
    h(
      "div",
      { class: "form-row" },
      h("label", { for: "stop" }, "Stop the source"),
      h(
        "div",
        { class: "control" },
        h("label", { class: "inline" }, stop, " shut the source server off while its volumes are snapshotted"),
        h("div", { class: "hint" }, "Checked: a consistent copy, but the server is down from the first snapshot until the last one is taken (then it is started again). Unchecked: the volumes are copied while it runs, crash-consistent (as if its power were cut)."),
        fieldError("stop"),
      ),
    ),
  );
  showTotal();
  if (!selects.length) return;
  let types = [];
  try {
    types = (await cached(cloudPath(cloud, "volume-types"))).volume_types || [];
  } catch (_) {
    types = [];
  }
  for (const [t, sel] of selects) {
    const current = W.volTypes[t] || "";
    fill(sel, option("", "target default", !current), types.map((vt) => option(vt.name, vt.name, vt.name === current)));
    if (current && !types.some((vt) => vt.name === current)) sel.append(option(current, `${current} (not in ${cloud})`, true));
    sel.title = `volume types of ${cloud}`;
  }
}

/** What the apply copies, in words: the server's image, and its volumes that come along. */
function applyWords() {
  const vols = W.volumes || [];
  const moved = vols.filter((v) => !W.volSkip.includes(v.id));
  const bootsFromVolume = vols.some((v) => v.root);
  const image = bootsFromVolume ? null : `a snapshot is made in ${W.source} and copied into ${W.target} as an image`;
  const volumes = moved.length
    ? `${moved.length === 1 ? "its volume is snapshotted and copied in ${W.source}, moved as an image and made a volume" : `its ${moved.length} volumes are snapshotted and copied in ${W.source}, moved as images and made volumes`} again in ${W.target}${W.stop ? ` (the source is shut off while they are snapshotted)` : ""}`
    : null;
  return [image, volumes].filter(Boolean).join("; ") || `the server is copied from ${W.source} into ${W.target}`;
}

/** Read step 3's volume choices back, when they were shown. */
function collectVolumes() {
  const vols = W.volumes || [];
  if (!$("volumes-table")) return;
  W.volSkip = vols.filter((v, i) => {
    const box = $(`vol-skip-${i}`);
    return !v.root && (v.encrypted || (box && box.checked));
  }).map((v) => v.id);
  document.querySelectorAll("select[id^='voltype-']").forEach((sel) => {
    if (sel.value) W.volTypes[sel.dataset.type] = sel.value;
    else delete W.volTypes[sel.dataset.type];
  });
  const stop = $("stop");
  if (stop) W.stop = stop.checked;
}

/**
 * The chosen server's NICs in NIC order (`GET .../servers/{id}/nics`); when the service
 * cannot list its ports, one NIC per network the server listing names. Each NIC becomes a
 * field (`nic-<i>`) of step 4 that diagnostics and the preflight's refusals point at.
 */
async function serverNics() {
  const s = serverObj();
  const key = s ? s.id : "";
  if (!W.nics || W.nicsOf !== key) {
    let nics = [];
    if (s) {
      const answer = await cached(cloudPath(W.source, `servers/${encodeURIComponent(s.id)}/nics`));
      nics = answer.nics && answer.nics.length ? answer.nics : (s.networks || []).map((n, index) => ({ index, network: n, fixed_ips: [], mac: null }));
    }
    W.nics = nics;
    W.nicsOf = key;
    W.nicPlan = [];
    W.fipNic = 0;
  }
  for (const k of Object.keys(FIELDS)) if (/^nic-\d+$/.test(k)) delete FIELDS[k];
  W.nics.forEach((n, i) => (FIELDS[`nic-${i}`] = { step: 4, label: `NIC ${i} (${n.network})` }));
  return W.nics;
}

/**
 * Where each NIC goes unless the user said otherwise: the target's network of the same
 * name; the first NIC onto `private` (or the first internal network); another NIC onto a
 * network built from its source network.
 */
function planNics(nics, internal) {
  const has = (name) => internal.some((n) => n.name === name);
  nics.forEach((nic, i) => {
    const p = W.nicPlan[i];
    if (p) {
      if (p.mode === "map" && !has(p.network)) p.network = has(nic.network) ? nic.network : "";
      return;
    }
    const fallback = (internal.find((n) => n.name === "private") || internal[0] || {}).name || "";
    const mode = has(nic.network) || i === 0 ? "map" : "build";
    W.nicPlan[i] = { mode, network: has(nic.network) ? nic.network : mode === "map" ? fallback : "", keepIp: false, keepMac: false, name: nic.network, router: "" };
  });
}

/** Read the NIC blocks of step 4 into W.nicPlan. */
function collectNics() {
  (W.nics || []).forEach((nic, i) => {
    const mode = document.querySelector(`input[name="nic-${i}-mode"]:checked`);
    if (!mode || !W.nicPlan[i]) return;
    W.nicPlan[i] = {
      mode: mode.value,
      network: $(`nic-${i}-network`).value,
      keepIp: $(`nic-${i}-keep-ip`).checked,
      keepMac: $(`nic-${i}-keep-mac`).checked,
      name: $(`nic-${i}-build-name`).value.trim(),
      router: $(`nic-${i}-router`).value,
    };
  });
}

/** One NIC of step 4: what it is in the source, and where it goes in the target. */
function nicBlock(nic, i, internal, external, target) {
  const p = W.nicPlan[i];
  const id = (x) => `nic-${i}-${x}`;
  const netSel = h("select", { id: id("network") }, option("", internal.length ? "— choose a network —" : `${target} has no internal network`, !p.network), internal.map((n) => option(n.name, n.name, n.name === p.network)));
  const name = h("input", { id: id("build-name"), type: "text", value: p.name, spellcheck: "false" });
  const router = h("select", { id: id("router") }, option("", "no router", !p.router), external.map((n) => option(n.name, `a router to ${n.name}`, n.name === p.router)));
  const choose = (mode) => () => {
    $(id(`mode-${mode}`)).checked = true;
  };
  netSel.addEventListener("focus", choose("map"));
  netSel.addEventListener("change", choose("map"));
  for (const el of [name, router]) {
    el.addEventListener("focus", choose("build"));
    el.addEventListener("change", choose("build"));
  }
  const ips = (nic.fixed_ips || []).map((f) => `${f.ip}${f.cidr ? ` (${f.subnet ? `${f.subnet} ` : ""}${f.cidr})` : ""}`);
  const keepIp = h("input", { type: "checkbox", id: id("keep-ip"), checked: p.keepIp, disabled: !ips.length });
  const keepMac = h("input", { type: "checkbox", id: id("keep-mac"), checked: p.keepMac, disabled: !nic.mac });
  return h(
    "fieldset",
    { id: `nic-${i}`, class: "nic field-block", dataset: { network: nic.network } },
    h("legend", {}, `NIC ${i} (eth${i}) on ${nic.network}`),
    h("div", { class: "nic-facts" }, "Fixed IPs: ", h("code", { id: id("ips") }, ips.join(", ") || "none"), " · MAC: ", h("code", { id: id("mac") }, nic.mac || "unknown")),
    h("div", { class: "choices" },
      h("div", { class: "choice" }, radio(`nic-${i}-mode`, id("mode-map"), "map", p.mode === "map", `Join a network of ${target}`), h("div", { class: "choice-body" }, netSel)),
      h("div", { class: "choice" }, radio(`nic-${i}-mode`, id("mode-build"), "build", p.mode === "build", `Build ${nic.network} in ${target} from the source`), h("div", { class: "choice-body" }, h("label", { for: id("build-name") }, "named "), name, " with ", router, h("div", { class: "hint" }, "Its subnets come along (CIDR, gateway, pools, DNS servers, routes); the router, if any, joins them to an external network.")))),
    h("div", { class: "keeps" },
      h("label", { class: "check", for: id("keep-ip") }, keepIp, " keep its fixed IP"), " ",
      h("label", { class: "check", for: id("keep-mac") }, keepMac, " keep its MAC address"),
      h("div", { class: "hint" }, "The target must let the project choose them: on its own network, inside a subnet, and free (the review checks).")),
    fieldError(`nic-${i}`),
  );
}

/**
 * The NIC a preflight refusal concerns: `port.<server>[i]` is NIC i of the server; a built
 * network, its subnets and its router belong to the NIC that builds it. null: none of them.
 */
function nicOfRefusal(r) {
  const nics = W.nics || [];
  if (r.kind === "port") return r.name === W.targetName && r.index !== null && r.index < nics.length ? r.index : null;
  const i = nics.findIndex((_, k) => {
    const p = W.nicPlan[k];
    if (!p || p.mode !== "build") return false;
    if (r.kind === "network" || r.kind === "subnet") return p.name === r.name;
    if (r.kind === "router") return Boolean(p.router) && `${p.name}-router` === r.name;
    return false;
  });
  return i < 0 ? null : i;
}

/** Compose the plan's TOML text, with a map from line number to the field it holds. */
function composeToml() {
  const lines = [];
  const map = {};
  const add = (text, field) => {
    lines.push(text);
    if (field) map[lines.length] = field;
  };
  add("# Written by the s2d web wizard.");
  add("version = 1");
  add("");
  add("[source]");
  add(`cloud = ${tomlString(W.source)}`, "source-cloud");
  add("");
  add("[target]");
  add(`cloud = ${tomlString(W.target)}`, "target-cloud");
  add("");
  const nics = W.nics || [];
  // A source network's first NIC decides for it (the map is keyed by source network).
  const first = new Map();
  nics.forEach((n, i) => {
    if (!first.has(n.network)) first.set(n.network, i);
  });
  for (const [network, i] of first) {
    const p = W.nicPlan[i];
    if (!p || p.mode !== "build") continue;
    add("[[network]]", `nic-${i}`);
    add(`from = ${tomlString(network)}`, `nic-${i}`);
    if (p.name !== network) add(`name = ${tomlString(p.name)}`, `nic-${i}`);
    if (p.router) add(`router = { external = ${tomlString(p.router)} }`, `nic-${i}`);
    add("");
  }
  add("[[server]]");
  add(`source = ${tomlString(W.serverId || W.server)}`, "server");
  add(`name = ${tomlString(W.targetName)}`, "target-name");
  add(`snapshot = ${tomlString(W.snapshot)}`, "snapshot-name");
  const image = [`name = ${tomlString(W.imageName)}`];
  if (W.diskFormat) image.push(`disk_format = ${tomlString(W.diskFormat)}`);
  image.push(`visibility = ${tomlString(W.visibility || "private")}`);
  add(`image = { ${image.join(", ")} }`, "image-name");
  if (W.flavor) add(`flavor = ${tomlString(W.flavor)}`, "flavor");
  const vols = W.volumes || [];
  const skipped = vols.filter((v) => W.volSkip.includes(v.id));
  if (skipped.length) add(`skip_volumes = [${skipped.map((v) => tomlString(volumeRef(v))).join(", ")}]`, "volumes");
  const typeMap = movedVolumeTypes().filter((t) => W.volTypes[t]).map((t) => `${tomlString(t)} = ${tomlString(W.volTypes[t])}`);
  if (typeMap.length) add(`volume_types = { ${typeMap.join(", ")} }`, "volumes");
  if (W.stop && vols.some((v) => !W.volSkip.includes(v.id))) add("stop = true", "stop");
  const only = W.nicPlan[0];
  if (nics.length <= 1 && (!only || (only.mode === "map" && !only.keepIp && !only.keepMac))) {
    add(`network = ${tomlString(only ? only.network : W.network)}`, "network");
  } else {
    const entries = [];
    for (const [network, i] of first) {
      const p = W.nicPlan[i];
      const to = tomlString(p.mode === "build" ? p.name : p.network);
      const keeps = [p.keepIp ? "keep_ip = true" : null, p.keepMac ? "keep_mac = true" : null].filter(Boolean);
      entries.push(`${tomlString(network)} = ${keeps.length ? `{ network = ${to}, ${keeps.join(", ")} }` : to}`);
    }
    add(`networks = { ${entries.join(", ")} }`, "network");
  }
  const kpValue = W.kpMode === "import" ? W.kpImport : W.kpMode === "create" ? W.kpCreate : W.kpExisting;
  add(`keypair = { ${W.kpMode} = ${tomlString(kpValue)} }`, "keypair");
  add(`security_group = ${tomlString(W.sgName)}`, "secgroup-name");
  const onNic = nics.length > 1 && nics[W.fipNic] ? `, nic = ${tomlString(nics[W.fipNic].network)}` : "";
  if (W.fipMode === "pool") add(`floating_ip = { pool = ${tomlString(W.fipPool)}${onNic} }`, "fip");
  else if (W.fipMode === "existing") add(`floating_ip = { address = ${tomlString(W.fipExisting)}${onNic} }`, "fip");
  else add("floating_ip = false", "fip");
  add("");
  return { text: lines.join("\n"), map };
}

/** Which field a diagnostic concerns: by its line, refined or replaced by its words. */
function fieldOfDiagnostic(d, map) {
  const msg = `${d.message || ""} ${d.help || ""}`;
  let field = d.line ? map[d.line] : undefined;
  if (field === "image-name") {
    if (/disk_format|diskformat/i.test(msg)) field = "disk-format";
    else if (/visibility/i.test(msg)) field = "visibility";
  }
  if (field) return field;
  const words = [
    [/volume/i, "volumes"],
    [/disk_format/i, "disk-format"],
    [/visibility/i, "visibility"],
    [/keypair/i, "keypair"],
    [/floating/i, "fip"],
    [/security.group/i, "secgroup-name"],
    [/network/i, "network"],
    [/snapshot/i, "snapshot-name"],
    [/image/i, "image-name"],
    [/flavor/i, "flavor"],
    [/\[target\]|target cloud/i, "target-cloud"],
    [/\[source\]|source cloud/i, "source-cloud"],
    [/server/i, "server"],
  ];
  for (const [re, f] of words) if (re.test(msg)) return f;
  return null;
}

/* ------------------------------------------------------------------------------------------
 * The wizard's steps: each renders its body, then fills it from the API
 * ---------------------------------------------------------------------------------------- */

/** The parts of the step being shown. */
let view = null;

function stepFields(n) {
  return Object.entries(FIELDS)
    .filter(([, f]) => f.step === n)
    .map(([k]) => k);
}

/** Show the page's own errors and the service's diagnostics under each field. */
function showFieldErrors() {
  for (const field of Object.keys(FIELDS)) {
    const box = $(`err-${field}`);
    if (!box) continue;
    clear(box);
    const own = W.errors[field];
    if (own) box.append(h("div", {}, own));
    for (const d of W.diag[field] || []) {
      box.append(h("div", { class: d.severity === "warning" ? "warning" : "" }, d.message, d.line ? h("span", { class: "where" }, ` (plan line ${d.line})`) : null, d.help ? h("div", { class: "help" }, d.help) : null));
    }
    box.closest(".form-row, .choice, .field-block")?.classList.toggle("has-error", box.childNodes.length > 0);
  }
}

function radio(name, id, value, checked, label, extra) {
  return h(
    "label",
    { class: "radio", for: id },
    h("input", { type: "radio", name, id, value, checked, onchange: extra }),
    " ",
    label,
  );
}

const STEPS = {
  1: {
    render(body) {
      const select = h("select", { id: "source-cloud", onchange: () => (W.errors["source-cloud"] = null) }, option("", "Loading clouds…"));
      body.append(
        h("p", { class: "lead" }, "Choose the cloud the software comes from: the provider that runs the server to bring over. The clouds are the entries of the service's clouds.yaml."),
        formRow("Source cloud", "source-cloud", select, "source-cloud"),
      );
      return async () => {
        const { clouds } = await cached("/v1/clouds");
        fill(select, option("", "— choose the source cloud —", !W.source), clouds.map((c) => option(c.name, c.name, c.name === W.source)));
        if (!clouds.length) W.errors["source-cloud"] = "The service's clouds.yaml names no cloud.";
      };
    },
    collect() {
      const v = $("source-cloud").value;
      if (v !== W.source) {
        // Another source: the server and everything taken from it start over.
        W.source = v;
        W.server = "";
        W.serverId = "";
        W.servers = null;
        W.kpImport = "";
        W.kpMode = "";
        W.auto = { snapshot: true, imageName: true, targetName: true, kpCreate: true, sgName: true };
        W.reached = Math.min(W.reached, 2);
        if (W.target === v) W.target = "";
      }
    },
    validate() {
      return W.source ? {} : { "source-cloud": "Choose the source cloud." };
    },
  },

  2: {
    render(body) {
      const table = h("table", { id: "servers-table", class: "pick" }, h("thead", {}, h("tr", {}, ["", "Name", "Status", "Flavor", "Keypair", "Security groups", "Networks"].map((t) => h("th", {}, t)))));
      const tbody = h("tbody", {}, h("tr", {}, h("td", { colspan: 7, class: "hint" }, "Loading the servers…")));
      table.append(tbody);
      const snap = h("input", { id: "snapshot-name", type: "text", value: W.snapshot, spellcheck: "false", oninput: () => (W.auto.snapshot = false) });
      body.append(
        h("p", { class: "lead" }, `Choose the server of ${W.source} to bring over. A snapshot of it is made in ${W.source}, then copied as an image into the target.`),
        h("div", { class: "field-block" }, table, fieldError("server")),
        formRow("Snapshot name", "snapshot-name", snap, "snapshot-name", "The image made in the source cloud; default: the server's name followed by -s2d."),
      );
      const pick = (s) => {
        W.server = s.name;
        W.serverId = W.servers.filter((o) => o.name === s.name).length > 1 ? s.id : "";
        W.errors.server = null;
        if (W.auto.snapshot) snap.value = `${s.name}-s2d`;
        if (W.auto.imageName) W.imageName = s.name;
        if (W.auto.targetName) W.targetName = s.name;
        showFieldErrors();
      };
      return async () => {
        const { servers } = await cached(cloudPath(W.source, "servers"));
        W.servers = servers;
        clear(tbody);
        if (!servers.length) tbody.append(h("tr", {}, h("td", { colspan: 7, class: "hint" }, `${W.source} has no server this account can see.`)));
        if (!W.server && servers.length === 1) pick(servers[0]);
        for (const s of servers) {
          const id = `server-${s.name}`;
          const sel = W.server === s.name && (!W.serverId || W.serverId === s.id);
          const input = h("input", { type: "radio", name: "server", id, value: s.name, checked: sel, dataset: { serverId: s.id }, onchange: () => pick(s) });
          const tr = h(
            "tr",
            { class: sel ? "selected" : "", onclick: (e) => {
              if (e.target !== input) {
                input.checked = true;
                input.dispatchEvent(new Event("change"));
              }
            } },
            h("td", {}, input),
            h("td", {}, h("label", { for: id }, h("strong", {}, s.name)), h("div", { class: "hint mono" }, s.id)),
            h("td", {}, s.status),
            h("td", {}, s.flavor || ""),
            h("td", {}, s.key_name || h("span", { class: "hint" }, "none")),
            h("td", {}, (s.security_groups || []).join(", ")),
            h("td", {}, (s.networks || []).join(", ")),
          );
          input.addEventListener("change", () => {
            for (const row of tbody.querySelectorAll("tr")) row.classList.remove("selected");
            tr.classList.add("selected");
          });
          tbody.append(tr);
        }
        if (!snap.value && W.server) snap.value = `${W.server}-s2d`;
      };
    },
    collect() {
      W.snapshot = $("snapshot-name").value.trim();
      W.auto.snapshot = W.snapshot === `${W.server}-s2d`;
    },
    validate() {
      const e = {};
      if (!W.server) e.server = "Choose the server to bring over.";
      if (!W.snapshot) e["snapshot-name"] = "Name the snapshot.";
      else if (W.snapshot.length > 255) e["snapshot-name"] = "At most 255 characters.";
      return e;
    },
  },

  3: {
    render(body) {
      const s = serverObj();
      let volBox = null;
      if (W.auto.imageName && W.server) W.imageName = W.server;
      if (W.auto.targetName && W.server) W.targetName = W.server;
      const imageName = h("input", { id: "image-name", type: "text", value: W.imageName, spellcheck: "false", oninput: () => (W.auto.imageName = false) });
      const disk = h("select", { id: "disk-format" }, option("", "same as the snapshot", !W.diskFormat), DISK_FORMATS.map((f) => option(f, f, f === W.diskFormat)));
      const vis = h("select", { id: "visibility" }, VISIBILITIES.map((v) => option(v, v, v === (W.visibility || "private"))));
      const targetName = h("input", { id: "target-name", type: "text", value: W.targetName, spellcheck: "false", oninput: () => (W.auto.targetName = false) });
      const sourceFlavor = s && s.flavor ? s.flavor : null;
      const flavor = h("select", { id: "flavor" }, option("", sourceFlavor ? `same as the source (${sourceFlavor})` : "same as the source", !W.flavor));
      if (W.flavor) flavor.append(option(W.flavor, W.flavor, true));
      body.append(
        h("p", { class: "lead" }, "The image the snapshot becomes in the target, and the server made from it."),
        h("fieldset", {}, h("legend", {}, "Image"),
          formRow("Image name", "image-name", imageName, "image-name"),
          formRow("Disk format", "disk-format", disk, "disk-format", "Kept as the snapshot's unless you choose one."),
          formRow("Visibility", "visibility", vis, "visibility")),
        h("fieldset", {}, h("legend", {}, "Server in the target"),
          formRow("Server name", "target-name", targetName, "target-name"),
          formRow("Flavor", "flavor", flavor, "flavor", "Default: the target flavor with the source flavor's name, else the one with its vCPUs, RAM and disk.")),
        (volBox = h("fieldset", { id: "volumes-box", hidden: true }, h("legend", {}, "Volumes"))),
      );
      return async () => {
        await renderVolumes(volBox);
        // The target's flavors when the target is known, else the source's (names usually match).
        const cloud = W.target || W.source;
        const { flavors } = await cached(cloudPath(cloud, "flavors"));
        const current = W.flavor;
        fill(flavor,
          option("", sourceFlavor ? `same as the source (${sourceFlavor})` : "same as the source", !current),
          flavors.map((f) => option(f.name, `${f.name} (${f.vcpus} vCPU, ${f.ram} MB RAM, ${f.disk} GB disk)`, f.name === current)),
        );
        if (current && !flavors.some((f) => f.name === current)) flavor.append(option(current, `${current} (not in ${cloud})`, true));
        flavor.title = `flavors of ${cloud}`;
      };
    },
    collect() {
      W.imageName = $("image-name").value.trim();
      W.diskFormat = $("disk-format").value;
      W.visibility = $("visibility").value;
      W.targetName = $("target-name").value.trim();
      W.flavor = $("flavor").value;
      collectVolumes();
      // A field keeps following the server's name only while it holds that name.
      W.auto.imageName = W.imageName === W.server;
      W.auto.targetName = W.targetName === W.server;
    },
    validate() {
      const e = {};
      if (!W.imageName) e["image-name"] = "Name the image.";
      else if (W.imageName.length > 255) e["image-name"] = "At most 255 characters.";
      if (!W.targetName) e["target-name"] = "Name the server in the target.";
      else if (W.targetName.length > 255) e["target-name"] = "At most 255 characters.";
      if (W.diskFormat && !DISK_FORMATS.includes(W.diskFormat)) e["disk-format"] = `One of ${DISK_FORMATS.join(", ")}.`;
      if (!VISIBILITIES.includes(W.visibility)) e.visibility = `One of ${VISIBILITIES.join(", ")}.`;
      const root = (W.volumes || []).find((v) => v.root);
      if (root && root.encrypted) e.volumes = "The root volume is encrypted: its key stays in the source's key manager, so s2d cannot move this server.";
      return e;
    },
  },

  4: {
    render(body) {
      const cloudSel = h("select", { id: "target-cloud" }, option("", "Loading clouds…"));
      const nicsBox = h("div", { id: "nics", class: "nics" }, h("p", { class: "hint" }, "Choose the target cloud first."));
      body.append(
        h("p", { class: "lead" }, "Choose the cloud the data lives in, where the server is to run, and where each of its NICs goes there: onto a network of the target, or onto a network built from the source's. A NIC can keep its fixed IP and MAC address."),
        formRow("Target cloud", "target-cloud", cloudSel, "target-cloud"),
        h("h3", {}, "NICs of the server, in their order"),
        h("div", { class: "field-block" }, nicsBox, fieldError("network")),
      );
      const loadNetworks = async () => {
        const target = cloudSel.value;
        W.errors["target-cloud"] = null;
        if (!target) {
          fill(nicsBox, h("p", { class: "hint" }, "Choose the target cloud first."));
          showFieldErrors();
          return;
        }
        if (target === W.source) {
          W.errors["target-cloud"] = `The target must be another cloud than the source (${W.source}).`;
          fill(nicsBox, h("p", { class: "hint" }, "Choose another target cloud."));
          showFieldErrors();
          return;
        }
        showFieldErrors();
        fill(nicsBox, h("p", { class: "hint" }, "Loading networks…"));
        const [{ networks }, nics] = await Promise.all([cached(cloudPath(target, "networks")), serverNics()]);
        if (cloudSel.value !== target) return;
        const internal = networks.filter((n) => !n.external);
        const external = networks.filter((n) => n.external);
        planNics(nics, internal);
        fill(nicsBox, nics.map((nic, i) => nicBlock(nic, i, internal, external, target)));
        if (!nics.length) nicsBox.append(h("p", { class: "hint" }, "The server shows no NIC."));
        W.errors.network = null;
        if (W.flavor) {
          const { flavors } = await cached(cloudPath(target, "flavors"));
          if (!flavors.some((f) => f.name === W.flavor)) W.errors["target-cloud"] = `${target} has no flavor ${W.flavor} (chosen in step 3): go back and choose another.`;
        }
        showFieldErrors();
        // A refusal of the review is shown under its NIC: bring it into view.
        const refused = nicsBox.querySelector("fieldset.nic.has-error");
        if (refused) refused.scrollIntoView({ block: "center" });
        section().dataset.nics = String(nics.length);
      };
      const section = () => $("step");
      cloudSel.addEventListener("change", () => {
        collectNics();
        section().dataset.nics = "";
        loadNetworks().catch((e) => showApiError(view.error, e));
      });
      return async () => {
        const { clouds } = await cached("/v1/clouds");
        // Default: the first cloud that is not the source.
        const want = W.target || (clouds.find((c) => c.name !== W.source) || {}).name || "";
        fill(cloudSel,
          option("", "— choose the target cloud —", !want),
          clouds.map((c) => option(c.name, c.name === W.source ? `${c.name} (the source)` : c.name, c.name === want)),
        );
        await loadNetworks();
      };
    },
    collect() {
      const t = $("target-cloud").value;
      if (t !== W.target) {
        // Another target: what was chosen in it starts over.
        W.target = t;
        W.kpExisting = "";
        W.fipMode = "";
        W.fipPool = "";
        W.fipExisting = "";
        W.reached = Math.min(W.reached, 5);
      }
      collectNics();
    },
    validate() {
      const e = {};
      if (!W.target) e["target-cloud"] = "Choose the target cloud.";
      else if (W.target === W.source) e["target-cloud"] = `The target must be another cloud than the source (${W.source}).`;
      else if (W.errors["target-cloud"]) e["target-cloud"] = W.errors["target-cloud"];
      if (!W.target || W.target === W.source) return e;
      const nics = W.nics || [];
      if (!nics.length) e.network = "The server shows no NIC to place.";
      const seen = new Map();
      const builtNames = new Map();
      nics.forEach((nic, i) => {
        const p = W.nicPlan[i];
        const field = `nic-${i}`;
        if (!p) return;
        if (p.mode === "map" && !p.network) e[field] = "Choose the target network this NIC joins.";
        else if (p.mode === "build" && !p.name) e[field] = "Name the network built from the source.";
        else if (p.mode === "build" && p.name.length > 255) e[field] = "At most 255 characters.";
        else if (seen.has(nic.network) && JSON.stringify(W.nicPlan[seen.get(nic.network)]) !== JSON.stringify(p)) {
          e[field] = `NIC ${seen.get(nic.network)} is on the same source network (${nic.network}): the plan maps a source network once, so this NIC goes where that one goes.`;
        } else if (p.mode === "build" && !seen.has(nic.network) && builtNames.has(p.name)) {
          e[field] = `NIC ${builtNames.get(p.name)} already builds a network named ${p.name}.`;
        }
        if (!seen.has(nic.network)) seen.set(nic.network, i);
        if (p.mode === "build" && !builtNames.has(p.name)) builtNames.set(p.name, i);
      });
      return e;
    },
  },

  5: {
    render(body) {
      const s = serverObj();
      if (!W.kpMode) W.kpMode = s && s.key_name ? "import" : "create";
      if (W.auto.kpCreate) W.kpCreate = `${W.targetName || W.server}-key`;
      const importSel = h("select", { id: "keypair-import" }, option("", "Loading…"));
      const createIn = h("input", { id: "keypair-create", type: "text", value: W.kpCreate, spellcheck: "false", oninput: () => (W.auto.kpCreate = false) });
      const existingSel = h("select", { id: "keypair-existing" }, option("", "Loading…"));
      const choose = (mode) => () => {
        const r = $(`keypair-mode-${mode}`);
        if (!r.checked) r.checked = true;
        W.kpMode = mode;
      };
      importSel.addEventListener("focus", choose("import"));
      importSel.addEventListener("change", choose("import"));
      createIn.addEventListener("focus", choose("create"));
      existingSel.addEventListener("focus", choose("existing"));
      existingSel.addEventListener("change", choose("existing"));
      const mode = (m) => () => (W.kpMode = m);
      body.append(
        h("p", { class: "lead" }, "The keypair the server starts with in the target."),
        h(
          "div",
          { class: "choices field-block" },
          h("div", { class: "choice" }, radio("keypair-mode", "keypair-mode-import", "import", W.kpMode === "import", `Import a keypair of ${W.source}`, mode("import")), h("div", { class: "choice-body" }, importSel, h("div", { class: "hint" }, "Its public key is copied into the target under the same name."))),
          h("div", { class: "choice" }, radio("keypair-mode", "keypair-mode-create", "create", W.kpMode === "create", `Create a new keypair in ${W.target}`, mode("create")), h("div", { class: "choice-body" }, createIn, h("div", { class: "hint" }, "The target generates it; its private key is offered for download once, after apply."))),
          h("div", { class: "choice" }, radio("keypair-mode", "keypair-mode-existing", "existing", W.kpMode === "existing", `Use a keypair that exists in ${W.target}`, mode("existing")), h("div", { class: "choice-body" }, existingSel)),
          fieldError("keypair"),
        ),
      );
      return async () => {
        const [src, tgt] = await Promise.all([cached(cloudPath(W.source, "keypairs")), cached(cloudPath(W.target, "keypairs"))]);
        const names = src.keypairs.map((k) => k.name);
        if (s && s.key_name && !names.includes(s.key_name)) names.unshift(s.key_name);
        const wantImport = W.kpImport || (s && s.key_name) || "";
        fill(importSel, option("", names.length ? "— choose a keypair —" : `${W.source} lists no keypair`, !wantImport), names.map((n) => option(n, n === (s && s.key_name) ? `${n} (the server's)` : n, n === wantImport)));
        const fp = new Map(tgt.keypairs.map((k) => [k.name, k.fingerprint]));
        fill(existingSel, option("", tgt.keypairs.length ? "— choose a keypair —" : `${W.target} has no keypair`, !W.kpExisting), tgt.keypairs.map((k) => option(k.name, `${k.name}${fp.get(k.name) ? ` (${fp.get(k.name)})` : ""}`, k.name === W.kpExisting)));
      };
    },
    collect() {
      const checked = document.querySelector('input[name="keypair-mode"]:checked');
      W.kpMode = checked ? checked.value : "";
      W.kpImport = $("keypair-import").value;
      W.kpCreate = $("keypair-create").value.trim();
      W.kpExisting = $("keypair-existing").value;
      W.auto.kpCreate = W.kpCreate === `${W.targetName || W.server}-key`;
    },
    validate() {
      const e = {};
      if (W.kpMode === "import" && !W.kpImport) e.keypair = `Choose the keypair of ${W.source} to import.`;
      else if (W.kpMode === "create" && !W.kpCreate) e.keypair = "Name the new keypair.";
      else if (W.kpMode === "create" && !/^[A-Za-z0-9_. @-]+$/.test(W.kpCreate)) e.keypair = "A keypair name has letters, digits, spaces and . _ - @ only.";
      else if (W.kpMode === "existing" && !W.kpExisting) e.keypair = `Choose a keypair of ${W.target}.`;
      else if (!["import", "create", "existing"].includes(W.kpMode)) e.keypair = "Choose how the server gets its keypair.";
      return e;
    },
  },

  6: {
    render(body) {
      const s = serverObj();
      const groups = s ? s.security_groups || [] : [];
      if (W.auto.sgName || !W.sgName) W.sgName = groups.find((g) => g !== "default") || "default";
      const input = h("input", { id: "secgroup-name", type: "text", value: W.sgName, spellcheck: "false", list: "secgroup-suggestions", oninput: () => (W.auto.sgName = false) });
      const suggestions = h("datalist", { id: "secgroup-suggestions" }, ["default", ...groups.filter((g) => g !== "default")].map((g) => option(g, g)));
      const useDefault = h("button", { id: "secgroup-use-default", type: "button", class: "secondary small", onclick: () => {
        input.value = "default";
        W.auto.sgName = false;
      } }, "Use “default”");
      const rules = h("table", { id: "secgroup-rules", class: "rules" }, h("thead", {}, h("tr", {}, ["Group", "Direction", "Ether type", "Protocol", "Ports", "Remote"].map((t) => h("th", {}, t)))));
      const tbody = h("tbody", {}, h("tr", {}, h("td", { colspan: 6, class: "hint" }, "Loading the rules…")));
      rules.append(tbody);
      body.append(
        h("p", { class: "lead" }, `The rules of the server's security groups in ${W.source} (below) are made in ${W.target}: in the target's group “default”, or in a group of the name you give (created if it does not exist).`),
        formRow("Security group", "secgroup-name", h("span", { class: "inline" }, input, " ", useDefault, suggestions), "secgroup-name", `The server's groups in ${W.source}: ${groups.join(", ") || "none"}.`),
        h("h3", {}, "Rules of the source server"),
        rules,
      );
      return async () => {
        const { security_groups } = await cached(cloudPath(W.source, "security-groups"));
        const mine = security_groups.filter((g) => groups.includes(g.name));
        clear(tbody);
        let n = 0;
        for (const g of mine) {
          for (const r of g.rules || []) {
            n++;
            let ports = "any";
            if (r.port_range_min !== null && r.port_range_min !== undefined) {
              ports = r.port_range_max !== null && r.port_range_max !== undefined && r.port_range_max !== r.port_range_min ? `${r.port_range_min}–${r.port_range_max}` : String(r.port_range_min);
            }
            tbody.append(
              h(
                "tr",
                { class: `dir-${r.direction}` },
                h("td", {}, g.name),
                h("td", {}, r.direction),
                h("td", {}, r.ethertype),
                h("td", {}, r.protocol || "any"),
                h("td", {}, ports),
                h("td", { class: "mono" }, r.remote_ip_prefix || (r.remote_group ? `group ${r.remote_group}` : "any")),
              ),
            );
          }
        }
        if (!n) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "hint" }, "The server's groups have no rules.")));
      };
    },
    collect() {
      W.sgName = $("secgroup-name").value.trim();
      const s = serverObj();
      W.auto.sgName = W.sgName === ((s ? s.security_groups || [] : []).find((g) => g !== "default") || "default");
    },
    validate() {
      const e = {};
      if (!W.sgName) e["secgroup-name"] = "Name the security group (or “default”).";
      else if (W.sgName.length > 255) e["secgroup-name"] = "At most 255 characters.";
      return e;
    },
  },

  7: {
    render(body) {
      const poolSel = h("select", { id: "fip-pool" }, option("", "Loading…"));
      const existingSel = h("select", { id: "fip-existing" }, option("", "Loading…"));
      const choose = (mode) => () => {
        $(`fip-mode-${mode}`).checked = true;
        W.fipMode = mode;
      };
      poolSel.addEventListener("focus", choose("pool"));
      poolSel.addEventListener("change", choose("pool"));
      existingSel.addEventListener("focus", choose("existing"));
      existingSel.addEventListener("change", choose("existing"));
      const mode = (m) => () => (W.fipMode = m);
      const none = radio("fip-mode", "fip-mode-none", "none", W.fipMode === "none", "No floating IP", mode("none"));
      const pool = radio("fip-mode", "fip-mode-pool", "pool", W.fipMode === "pool", `Allocate one from an external network of ${W.target}`, mode("pool"));
      const existing = radio("fip-mode", "fip-mode-existing", "existing", W.fipMode === "existing", `Use a free floating IP of ${W.target}`, mode("existing"));
      const nics = W.nics || [];
      const target = (i) => {
        const p = W.nicPlan[i];
        return p ? (p.mode === "build" ? p.name : p.network) : "";
      };
      const nicSel = h("select", { id: "fip-nic" }, nics.map((n, i) => option(String(i), `NIC ${i} (eth${i}): ${n.network} → ${target(i)}`, i === W.fipNic)));
      body.append(
        h("p", { class: "lead" }, "A floating IP makes the server reachable from outside the target's private network."),
        h(
          "div",
          { class: "choices field-block" },
          h("div", { class: "choice" }, none),
          h("div", { class: "choice" }, pool, h("div", { class: "choice-body" }, poolSel)),
          h("div", { class: "choice" }, existing, h("div", { class: "choice-body" }, existingSel, h("div", { class: "hint" }, "Only addresses not bound to a port are listed."))),
          nics.length > 1 ? h("div", { class: "form-row" }, h("label", { for: "fip-nic" }, "On the NIC"), h("div", { class: "control" }, nicSel, h("div", { class: "hint" }, "The floating IP is attached to this NIC's port."))) : null,
          fieldError("fip"),
        ),
      );
      return async () => {
        const [{ networks }, { floating_ips }] = await Promise.all([cached(cloudPath(W.target, "networks")), cached(cloudPath(W.target, "floating-ips"))]);
        const external = networks.filter((n) => n.external);
        const free = floating_ips.filter((f) => !f.port_id);
        if (!W.fipMode) {
          W.fipMode = external.length ? "pool" : "none";
          $(`fip-mode-${W.fipMode}`).checked = true;
        }
        const wantPool = W.fipPool || (external.find((n) => n.name === "public") || external[0] || {}).name || "";
        fill(poolSel, option("", external.length ? "— choose a network —" : `${W.target} has no external network`, !wantPool), external.map((n) => option(n.name, n.name, n.name === wantPool)));
        fill(existingSel, option("", free.length ? "— choose an address —" : `${W.target} has no free floating IP`, !W.fipExisting), free.map((f) => option(f.address, `${f.address} (${f.network})`, f.address === W.fipExisting)));
      };
    },
    collect() {
      const checked = document.querySelector('input[name="fip-mode"]:checked');
      W.fipMode = checked ? checked.value : "";
      W.fipPool = $("fip-pool").value;
      W.fipExisting = $("fip-existing").value;
      const nic = $("fip-nic");
      W.fipNic = nic ? parseInt(nic.value, 10) || 0 : 0;
    },
    validate() {
      const e = {};
      if (!W.fipMode) e.fip = "Choose whether the server gets a floating IP.";
      else if (W.fipMode === "pool" && !W.fipPool) e.fip = "Choose the external network to allocate the address from.";
      else if (W.fipMode === "existing" && !W.fipExisting) e.fip = "Choose the address.";
      return e;
    },
  },

  8: {
    render(body) {
      W.planOk = false;
      const { text, map } = composeToml();
      const status = h("p", { id: "review-status", class: "hint" }, W.planId ? `Saving plan ${W.planId}…` : "Saving the plan…");
      const problems = h("div", { id: "review-errors" });
      const diffBox = h("div", { id: "diff-box" });
      const dlErr = h("div", { class: "api-error", hidden: true });
      const dlToml = h("button", { id: "download-toml", type: "button", class: "secondary", disabled: true, onclick: () => busy([dlToml, dlXml], () => download(`/v1/plans/${encodeURIComponent(W.planId)}/document?format=toml`, "s2d-plan.toml"), dlErr) }, "Download TOML");
      const dlXml = h("button", { id: "download-xml", type: "button", class: "secondary", disabled: true, onclick: () => busy([dlToml, dlXml], () => download(`/v1/plans/${encodeURIComponent(W.planId)}/document?format=xml`, "s2d-plan.xml"), dlErr) }, "Download XML");
      const pre = h("pre", { id: "plan-text", class: "plan-text" });
      text.split("\n").forEach((l, i) => {
        const field = map[i + 1];
        pre.append(h("span", { class: "line", dataset: { line: i + 1, field: field || "" } }, h("span", { class: "ln", "aria-hidden": "true" }, String(i + 1).padStart(2, " ")), " ", l, "\n"));
      });
      body.append(
        h("p", { class: "lead" }, "The plan is checked by the service, then compared with what the clouds hold now."),
        status,
        problems,
        h("h3", {}, "What apply will do"),
        diffBox,
        h("h3", {}, "The plan file"),
        h("div", { class: "downloads" }, dlToml, " ", dlXml, dlErr),
        pre,
      );
      return async () => {
        W.diag = {};
        W.generalDiag = [];
        let answer;
        try {
          if (W.planId && W.submitted === text) {
            answer = { id: W.planId, diagnostics: W.warnings || [] };
          } else if (W.planId) {
            try {
              answer = await api("PUT", `/v1/plans/${encodeURIComponent(W.planId)}`, { body: text, type: "application/toml" });
            } catch (e) {
              if (!(e instanceof ApiError && e.status === 404)) throw e;
              W.planId = null; // deleted meanwhile: a new one
              answer = await api("POST", "/v1/plans", { body: text, type: "application/toml" });
            }
          } else {
            answer = await api("POST", "/v1/plans", { body: text, type: "application/toml" });
          }
        } catch (e) {
          if (e instanceof ApiError && e.status === 422 && e.body && Array.isArray(e.body.diagnostics)) {
            status.textContent = "The service found problems in the plan: correct them in the steps named below.";
            status.className = "api-error-text";
            showDiagnostics(problems, e.body.diagnostics, map, pre);
            diffBox.append(h("p", { class: "hint" }, "No diff until the plan is valid."));
            return;
          }
          throw e;
        }
        W.planId = answer.id;
        W.submitted = text;
        W.warnings = answer.diagnostics || [];
        if (W.warnings.length) showDiagnostics(problems, W.warnings, map, pre);
        dlToml.disabled = false;
        dlXml.disabled = false;
        status.textContent = `Plan ${W.planId} saved. Comparing it with the clouds…`;
        status.className = "hint";
        let outcome;
        try {
          outcome = await api("GET", `/v1/plans/${encodeURIComponent(W.planId)}/diff`);
        } catch (e) {
          const r = e instanceof ApiError && e.body ? e.body.refusal : null;
          if (!r) throw e;
          // The target refuses what the plan keeps or builds (the preflight): next to its NIC.
          const nic = nicOfRefusal(r);
          status.textContent = `Plan ${W.planId} saved, but ${W.target} refuses it: correct the NIC named below.`;
          status.className = "api-error-text";
          showDiagnostics(problems, [{ severity: "error", field: nic === null ? null : `nic-${nic}`, message: `${r.address}: ${r.reason}`, help: r.help, code: (e.body.error || {}).code }], map, pre);
          diffBox.append(h("p", { class: "hint" }, "No diff until the target can carry out the plan."));
          return;
        }
        W.outcome = outcome;
        fill(diffBox, renderDiff(outcome));
        status.textContent = `Plan ${W.planId}: valid. Next: apply it.`;
        W.planOk = true;
      };
    },
    collect() {},
    validate() {
      return W.planOk ? {} : { review: "The plan must be valid and its diff shown before it is applied." };
    },
  },

  9: {
    render(body) {
      const jv = W.jobView;
      const retry = Boolean(jv && jv.ended && !(jv.job && jv.job.status === "succeeded"));
      const applyBtn = h("button", { id: "apply", type: "button", class: "primary", disabled: !W.planOk || Boolean(jv && !retry) }, retry ? "Apply again" : "Apply");
      const summary = W.outcome ? h("p", { class: "diff-summary" }, summaryLine(W.outcome)) : null;
      const again = h("button", { id: "new-migration", type: "button", class: "secondary", hidden: !(W.jobView && W.jobView.ended), onclick: () => {
        resetWizard();
        go(1);
      } }, "Start a new migration");
      const area = h("div", { id: "job-area" });
      body.append(
        h("p", { class: "lead" }, `Apply plan ${W.planId || ""}: ${applyWords()}; the server is started there with its keypair and security group${W.fipMode && W.fipMode !== "none" ? " and a floating IP" : ""}. Progress is shown live; you may leave this page and come back.`),
        summary,
        h("div", { class: "actions-row" }, applyBtn, " ", again),
        area,
      );
      if (W.jobView) area.append(W.jobView.root);
      applyBtn.addEventListener("click", () =>
        busy(applyBtn, async () => {
          const job = await api("POST", `/v1/plans/${encodeURIComponent(W.planId)}/apply`);
          startWizardJob(job, area, again);
          applyBtn.disabled = true;
        }, view.error).then(() => {
          if (W.jobView && !W.jobView.ended) applyBtn.disabled = true;
        }),
      );
      if (W.jobView) W.jobView.onEnd = (job) => wizardJobEnded(again, job);
      return null;
    },
    collect() {},
    validate() {
      return {};
    },
  },
};

function startWizardJob(job, area, again) {
  if (W.jobView) W.jobView.dispose();
  const jv = new JobView(W.planId);
  W.jobView = jv;
  W.finished = false;
  again.hidden = true;
  jv.onEnd = (job) => wizardJobEnded(again, job);
  // The engine numbers a server's volumes as the volumes route lists them (skipped ones too).
  jv.describeVolume = (key) => {
    const m = /^(.*)\[(\d+)\]$/.exec(key);
    const v = m && m[1] === W.targetName ? (W.volumes || [])[Number(m[2])] : null;
    if (!v) return null;
    const words = [v.name || v.id, v.size_gb !== null && v.size_gb !== undefined ? `${v.size_gb} GiB` : null, v.volume_type, v.root ? "root" : v.device].filter(Boolean);
    return h("span", { class: "hint" }, ` · ${words.join(", ")}`);
  };
  fill(area, jv.root);
  jv.follow(job);
}

function wizardJobEnded(again, job) {
  const ok = Boolean(job && job.status === "succeeded");
  W.finished = ok;
  if (again && again.isConnected) again.hidden = false;
  const btn = $("apply");
  if (btn && !ok) {
    // A failed or stopped apply: the state holds what was done, a new apply continues.
    btn.disabled = false;
    btn.textContent = "Apply again";
  }
}

/** The service's diagnostics: under their fields (when shown) and as a list with links. */
function showDiagnostics(box, diagnostics, map, pre) {
  clear(box);
  const list = h("ul", { class: "diagnostics" });
  for (const d of diagnostics) {
    const field = d.field !== undefined ? d.field : fieldOfDiagnostic(d, map);
    if (field) (W.diag[field] = W.diag[field] || []).push(d);
    else W.generalDiag.push(d);
    const f = field ? FIELDS[field] : null;
    if (d.line && pre) {
      const line = pre.querySelector(`[data-line="${d.line}"]`);
      if (line) line.classList.add(d.severity === "warning" ? "line-warning" : "line-error");
    }
    list.append(
      h(
        "li",
        { class: d.severity === "warning" ? "warning" : "error", dataset: { field: field || "" } },
        h("strong", {}, d.severity === "warning" ? "Warning" : "Error"),
        f ? [" in ", h("a", { href: `#/wizard/${f.step}`, class: "diag-link" }, `step ${f.step} (${f.label})`)] : null,
        d.line ? ` at line ${d.line}${d.column ? `:${d.column}` : ""}` : "",
        ": ",
        d.message,
        d.help ? h("div", { class: "help" }, d.help) : null,
      ),
    );
  }
  box.append(h("div", { class: diagnostics.some((d) => d.severity !== "warning") ? "diag-box errors" : "diag-box warnings" }, list));
  renderStepsNav();
}

/* ------------------------------------------------------------------------------------------
 * Wizard frame: the steps column, the step, Back / Next
 * ---------------------------------------------------------------------------------------- */

function renderStepsNav() {
  const nav = $("steps-nav");
  clear(nav);
  for (let n = 1; n <= 9; n++) {
    const hasError = stepFields(n).some((f) => (W.diag[f] || []).some((d) => d.severity !== "warning"));
    const cls = [n === W.step ? "current" : "", n < W.step || n <= W.reached ? "reachable" : "locked", hasError ? "has-error" : ""].join(" ");
    const label = h("span", { class: "title" }, STEP_TITLES[n]);
    const num = h("span", { class: "num" }, String(n));
    nav.append(
      h(
        "li",
        { class: cls, id: `nav-step-${n}` },
        n <= W.reached && n !== W.step ? h("a", { href: `#/wizard/${n}` }, num, label) : h("span", { class: "item" }, num, label),
      ),
    );
  }
}

async function renderWizard(n) {
  if (n > W.reached) n = W.reached;
  W.step = n;
  if (`#/wizard/${n}` !== location.hash) history.replaceState(null, "", `#/wizard/${n}`);
  document.body.dataset.page = "wizard";
  $("sidebar").hidden = false;
  renderStepsNav();
  const main = clear($("main"));
  const error = h("div", { id: "step-error", class: "api-error", hidden: true, role: "alert" });
  const body = h("div", { class: "step-body" });
  const back = h("button", { id: "back", type: "button", class: "secondary", disabled: n === 1, onclick: () => go(n - 1) }, "Back");
  const next = h("button", { id: "next", type: "button", class: "primary", hidden: n === 9, disabled: true }, n === 8 ? "Next: apply" : "Next");
  const section = h(
    "section",
    { id: "step", class: "step", dataset: { step: String(n), ready: "false" } },
    h("h1", {}, h("span", { class: "step-num" }, `Step ${n} of 9`), STEP_TITLES[n]),
    error,
    body,
    h("div", { class: "buttons" }, back, next),
  );
  main.append(section);
  const current = { n, error, section, next, back };
  view = current;
  next.addEventListener("click", () => nextStep(current));
  // Enter in a text field means Next.
  section.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target instanceof HTMLInputElement && e.target.type === "text" && !next.disabled && !next.hidden) {
      e.preventDefault();
      next.click();
    }
  });
  const load = STEPS[n].render(body);
  showFieldErrors();
  if (load) {
    const spinner = h("div", { class: "loading" }, "Loading…");
    body.prepend(spinner);
    try {
      await load();
    } catch (e) {
      if (view === current) showApiError(error, e);
    } finally {
      spinner.remove();
    }
  }
  if (view !== current) return;
  next.disabled = n === 8 ? !W.planOk : false;
  section.dataset.ready = "true";
  showFieldErrors();
  const first = body.querySelector("select, input");
  if (first && n !== 8 && n !== 9 && document.activeElement === document.body) first.focus({ preventScroll: true });
}

function nextStep(current) {
  const n = current.n;
  const step = STEPS[n];
  step.collect();
  const errors = step.validate();
  for (const f of stepFields(n)) W.errors[f] = errors[f] || null;
  // The user saw the service's diagnostics of this step: the next review checks again.
  for (const f of stepFields(n)) delete W.diag[f];
  showFieldErrors();
  const keys = Object.keys(errors);
  if (keys.length) {
    if (errors.review) showApiError(current.error, new Error(errors.review));
    const box = $(`err-${keys[0]}`);
    if (box) box.scrollIntoView({ block: "center", behavior: "smooth" });
    return;
  }
  W.reached = Math.max(W.reached, n + 1);
  go(n + 1);
}

function go(n) {
  location.hash = `#/wizard/${n}`;
}

/* ------------------------------------------------------------------------------------------
 * Plans page
 * ---------------------------------------------------------------------------------------- */

let plansJobView = null;

async function renderPlans() {
  document.body.dataset.page = "plans";
  $("sidebar").hidden = true;
  const main = clear($("main"));
  const error = h("div", { id: "plans-error", class: "api-error", hidden: true, role: "alert" });
  const refresh = h("button", { id: "plans-refresh", type: "button", class: "secondary small" }, "Refresh");
  const table = h(
    "table",
    { id: "plans-table", class: "plans" },
    h("thead", {}, h("tr", {}, ["Plan", "Name", "Source → target", "Servers", "Resources", "Last job", "Running", ""].map((t) => h("th", {}, t)))),
  );
  const tbody = h("tbody", {}, h("tr", {}, h("td", { colspan: 8, class: "hint" }, "Loading…")));
  table.append(tbody);
  const detail = h("section", { id: "plan-detail", class: "plan-detail" });
  main.append(h("section", { id: "plans", class: "page" }, h("h1", {}, "Plans ", refresh), error, table, detail));
  if (plansJobView && !plansJobView.ended) {
    detail.append(h("h2", {}, `Job of plan ${plansJobView.planId}`), plansJobView.root);
  }
  const load = () =>
    busy(refresh, async () => {
      showApiError(error, null);
      const { plans } = await api("GET", "/v1/plans");
      clear(tbody);
      if (!plans.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "hint" }, "No plan yet: make one with New migration.")));
      for (const p of plans) tbody.append(planRow(p, detail, error, load));
    }, error);
  refresh.addEventListener("click", load);
  await load();
}

function planRow(p, detail, error, reload) {
  const id = p.id;
  const enc = encodeURIComponent(id);
  const last = p.last_job;
  const buttons = [];
  const btn = (name, label, fn, cls) => {
    const b = h("button", { id: `${name}-${id}`, type: "button", class: `small ${cls || "secondary"}` }, label);
    b.addEventListener("click", () => busy(rowButtons, () => fn(b), error));
    buttons.push(b);
    return b;
  };
  const showJob = (job, title) => {
    if (plansJobView) plansJobView.dispose();
    const jv = new JobView(id);
    plansJobView = jv;
    jv.onEnd = () => {
      reload();
    };
    fill(detail, h("h2", {}, title), jv.root);
    jv.follow(job);
    detail.scrollIntoView({ block: "start", behavior: "smooth" });
  };
  btn("diff", "Diff", async () => {
    fill(detail, h("h2", {}, `Diff of plan ${id} (${p.name})`), h("p", { class: "hint" }, "Asking the clouds…"));
    const outcome = await api("GET", `/v1/plans/${enc}/diff`);
    fill(detail, h("h2", {}, `Diff of plan ${id} (${p.name})`), renderDiff(outcome));
  });
  btn("apply", "Apply", async () => {
    const job = await api("POST", `/v1/plans/${enc}/apply`);
    showJob(job, `Apply of plan ${id} (${p.name})`);
  }, "primary");
  btn("destroy", "Destroy", async () => {
    if (!confirm(`Destroy what plan ${id} (${p.name}) made in ${p.target} and ${p.source}? Resources that s2d adopted are left alone.`)) return;
    const job = await api("POST", `/v1/plans/${enc}/destroy`);
    showJob(job, `Destroy of plan ${id} (${p.name})`);
  }, "danger");
  btn("jobs", "Jobs", async () => {
    const { jobs } = await api("GET", `/v1/plans/${enc}/jobs`);
    const t = h("table", { id: `jobs-table-${id}`, class: "jobs" }, h("thead", {}, h("tr", {}, ["Job", "Kind", "Status", "Started", "Finished", "Error", ""].map((x) => h("th", {}, x)))));
    const tb = h("tbody", {});
    for (const j of jobs) {
      const show = h("button", { id: `show-${j.id}`, type: "button", class: "small secondary", onclick: () => showJob(j, `${j.kind} ${j.id} of plan ${id}`) }, j.status === "running" ? "Watch" : "Show");
      tb.append(h("tr", {}, h("td", { class: "mono" }, j.id), h("td", {}, j.kind), h("td", { class: `st-${j.status}` }, j.status), h("td", {}, fmtTime(j.created_at)), h("td", {}, fmtTime(j.finished_at)), h("td", { class: "small" }, j.error || ""), h("td", {}, show)));
    }
    if (!jobs.length) tb.append(h("tr", {}, h("td", { colspan: 7, class: "hint" }, "No job yet.")));
    t.append(tb);
    fill(detail, h("h2", {}, `Jobs of plan ${id} (${p.name})`), t);
  });
  if (p.running_job) {
    btn("watch", "Watch", async () => {
      const job = await api("GET", `/v1/jobs/${encodeURIComponent(p.running_job)}`);
      showJob(job, `${job.kind} ${job.id} of plan ${id}`);
    });
  }
  if (p.resources === 0 && !p.running_job) {
    btn("delete", "Delete", async () => {
      if (!confirm(`Delete plan ${id} (${p.name}) and its job logs? Its state records no resource.`)) return;
      await api("DELETE", `/v1/plans/${enc}`);
      if (W.planId === id) {
        W.planId = null;
        W.submitted = null;
      }
      await reload();
    }, "danger");
  }
  const rowButtons = buttons;
  if (p.running_job) buttons.filter((b) => /^(apply|destroy)-/.test(b.id)).forEach((b) => (b.disabled = true));
  return h(
    "tr",
    { id: `plan-${id}` },
    h("td", { class: "mono" }, id, p.needs_resubmit ? h("div", { class: "warning small" }, "submit again: its password was lost in a restart") : null),
    h("td", {}, p.name, h("div", { class: "hint" }, `${p.syntax} · updated ${fmtTime(p.updated_at)}`)),
    h("td", {}, `${p.source} → ${p.target}`),
    h("td", {}, (p.servers || []).join(", ")),
    h("td", { class: "num" }, String(p.resources)),
    h("td", {}, last ? [h("span", { class: `st-${last.status}` }, `${last.kind} ${last.status}`), h("div", { class: "hint" }, fmtTime(last.finished_at || last.created_at))] : h("span", { class: "hint" }, "none")),
    h("td", { class: "mono" }, p.running_job || ""),
    h("td", { class: "row-actions" }, buttons),
  );
}

/* ------------------------------------------------------------------------------------------
 * Usage page
 * ---------------------------------------------------------------------------------------- */

function isoDate(d) {
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

async function renderUsage() {
  document.body.dataset.page = "usage";
  $("sidebar").hidden = true;
  const main = clear($("main"));
  const error = h("div", { id: "usage-error", class: "api-error", hidden: true, role: "alert" });
  const clouds = h("select", { id: "usage-clouds", multiple: true, size: 4 });
  const now = new Date();
  const start = h("input", { id: "usage-start", type: "date", value: isoDate(new Date(now.getFullYear(), now.getMonth(), 1)) });
  const end = h("input", { id: "usage-end", type: "date" });
  const all = h("input", { id: "usage-all-projects", type: "checkbox" });
  const run = h("button", { id: "usage-run", type: "submit", class: "primary" }, "Show usage");
  const csv = h("button", { id: "usage-csv", type: "button", class: "secondary" }, "Download CSV");
  const out = h("div", { id: "usage-result" });
  const form = h(
    "form",
    { id: "usage-form", class: "usage-form" },
    formRow("Clouds", "usage-clouds", clouds, "usage-clouds", "All of them when none is selected (Ctrl-click to choose several)."),
    formRow("From", "usage-start", start, "usage-start", "Midnight, local time of the service."),
    formRow("To", "usage-end", end, "usage-end", "Empty: now."),
    h("div", { class: "form-row" }, h("span", {}), h("label", { class: "check", for: "usage-all-projects" }, all, " every project (needs an admin account)")),
    h("div", { class: "buttons left" }, run, " ", csv),
  );
  main.append(h("section", { id: "usage", class: "page" }, h("h1", {}, "Usage"), h("p", { class: "lead" }, "Instance usage of the clouds over a period (Nova's usage report): up-time, vCPUs, RAM, disk, hours."), error, form, out));
  const query = () => {
    const q = new URLSearchParams();
    for (const o of clouds.selectedOptions) q.append("cloud", o.value);
    if (start.value) q.set("start", start.value);
    if (end.value) q.set("end", end.value);
    if (all.checked) q.set("all_projects", "true");
    return q;
  };
  const check = () => {
    W.errors["usage-start"] = null;
    W.errors["usage-end"] = null;
    let ok = true;
    if (start.value && end.value && end.value < start.value) {
      $("err-usage-end").textContent = "The period ends before it starts.";
      ok = false;
    } else {
      $("err-usage-end").textContent = "";
    }
    return ok;
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!check()) return;
    busy([run, csv], async () => {
      showApiError(error, null);
      fill(out, h("p", { class: "hint" }, "Asking the clouds…"));
      let report;
      try {
        report = await api("GET", `/v1/usage?${query()}`);
      } catch (err) {
        clear(out);
        if (err.body && Array.isArray(err.body.problems)) out.append(problemsBox(err.body.problems));
        throw err;
      }
      fill(out, renderUsageReport(report));
    }, error);
  });
  csv.addEventListener("click", () => {
    if (!check()) return;
    const q = query();
    q.set("format", "csv");
    busy([run, csv], () => download(`/v1/usage?${q}`, "s2d-usage.csv"), error);
  });
  try {
    const { clouds: list } = await cached("/v1/clouds");
    fill(clouds, list.map((c) => option(c.name, c.name, true)));
    clouds.size = Math.min(Math.max(list.length, 2), 6);
  } catch (e) {
    showApiError(error, e);
  }
}

function problemsBox(problems) {
  return h("div", { id: "usage-problems", class: "warnings" }, h("strong", {}, "Problems"), h("ul", {}, problems.map((p) => h("li", {}, h("strong", {}, p.cloud), `: ${p.message}`))));
}

function renderUsageReport(report) {
  const out = h("div", {});
  out.append(h("p", { class: "hint" }, `From ${fmtTime(report.start)} to ${fmtTime(report.end)}.`));
  if (report.problems && report.problems.length) out.append(problemsBox(report.problems));
  const byCloud = new Map();
  for (const row of report.instances || []) {
    if (!byCloud.has(row.cloud)) byCloud.set(row.cloud, []);
    byCloud.get(row.cloud).push(row);
  }
  for (const cloud of Object.keys(report.per_cloud || {})) if (!byCloud.has(cloud)) byCloud.set(cloud, []);
  const cost = report.currency ? ` (${report.currency})` : "";
  const hasCost = (report.instances || []).some((r) => r.cost !== undefined && r.cost !== null);
  const heads = ["Name", "Project", "State", "Up-time", "vCPUs", "RAM (GiB)", "Disk (GB)", "Hours", "CPU-h", "RAM GiB-h", "Disk GB-h"];
  if (hasCost) heads.push(`Cost${cost}`);
  for (const [cloud, rows] of byCloud) {
    const t = (report.per_cloud || {})[cloud] || {};
    const table = h("table", { id: `usage-table-${cloud}`, class: "usage" }, h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, x)))));
    const tb = h("tbody", {});
    for (const r of rows) {
      const cells = [
        h("td", {}, r.name, r.managed ? h("span", { class: "badge" }, "s2d") : null, h("div", { class: "hint mono" }, r.id)),
        h("td", { class: "small" }, r.project),
        h("td", {}, r.state),
        h("td", {}, r.uptime),
        h("td", { class: "num" }, String(r.vcpus)),
        h("td", { class: "num" }, fmtNum(r.memory_mb / 1024, 1)),
        h("td", { class: "num" }, String(r.local_gb)),
        h("td", { class: "num" }, fmtNum(r.hours, 2)),
        h("td", { class: "num" }, fmtNum(r.cpu_hours, 2)),
        h("td", { class: "num" }, fmtNum(r.ram_gb_hours, 2)),
        h("td", { class: "num" }, fmtNum(r.disk_gb_hours, 2)),
      ];
      if (hasCost) cells.push(h("td", { class: "num" }, r.cost !== undefined && r.cost !== null ? fmtNum(r.cost, 2) : ""));
      tb.append(h("tr", {}, cells));
    }
    if (!rows.length) tb.append(h("tr", {}, h("td", { colspan: heads.length, class: "hint" }, "No instance in this period.")));
    const foot = [
      h("th", { colspan: 7 }, `${cloud}: ${t.instances || 0} instance${t.instances === 1 ? "" : "s"}`),
      h("td", { class: "num" }, fmtNum(t.hours, 2)),
      h("td", { class: "num" }, fmtNum(t.cpu_hours, 2)),
      h("td", { class: "num" }, fmtNum(t.ram_gb_hours, 2)),
      h("td", { class: "num" }, fmtNum(t.disk_gb_hours, 2)),
    ];
    if (hasCost) foot.push(h("td", { class: "num" }, t.cost !== undefined && t.cost !== null ? fmtNum(t.cost, 2) : ""));
    table.append(tb, h("tfoot", {}, h("tr", {}, foot)));
    out.append(h("h2", {}, cloud), table);
  }
  const t = report.total || {};
  out.append(
    h("h2", {}, "Total"),
    h(
      "table",
      { id: "usage-total", class: "usage total" },
      h("thead", {}, h("tr", {}, ["Instances", "Hours", "CPU-h", "RAM GiB-h", "Disk GB-h", hasCost ? `Cost${cost}` : null].filter(Boolean).map((x) => h("th", {}, x)))),
      h(
        "tbody",
        {},
        h(
          "tr",
          {},
          h("td", { class: "num" }, String(t.instances || 0)),
          h("td", { class: "num" }, fmtNum(t.hours, 2)),
          h("td", { class: "num" }, fmtNum(t.cpu_hours, 2)),
          h("td", { class: "num" }, fmtNum(t.ram_gb_hours, 2)),
          h("td", { class: "num" }, fmtNum(t.disk_gb_hours, 2)),
          hasCost ? h("td", { class: "num" }, t.cost !== undefined && t.cost !== null ? fmtNum(t.cost, 2) : "") : null,
        ),
      ),
    ),
  );
  return out;
}

/* ------------------------------------------------------------------------------------------
 * Routing
 * ---------------------------------------------------------------------------------------- */

function markNav(page) {
  for (const [id, p] of [["nav-wizard", "wizard"], ["nav-plans", "plans"], ["nav-usage", "usage"]]) {
    $(id).classList.toggle("active", p === page);
    if (p === page) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  $("nav-wizard").setAttribute("href", `#/wizard/${W.finished ? 1 : W.step}`);
}

function route() {
  const hash = location.hash || "";
  if (/token=/.test(hash)) readTokenFromHash();
  if (!token()) {
    showTokenBar("");
    document.body.dataset.page = "token";
    $("sidebar").hidden = true;
    clear($("main")).append(h("section", { class: "page" }, h("h1", {}, "s2d"), h("p", { class: "lead" }, "Paste the service's API token above to start.")));
    return;
  }
  const m = (location.hash || "").match(/^#\/(wizard|plans|usage)(?:\/(\d+))?/);
  const page = m ? m[1] : "wizard";
  markNav(page);
  if (page === "plans") renderPlans();
  else if (page === "usage") renderUsage();
  else {
    const n = Math.min(Math.max(parseInt((m && m[2]) || "1", 10) || 1, 1), 9);
    renderWizard(n);
  }
}

function init() {
  readTokenFromHash();
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) {
      $("token-message").textContent = "Paste the token first.";
      return;
    }
    setToken(value);
    hideTokenBar();
    route();
  });
  // "New migration" after a finished apply starts over.
  $("nav-wizard").addEventListener("click", () => {
    if (W.finished) resetWizard();
  });
  $("brand").addEventListener("click", () => {
    if (W.finished) resetWizard();
  });
  window.addEventListener("hashchange", route);
  if (token()) hideTokenBar();
  route();
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
