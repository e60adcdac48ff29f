// Overheard privacy case page: while it is open, ask every few seconds whether the case may still
// serve its clip (the server opens nothing to answer). Once it may not (the report closed, the case
// expired, the recording deleted, the household withdrew consent or asked to delete the clip), stop
// the player, drop its audio and empty the redacted texts, and say why.
"use strict";
(function () {
  const box = document.getElementById("case");
  if (!box) return;
  const audio = document.getElementById("case-audio"), status = document.getElementById("case-status");
  const WHY = {
    consent_withdrawn: "The household withdrew consent to review.",
    excluded: "The household asked to delete this clip.",
  };
  const ENDED = "This case has ended (it expired, the report was closed or the recording deleted).";
  let checking = null;

  function drop(code) {
    clearInterval(checking);
    box.dataset.state = "withdrawn";
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
    audio.controls = false;
    box.querySelectorAll("[data-clip-text]").forEach((el) => { el.textContent = ""; });
    status.textContent = (WHY[code] || ENDED) + " The clip and its text have been removed from this page.";
  }

  async function check() {
    const reply = await fetch(box.dataset.stateUrl, {
      credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
    }).catch(() => null);
    if (!reply || ![404, 409, 410].includes(reply.status) || box.dataset.state === "withdrawn") return;
    const told = await reply.json().catch(() => ({}));
    drop(told.code || (told.error && told.error.code));
  }

  checking = setInterval(check, Number(box.dataset.checkS) * 1000);
})();
