// Overheard workbench: a keyboard-first player over <audio>, a zoomable waveform with a time axis,
// an optional spectrogram under it (spectrogram.js), lease heartbeats and the lease's event stream. No framework, no external assets. The clip is
// fetched once from a short-lived URL. Every key is listed on the page and in docs/workbench.md.
// The forms are sent from here and answered with the next clip as JSON (workbench/steps.py), shown
// in place: a clip costs its submit and its audio, no page load. Without this script they post as usual.
"use strict";
(function () {
  const box = document.getElementById("player");
  if (!box) return;
  const $ = (id) => document.getElementById(id);
  const audio = $("audio"), canvas = $("waveform"), status = $("player-status"), specCanvas = $("spectrogram");
  const Spectrogram = window.OverheardSpectrogram, Clip = window.OverheardClip;
  const rates = box.dataset.rates.split(",").map(Number);
  const seekS = Number(box.dataset.seekS), requireFull = box.dataset.requireFull === "yes";
  const BIN_S = 0.1, AXIS_PX = 16, PEAK_COLUMNS = 4096, ZOOMS = [1, 2, 4, 8, 16];
  const AUTOPLAY_KEY = "overheard.autoplay", SPECTROGRAM_KEY = "overheard.spectrogram", RATE_KEY = "overheard.rate";
  let pcm = null, spec = null, clip = 0, pending = null;
  let rateIndex = rates.indexOf(1), peaks = null, heard = null, last = null, zoomIndex = 0, viewStart = 0;

  const say = (text) => { status.textContent = text; };
  const fmt = (s) => s.toFixed(1) + " s";
  const duration = () => audio.duration || 0;

  // A 429 (the serving limit) or 503 names its wait in Retry-After: count down, then reload the
  // page, which keeps the lease and brings a fresh audio link (links live a minute).
  const fetchClip = (mine) => Clip.fetchAudio(box.dataset.audioUrl, {
    say: (text) => { box.dataset.state = "waiting"; say(text); },
    live: () => mine === clip,
    renew: () => location.reload(),
  });

  // ``clip`` counts the clips this page has shown: a fetch that finishes after the page moved on is dropped.
  async function load() {
    const mine = clip;
    try {
      const reply = await fetchClip(mine);
      if (reply === null) return;
      if (!reply.ok) throw new Error(String(reply.status));
      const bytes = await reply.arrayBuffer();
      if (mine !== clip) return;
      pcm = wavPcm(bytes);
      peaks = pcm && peaksOf(pcm.samples, PEAK_COLUMNS);
      audio.src = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
      audio.addEventListener("loadedmetadata", () => {
        if (mine !== clip) return;
        heard = new Uint8Array(Math.max(1, Math.ceil(duration() / BIN_S)));
        draw();
        box.dataset.state = "ready";
        if (autoplay()) {
          audio.play().then(() => say("Playing."), () => say("Ready. Press Space to play."));
        } else {
          say("Ready. Press Space to play.");
        }
      }, { once: true });
    } catch (err) {
      if (mine !== clip) return;
      say("The clip could not be loaded (" + err.message + "). Reload the page to try again.");
      box.dataset.state = "failed";
    }
  }

  function wavPcm(bytes) {
    // PCM16 WAV: the sample rate from "fmt ", the first channel's samples from "data".
    const view = new DataView(bytes);
    let at = 12, rateHz = 16000, channels = 1;
    while (at + 8 <= view.byteLength) {
      const id = String.fromCharCode(...new Uint8Array(bytes, at, 4)), size = view.getUint32(at + 4, true);
      if (id === "fmt ") { channels = view.getUint16(at + 10, true) || 1; rateHz = view.getUint32(at + 12, true); }
      if (id === "data") {
        const all = new Int16Array(bytes.slice(at + 8, at + 8 + size - (size % 2)));
        const samples = channels === 1 ? all : all.filter((_, i) => i % channels === 0);
        return { samples, rateHz };
      }
      at += 8 + size + (size % 2);
    }
    return null;
  }

  function peaksOf(samples, columns) {
    // The peak of each column's samples, 0–1.
    const per = Math.max(1, Math.floor(samples.length / columns)), out = [];
    for (let c = 0; c * per < samples.length; c++) {
      let peak = 0;
      for (let i = c * per; i < Math.min(samples.length, (c + 1) * per); i++) peak = Math.max(peak, Math.abs(samples[i]));
      out.push(peak / 32768);
    }
    return out;
  }

  // The view: [viewStart, viewStart + span) seconds of the clip, span = duration / zoom.
  const span = () => duration() / ZOOMS[zoomIndex];
  const timeAt = (x) => viewStart + (x / canvas.width) * span();
  const xAt = (t) => ((t - viewStart) / span()) * canvas.width;

  function follow() {
    // Keep the playhead inside the view when zoomed in.
    const t = audio.currentTime, s = span();
    if (t < viewStart || t > viewStart + s * 0.9) viewStart = Math.max(0, Math.min(duration() - s, t - s * 0.1));
  }

  function draw() {
    const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height - AXIS_PX;
    g.clearRect(0, 0, w, canvas.height);
    if (duration() > 0) follow();
    if (peaks && duration() > 0) {
      const perSecond = peaks.length / duration(), done = xAt(audio.currentTime);
      for (let x = 0; x < w; x++) {
        const from = Math.floor(timeAt(x) * perSecond), to = Math.max(from + 1, Math.floor(timeAt(x + 1) * perSecond));
        let p = 0;
        for (let i = from; i < Math.min(to, peaks.length); i++) p = Math.max(p, peaks[i]);
        g.fillStyle = x < done ? "#0b57d0" : "#8a8a99";
        const bar = Math.max(1, p * h);
        g.fillRect(x, (h - bar) / 2, 1, bar);
      }
      drawAxis(g, w, h);
      g.fillStyle = "#b3261e";
      g.fillRect(Math.round(done), 0, 2, h);
    }
    drawSpectrogram();
    $("position").textContent = fmt(audio.currentTime) + " of " + fmt(duration());
    $("zoom").textContent = ZOOMS[zoomIndex] + "×";
  }

  // Computed once per clip, the first time it is shown; it follows the same view and playhead.
  function drawSpectrogram() {
    if (!specCanvas || !Spectrogram || specCanvas.hidden) return;
    if (!pcm || duration() <= 0) { Spectrogram.clear(specCanvas); return; }
    if (!spec) {
      spec = Spectrogram.compute(pcm.samples, pcm.rateHz);
      specCanvas.dataset.frames = String(spec.frames);
      specCanvas.dataset.seconds = spec.seconds.toFixed(3);
      specCanvas.dataset.topHz = String(spec.topHz);
    }
    const scale = specCanvas.width / canvas.width;
    Spectrogram.paint(specCanvas, spec, (x) => timeAt(x / scale), xAt(audio.currentTime) * scale);
  }

  function drawAxis(g, w, h) {
    const s = span(), step = [0.1, 0.25, 0.5, 1, 2, 5].find((d) => s / d <= 10) || 10;
    g.fillStyle = "#4a4a55";
    g.font = "11px system-ui, sans-serif";
    g.fillRect(0, h, w, 1);
    for (let t = Math.ceil(viewStart / step) * step; t <= viewStart + s + 1e-9; t += step) {
      const x = Math.round(xAt(t));
      g.fillRect(x, h, 1, 4);
      g.fillText(t.toFixed(step < 1 ? 1 : 0) + " s", Math.min(x + 2, w - 30), h + AXIS_PX - 3);
    }
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
  function seekTo(t) { audio.currentTime = Math.min(Math.max(0, t), duration()); last = null; draw(); }
  const seek = (by) => seekTo(audio.currentTime + by);
  function replay() { audio.currentTime = 0; last = 0; if (audio.paused) toggle(); }
  // The speed is remembered in this browser, like auto-play and the spectrogram; a clip loaded
  // into the <audio> starts at its defaultPlaybackRate, so both are set.
  function setRate(index) {
    rateIndex = Math.min(rates.length - 1, Math.max(0, index));
    audio.defaultPlaybackRate = rates[rateIndex];
    audio.playbackRate = rates[rateIndex];
    $("rate").textContent = rates[rateIndex] + "×";
  }
  function speed(step) {
    setRate(rateIndex + step);
    localStorage.setItem(RATE_KEY, String(rates[rateIndex]));
  }
  const remembered = rates.indexOf(Number(localStorage.getItem(RATE_KEY)));
  setRate(remembered >= 0 ? remembered : rates.indexOf(1));
  function zoom(step) {
    zoomIndex = Math.min(ZOOMS.length - 1, Math.max(0, zoomIndex + step));
    viewStart = Math.max(0, Math.min(duration() - span(), audio.currentTime - span() / 2));
    draw();
  }

  const autoplay = () => localStorage.getItem(AUTOPLAY_KEY) !== "off";
  function setAutoplay(on) {
    localStorage.setItem(AUTOPLAY_KEY, on ? "on" : "off");
    $("autoplay").checked = on;
    say("Auto-play is " + (on ? "on" : "off") + ".");
  }
  $("autoplay").checked = autoplay();
  $("autoplay").addEventListener("change", (e) => setAutoplay(e.target.checked));

  const spectrogramOn = () => localStorage.getItem(SPECTROGRAM_KEY) === "on";
  function setSpectrogram(on, quiet) {
    if (!specCanvas) return;
    if (!quiet) localStorage.setItem(SPECTROGRAM_KEY, on ? "on" : "off");
    $("spectrogram-toggle").checked = on;
    specCanvas.hidden = !on;
    draw();
    if (!quiet) say("Spectrogram " + (on ? "shown" : "hidden") + ".");
  }
  if (specCanvas) {
    setSpectrogram(spectrogramOn(), true);
    $("spectrogram-toggle").addEventListener("change", (e) => setSpectrogram(e.target.checked));
  }

  let dragging = false;
  const pointerSeek = (e) => {
    const r = e.currentTarget.getBoundingClientRect();
    seekTo(timeAt(((e.clientX - r.left) / r.width) * canvas.width));
  };
  for (const surface of [canvas, specCanvas].filter(Boolean)) {
    surface.addEventListener("pointerdown", (e) => { if (!audio.src) return; dragging = true; surface.setPointerCapture(e.pointerId); pointerSeek(e); });
    surface.addEventListener("pointermove", (e) => { if (dragging) pointerSeek(e); });
    surface.addEventListener("pointerup", () => { dragging = false; });
  }

  audio.addEventListener("play", () => { $("play").textContent = "Pause"; box.dataset.state = "playing"; say("Playing."); });
  audio.addEventListener("pause", () => { $("play").textContent = "Play"; if (!audio.ended && box.dataset.state !== "withdrawn") { box.dataset.state = "paused"; say("Paused."); } });
  // The recognised words under the waveform: the one playing is outlined, a click seeks to it.
  let words = [];
  function markWord() {
    const t = audio.currentTime;
    for (const li of words) li.classList.toggle("current", t >= Number(li.dataset.startS) && t < Number(li.dataset.endS));
  }
  function bindWords() {
    words = Array.from(document.querySelectorAll("#words li"));
    for (const li of words) li.addEventListener("click", () => { audio.currentTime = Number(li.dataset.startS); markWord(); });
  }
  bindWords();
  audio.addEventListener("timeupdate", () => { markHeard(); draw(); markWord(); });
  audio.addEventListener("ended", () => {
    markHeard(); box.dataset.state = "ended";
    if (heardAll()) box.dataset.heard = "yes";
    say("End of clip. Press R to replay.");
  });
  $("play").addEventListener("click", toggle);
  $("replay").addEventListener("click", replay);
  $("slower").addEventListener("click", () => speed(-1));
  $("faster").addEventListener("click", () => speed(1));
  $("zoom-in").addEventListener("click", () => zoom(1));
  $("zoom-out").addEventListener("click", () => zoom(-1));

  const form = $("annotate");
  if (form) form.addEventListener("submit", (event) => {
    if (requireFull && !heardAll()) {
      event.preventDefault();
      say("Listen to the whole clip before submitting.");
      $("play").focus();
      return;
    }
    // Only a task (a lease) is answered with the next clip as JSON; an adjudication posts as a
    // plain form, whose answer is the lead's page (sent from here, it would be sent twice).
    if (!box.dataset.lease) return;
    event.preventDefault();
    step(form);
  });
  for (const id of ["skip", "undo"]) {
    const f = $(id);
    if (f) f.addEventListener("submit", (event) => { event.preventDefault(); step(f); });
  }

  // Type-to-filter over the intent selector: Enter picks the first match.
  const filter = $("intent-filter"), intent = $("intent");
  if (filter && intent) {
    const visible = () => [...intent.options].filter((o) => o.value && !o.hidden);
    filter.addEventListener("input", () => {
      const words = filter.value.toLowerCase().trim().split(/\s+/).filter(Boolean);
      for (const o of intent.options) o.hidden = o.value !== "" && !words.every((w) => o.textContent.toLowerCase().includes(w));
      const first = visible()[0];
      say(first ? visible().length + " intents match; Enter picks " + first.textContent + "." : "No intent matches.");
    });
    filter.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      const first = visible()[0];
      if (!first) return;
      intent.value = first.value;
      filter.value = "";
      for (const o of intent.options) o.hidden = false;
      intentMissing(false);
      say("Intent: " + first.textContent + ".");
      $("play").focus();
    });
    // A submit without an intent: the browser would stop on the <select> with a bubble, where the
    // page's keys (Esc, I, typing a name) do not reach. Say why beside it and go to the filter.
    intent.addEventListener("invalid", (e) => {
      if (!$("intent-missing")) return;
      e.preventDefault();
      intentMissing(true);
      filter.focus();
    });
    intent.addEventListener("change", () => intentMissing(!intent.value && intent.hasAttribute("aria-invalid")));
  }
  function intentMissing(on) {
    const note = $("intent-missing");
    if (!note || !intent) return;
    if (on) { note.textContent = note.dataset.text || (note.dataset.text = note.textContent); }
    note.hidden = !on;
    if (on) intent.setAttribute("aria-invalid", "true"); else intent.removeAttribute("aria-invalid");
  }

  const typing = (el) => el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "checkbox");
  const native = (el) => ["BUTTON", "SELECT", "A"].includes(el.tagName) || el.type === "checkbox";
  const flags = [...document.querySelectorAll("#flags input[type=checkbox]")];
  const focusOn = (id) => { const el = $(id); if (el && !el.disabled) el.focus(); };
  const send = (id) => { const f = $(id); if (f && !f.hidden) f.requestSubmit(); };
  // S does not skip: it opens the skip reason, where Enter (or S again) skips and any other key
  // (Esc, a letter, Space) keeps the clip. A stray "s" (a comment typed without C first) costs nothing.
  const reason = $("skip-reason"), skipForm = $("skip");
  let armed = false;
  function armSkip() {
    if (!reason || reason.disabled || !skipForm || skipForm.hidden) return;
    armed = true;
    skipForm.dataset.armed = "yes";
    $("skip-confirm").hidden = false;
    reason.focus();
    say("Skip this clip because " + reason.selectedOptions[0].textContent + "? Enter skips; ↑ ↓ change the reason; Esc keeps the clip.");
  }
  function disarm() {
    armed = false;
    if (!skipForm) return;
    delete skipForm.dataset.armed;
    $("skip-confirm").hidden = true;
  }
  if (reason) {
    reason.addEventListener("blur", disarm);
    reason.addEventListener("change", () => { if (armed) say("Skip because " + reason.selectedOptions[0].textContent + "? Enter skips."); });
    reason.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.altKey || event.metaKey) return;
      const key = event.key;
      if (key === "Enter" || (armed && (key === "s" || key === "S"))) {
        event.preventDefault();
        event.stopPropagation();
        disarm();
        send("skip");
        return;
      }
      if (!armed || ["ArrowUp", "ArrowDown", "Home", "End", "PageUp", "PageDown", "Tab", "Shift"].includes(key)) return;
      event.preventDefault();
      event.stopPropagation();
      $("play").focus();
      say("Not skipped: the clip stays.");
    });
  }
  const KEYS = {
    r: replay, R: replay,
    ArrowLeft: () => seek(-seekS), ArrowRight: () => seek(seekS),
    "[": () => speed(-1), "-": () => speed(-1), "]": () => speed(1), "+": () => speed(1), "=": () => speed(1),
    z: () => zoom(1), Z: () => zoom(-1),
    a: () => setAutoplay(!autoplay()), A: () => setAutoplay(!autoplay()),
    v: () => setSpectrogram(specCanvas && specCanvas.hidden), V: () => setSpectrogram(specCanvas && specCanvas.hidden),
    t: () => focusOn("transcript"), T: () => focusOn("transcript"),
    i: () => focusOn("intent-filter"), I: () => focusOn("intent-filter"),
    c: () => focusOn("comment"), C: () => focusOn("comment"),
    s: armSkip, S: armSkip,
    u: () => send("undo"), U: () => send("undo"),
  };
  document.addEventListener("keydown", (event) => {
    const el = event.target;
    if (event.ctrlKey && event.key === "Enter" && form) { event.preventDefault(); form.requestSubmit(); return; }
    if (event.ctrlKey && event.key === " ") { event.preventDefault(); toggle(); return; }
    if (event.key === "Escape" && (typing(el) || el.tagName === "SELECT")) { $("play").focus(); return; }
    if (typing(el) || el.tagName === "SELECT" || event.ctrlKey || event.altKey || event.metaKey) return;
    if (event.key === " " && !native(el)) { event.preventDefault(); toggle(); return; }
    const n = Number(event.key);
    if (Number.isInteger(n) && n >= 1 && n <= flags.length) {
      event.preventDefault();
      const check = flags[n - 1];
      if (!check.disabled) { check.checked = !check.checked; say(check.labels[0].textContent + (check.checked ? " flagged." : " unflagged.")); }
      return;
    }
    const act = KEYS[event.key];
    if (act) { event.preventDefault(); act(); }
  });

  // The lease is renewed every heartbeatS while one clip is open; a new clip starts the count again.
  let beating = null;
  const beat = async () => {
    const lease = box.dataset.lease;
    const body = new URLSearchParams({ lease_id: lease });
    const reply = await fetch(box.dataset.heartbeatUrl, {
      method: "POST", credentials: "same-origin", body,
      headers: { "X-CSRF-Token": box.dataset.csrf, Accept: "application/json" },
    }).catch(() => null);
    if (!reply || box.dataset.state === "withdrawn") return;
    // Signed out (the session ended, the account was disabled): nothing of the clip may stay.
    if (Clip.signedOut(reply)) { drop("signed_out"); return; }
    // Refused: the lease is no longer theirs (withdrawn, or run out). The event stream says so
    // first where it gets through; where it does not (a proxy holding it back), this drops the
    // clip. Not for a lease the page has moved on from, nor while its own step of it is on the way.
    const mine = lease === box.dataset.lease && pending !== lease;
    if (reply.status === 409 && mine) drop("ended");
  };
  function heartbeats() {
    clearInterval(beating);
    if (box.dataset.lease) beating = setInterval(beat, Number(box.dataset.heartbeatS) * 1000);
  }

  // The lease can end under us (above all: the household withdrew the clip). The server says so
  // within a second; the page stops, drops the audio it holds and cannot play it again.
  const WHY = {
    withdrawn: "The household withdrew this clip. It has been removed from this page; do not note anything from it.",
    ended: "This clip is no longer yours (its lease ended). Reload for the next one.",
    closed: "This disagreement is no longer open (settled, or its clip was withdrawn). It has been removed from this page.",
    signed_out: Clip.SIGNED_OUT,
  };
  const PLAYER_BUTTONS = ["play", "replay", "slower", "faster", "zoom-in", "zoom-out"];
  const fields = () => [...document.querySelectorAll("#annotate, #skip")].flatMap((f) => [...f.querySelectorAll("textarea, select, input, button")]);
  function release() {
    audio.pause();
    const src = audio.src;
    audio.removeAttribute("src");
    audio.load();
    if (src) URL.revokeObjectURL(src);
    peaks = null; heard = null; pcm = null; spec = null; last = null;
    if (specCanvas) { delete specCanvas.dataset.frames; delete specCanvas.dataset.seconds; }
  }
  // What the page showed of the clip goes with its audio: the text, the words, an earlier transcript.
  function forget() {
    if ($("words")) { fill($("words"), [], word); bindWords(); }
    if ($("earlier")) { fill($("earlier"), [], line); $("earlier-section").hidden = true; }
    document.querySelectorAll("[data-clip-text]").forEach((el) => { el.textContent = ""; });
    if (form) form.querySelectorAll("textarea").forEach((t) => { t.value = ""; t.defaultValue = ""; });
  }
  function drop(why) {
    box.dataset.state = "withdrawn";
    box.dataset.why = why;
    clip += 1;  // a clip still on its way is not shown
    clearInterval(beating);
    stopChecking();
    if (events) events.close();
    release();
    forget();
    draw();
    PLAYER_BUTTONS.forEach((id) => { $(id).disabled = true; });
    if (why === "signed_out") Clip.sayOut(status); else say(WHY[why] || WHY.ended);
    if (form) form.querySelectorAll("textarea, select, input, button").forEach((el) => { el.disabled = true; });
  }
  // A page without a lease (a lead's adjudication) asks every checkS whether its clip may still be
  // served (the server opens nothing to answer); a refusal drops the clip as a withdrawn lease does.
  let stopChecking = () => {};
  if (box.dataset.stateUrl) {
    stopChecking = Clip.watch(box.dataset.stateUrl, Number(box.dataset.checkS), (told) => {
      if (box.dataset.state !== "withdrawn") drop(told.signedOut ? "signed_out" : "closed");
    });
  }
  // One stream follows this lease and the ones after it (the server watches every lease given to
  // this annotator since); when it closes, a new one starts from the clip shown then.
  let events = null;
  function listen() {
    if (!box.dataset.eventsUrl || !window.EventSource || box.dataset.state === "withdrawn") return;
    const lease = box.dataset.lease;
    events = new EventSource(box.dataset.eventsUrl.replace(/[^/]*$/, encodeURIComponent(lease)));
    events.addEventListener("ended", (event) => {
      const told = JSON.parse(event.data);
      if (told.lease_id !== box.dataset.lease || pending === told.lease_id) return;  // not the clip shown, or our own step
      events.close();
      drop(told.why);
    });
    events.addEventListener("error", () => {
      const refused = events.readyState === EventSource.CLOSED;  // an error answer: the browser gave up
      events.close();
      // Refused (above all: signed out, and sent to the sign-in page): a renewal now says why.
      if (refused) beat(); else setTimeout(listen, 1000);
    });
  }

  // A form sent from here: the answer is the next clip (or the same one with a notice, or a page to load).
  async function step(f) {
    if (pending !== null) return;
    pending = box.dataset.lease;
    let reply = null;
    try {
      reply = await fetch(f.action, {
        method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(f)),
        headers: { Accept: "application/json" },
      });
    } catch (err) {
      pending = null;
      say("The server could not be reached; try again.");
      return;
    }
    if (!reply.ok || !(reply.headers.get("content-type") || "").startsWith("application/json")) {
      // The answer a form without this script gets (an error page, the sign-in page); the form's
      // button is named "submit", which hides the form's own method.
      HTMLFormElement.prototype.submit.call(f);
      return;
    }
    const answer = await reply.json();
    if (answer.load) { location.assign(answer.load); return; }
    pending = null;
    notify(answer.notice);
    if (!answer.stay) show(answer, f.id === "skip");
    else if (f.id === "undo") $("undo").hidden = true;
  }

  function notify(text) {
    const notice = $("notice");
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  const round2 = (x) => { const v = Math.round(x * 100) / 100; return Number.isInteger(v) ? v.toFixed(1) : String(v); };
  function fill(list, items, make) {
    list.replaceChildren(...items.map(make));
    list.hidden = items.length === 0;
  }
  function word(w) {
    const li = document.createElement("li");
    li.textContent = w.text;
    li.dataset.startS = String(w.start_s);
    li.dataset.endS = String(w.end_s);
    li.title = round2(w.start_s) + "–" + round2(w.end_s) + " s, confidence " + round2(w.confidence);
    const cls = [w.low && "low", w.redacted && "redacted"].filter(Boolean);
    if (cls.length) li.className = cls.join(" ");
    return li;
  }
  function line(text) { const li = document.createElement("li"); li.textContent = text; return li; }
  function intentOptions(names) {
    const now = [...intent.options].slice(1).map((o) => o.value);
    if (now.join() === names.join()) return;
    intent.replaceChildren(intent.options[0], ...names.map((name) => {
      const o = document.createElement("option");
      o.value = name;
      o.textContent = name.replaceAll("_", " ");
      return o;
    }));
  }

  // The next clip in place of this one, as a fresh page would show it (every text set as text).
  // After a skip the previous submit's Undo stays offered (the server still says whether it may).
  function show(answer, skipped) {
    const task = answer.task;
    clip += 1;
    release();
    box.dataset.lease = task.lease_id;
    box.dataset.audioUrl = task.audio_url;
    box.dataset.state = "loading";
    delete box.dataset.heard;
    document.title = "Review " + task.pseudonym + " · Overheard";
    $("clip-pseudonym").textContent = task.pseudonym;
    $("clip-duration").textContent = task.duration;
    fill($("words"), task.words, word);
    bindWords();
    fill($("earlier"), task.earlier, line);
    $("earlier-section").hidden = task.earlier.length === 0;
    intentOptions(task.intents);
    $("transcript").defaultValue = task.hypothesis;
    for (const f of [form, $("skip")]) {
      f.reset();
      f.querySelector("input[name=lease_id]").value = task.lease_id;
    }
    for (const o of intent.options) o.hidden = false;
    intentMissing(false);
    fields().forEach((el) => { el.disabled = false; });
    const undo = $("undo");
    if (!(skipped && !answer.undo)) {
      undo.querySelector("input[name=annotation_id]").value = answer.undo || "";
      undo.hidden = !answer.undo;
    }
    for (const [id, text] of Object.entries(answer.stats)) $(id).textContent = text;
    PLAYER_BUTTONS.forEach((id) => { $(id).disabled = false; });
    setRate(rateIndex);  // the speed chosen stays from clip to clip
    zoomIndex = 0; viewStart = 0;
    draw();
    say("Loading the clip…");
    $("play").focus();
    heartbeats();
    load();
  }

  heartbeats();
  listen();
  load();
})();
