// Overheard privacy case page: fetches the clip (waiting out a 503 while its disguised rendition is
// made, as Retry-After says, a bounded number of times) and, while the page is open, asks every few
// seconds whether the case may still serve it (the server opens nothing to answer). Once it may not
// (the report closed, the case expired, the recording deleted, the household withdrew consent or
// asked to delete the clip) or the officer is signed out, stop the player, drop its audio and empty
// the redacted texts, and say why. The shared pieces are in clip.js.
"use strict";
(function () {
  const box = document.getElementById("case");
  if (!box) return;
  const Clip = window.OverheardClip;
  const audio = document.getElementById("case-audio"), status = document.getElementById("case-status");
  const WHY = {
    consent_withdrawn: "The household withdrew consent to review.",
    excluded: "The household asked to delete this clip.",
  };
  const ENDED = "This case has ended (it expired, the report was closed or the recording deleted).";
  const live = () => box.dataset.state !== "withdrawn";
  const say = (text) => { status.textContent = text; };

  function drop(told) {
    stop();
    box.dataset.state = "withdrawn";
    box.dataset.why = told.signedOut ? "signed_out" : told.code || "ended";
    audio.pause();
    const src = audio.src;
    audio.removeAttribute("src");
    audio.load();
    if (src.startsWith("blob:")) URL.revokeObjectURL(src);
    audio.controls = false;
    box.querySelectorAll("[data-clip-text]").forEach((el) => { el.textContent = ""; });
    if (told.signedOut) Clip.sayOut(status);
    else say((WHY[told.code] || ENDED) + " The clip and its text have been removed from this page.");
  }

  async function load() {
    try {
      const reply = await Clip.fetchAudio(box.dataset.audioUrl, { say, live });
      if (reply === null || !live()) return;
      if (Clip.signedOut(reply)) { drop({ signedOut: true }); return; }
      if (!reply.ok) throw new Error(String(reply.status));
      const bytes = await reply.arrayBuffer();
      if (!live()) return;
      audio.src = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
      box.dataset.audio = "ready";
      say("");
    } catch (err) {
      if (!live()) return;
      box.dataset.audio = "failed";
      say("The clip could not be loaded (" + err.message + "). Reload the page to try again.");
    }
  }

  const stop = Clip.watch(box.dataset.stateUrl, Number(box.dataset.checkS), (told) => { if (live()) drop(told); });
  load();
})();
