// Overheard workbench: a keyboard-first player over <audio>, a waveform, lease heartbeats.
// No framework, no external assets. The clip is fetched once from a short-lived URL.
"use strict";
(function () {
  const box = document.getElementById("player");
  if (!box) return;
  const $ = (id) => document.getElementById(id);
  const audio = $("audio"), canvas = $("waveform"), status = $("player-status");
  const rates = box.dataset.rates.split(",").map(Number);
  const seekS = Number(box.dataset.seekS), requireFull = box.dataset.requireFull === "yes";
  const BIN_S = 0.1;
  let rateIndex = rates.indexOf(1), peaks = null, heard = null, last = null;

  const say = (text) => { status.textContent = text; };
  const fmt = (s) => s.toFixed(1) + " s";

  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  // A 429 (the serving limit) or 503 names its wait in Retry-After: count down, then reload the
  // page, which keeps the lease and brings a fresh audio link (links live a minute).
  async function fetchClip() {
    const reply = await fetch(box.dataset.audioUrl, { credentials: "same-origin", cache: "no-store" });
    if (reply.status !== 429 && reply.status !== 503) return reply;
    box.dataset.state = "waiting";
    for (let wait = Math.max(1, Number(reply.headers.get("Retry-After")) || 5); wait > 0; wait--) {
      say("The clip will load by itself in " + wait + " s (the serving limit).");
      await sleep(1000);
    }
    location.reload();
    return new Promise(() => {});
  }

  async function load() {
    try {
      const reply = await fetchClip();
      if (!reply.ok) throw new Error(String(reply.status));
      const bytes = await reply.arrayBuffer();
      peaks = wavPeaks(bytes, canvas.width);
      audio.src = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
      audio.addEventListener("loadedmetadata", () => {
        heard = new Uint8Array(Math.max(1, Math.ceil(audio.duration / BIN_S)));
        draw();
        say("Ready. Press Space to play.");
        box.dataset.state = "ready";
      }, { once: true });
    } catch (err) {
      say("The clip could not be loaded (" + err.message + "). Reload the page to try again.");
      box.dataset.state = "failed";
    }
  }

  function wavPeaks(bytes, columns) {
    // PCM16 WAV: find the "data" chunk and take the peak of each column's samples.
    const view = new DataView(bytes);
    let at = 12;
    while (at + 8 <= view.byteLength) {
      const id = String.fromCharCode(...new Uint8Array(bytes, at, 4)), size = view.getUint32(at + 4, true);
      if (id === "data") {
        const samples = new Int16Array(bytes.slice(at + 8, at + 8 + size - (size % 2)));
        const per = Math.max(1, Math.floor(samples.length / columns)), out = [];
        for (let c = 0; c < columns; c++) {
          let peak = 0;
          for (let i = c * per; i < Math.min(samples.length, (c + 1) * per); i++) peak = Math.max(peak, Math.abs(samples[i]));
          out.push(peak / 32768);
        }
        return out;
      }
      at += 8 + size + (size % 2);
    }
    return null;
  }

  function draw() {
    const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
    g.clearRect(0, 0, w, h);
    const done = audio.duration ? (audio.currentTime / audio.duration) * w : 0;
    (peaks || []).forEach((p, x) => {
      g.fillStyle = x < done ? "#0b57d0" : "#8a8a99";
      const bar = Math.max(1, p * h);
      g.fillRect(x, (h - bar) / 2, 1, bar);
    });
    $("position").textContent = fmt(audio.currentTime) + " of " + fmt(audio.duration || 0);
  }

  function markHeard() {
    if (!heard) return;
    const now = audio.currentTime;
    if (last !== null && now >= last && now - last < 1.5) {
      for (let b = Math.floor(last / BIN_S); b < Math.min(heard.length, Math.ceil(now / BIN_S)); b++) heard[b] = 1;
    }
    last = now;
  }
  const heardAll = () => heard !== null && heard.reduce((a, b) => a + b, 0) >= heard.length * 0.95;

  function toggle() {
    if (!audio.src) return;
    if (audio.paused) { last = audio.currentTime; audio.play().catch((e) => say("Cannot play: " + e.message)); }
    else audio.pause();
  }
  function seek(by) { audio.currentTime = Math.min(Math.max(0, audio.currentTime + by), audio.duration || 0); last = null; draw(); }
  function replay() { audio.currentTime = 0; last = 0; if (audio.paused) toggle(); }
  function speed(step) {
    rateIndex = Math.min(rates.length - 1, Math.max(0, rateIndex + step));
    audio.playbackRate = rates[rateIndex];
    $("rate").textContent = rates[rateIndex] + "×";
  }

  audio.addEventListener("play", () => { $("play").textContent = "Pause"; box.dataset.state = "playing"; say("Playing."); });
  audio.addEventListener("pause", () => { $("play").textContent = "Play"; if (!audio.ended) { box.dataset.state = "paused"; say("Paused."); } });
  audio.addEventListener("timeupdate", () => { markHeard(); draw(); });
  audio.addEventListener("ended", () => {
    markHeard(); box.dataset.state = "ended";
    if (heardAll()) box.dataset.heard = "yes";
    say("End of clip. Press R to replay.");
  });
  $("play").addEventListener("click", toggle);
  $("replay").addEventListener("click", replay);
  $("slower").addEventListener("click", () => speed(-1));
  $("faster").addEventListener("click", () => speed(1));

  const form = $("annotate");
  if (form) form.addEventListener("submit", (event) => {
    if (requireFull && !heardAll()) {
      event.preventDefault();
      say("Listen to the whole clip before submitting.");
      $("play").focus();
    }
  });

  const typing = (el) => el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "checkbox");
  const native = (el) => ["BUTTON", "SELECT", "A"].includes(el.tagName) || el.type === "checkbox";
  document.addEventListener("keydown", (event) => {
    const el = event.target;
    if (event.ctrlKey && event.key === "Enter" && form) { event.preventDefault(); form.requestSubmit(); return; }
    if (event.ctrlKey && event.key === " ") { event.preventDefault(); toggle(); return; }
    if (event.key === "Escape" && typing(el)) { $("play").focus(); return; }
    if (typing(el) || el.tagName === "SELECT" || event.ctrlKey || event.altKey || event.metaKey) return;
    if (event.key === " " && !native(el)) { event.preventDefault(); toggle(); }
    else if (event.key === "r" || event.key === "R") { event.preventDefault(); replay(); }
    else if (event.key === "ArrowLeft") { event.preventDefault(); seek(-seekS); }
    else if (event.key === "ArrowRight") { event.preventDefault(); seek(seekS); }
    else if (event.key === "[" || event.key === "-") { event.preventDefault(); speed(-1); }
    else if (event.key === "]" || event.key === "+" || event.key === "=") { event.preventDefault(); speed(1); }
  });

  const beat = async () => {
    const body = new URLSearchParams({ lease_id: box.dataset.lease });
    const reply = await fetch(box.dataset.heartbeatUrl, {
      method: "POST", credentials: "same-origin", body,
      headers: { "X-CSRF-Token": box.dataset.csrf },
    }).catch(() => null);
    if (reply && reply.status === 409) say("This clip was taken back. Reload for the next one.");
  };
  if (box.dataset.lease) setInterval(beat, Number(box.dataset.heartbeatS) * 1000);

  // The lease can end under us (above all: the household withdrew the clip). The server says so
  // within a second; the page stops, drops the audio it holds and cannot play it again.
  const WHY = {
    withdrawn: "The household withdrew this clip. It has been removed from this page; do not note anything from it.",
    ended: "This clip is no longer yours (its lease ended). Reload for the next one.",
  };
  function drop(why) {
    audio.pause();
    const src = audio.src;
    audio.removeAttribute("src");
    audio.load();
    if (src) URL.revokeObjectURL(src);
    peaks = null; heard = null; draw();
    ["play", "replay", "slower", "faster"].forEach((id) => { $(id).disabled = true; });
    box.dataset.state = "withdrawn";
    say(WHY[why] || WHY.ended);
    if (form) form.querySelectorAll("textarea, select, input, button").forEach((el) => { el.disabled = true; });
  }
  if (box.dataset.eventsUrl && window.EventSource) {
    const events = new EventSource(box.dataset.eventsUrl);
    events.addEventListener("ended", (event) => {
      events.close();
      drop(JSON.parse(event.data).why);
    });
  }
  load();
})();
