// What the staff pages that show a clip share (the workbench and the lead's adjudication through
// review.js, the privacy officer's case through case.js): reading a refusal, watching a state route,
// fetching the clip with a bounded wait on 429/503, and the signed-out notice. Pages load it first.
"use strict";
window.OverheardClip = (function () {
  const RETRY_MAX_WAIT_S = 60, RETRY_GIVE_UP_S = 120;
  const SIGNED_OUT = "You are signed out (your session ended, or this account may no longer see this page). " +
    "The clip and its text have been removed from this page.";
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  // The session is gone or no longer entitled: 401/403, or a fetch sent on to the sign-in page.
  function signedOut(reply) {
    if (reply.status === 401 || reply.status === 403) return true;
    return reply.redirected && new URL(reply.url).pathname.startsWith("/login");
  }

  // Asks url every everyS seconds (the server opens nothing to answer). Once the answer is a
  // refusal, stops and tells onEnd {signedOut: true} or {code} (404/409/410, with the error's code).
  function watch(url, everyS, onEnd) {
    let timer = null;
    const stop = () => clearInterval(timer);
    async function ask() {
      const reply = await fetch(url, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      }).catch(() => null);
      if (!reply || timer === null) return;
      if (signedOut(reply)) { stop(); timer = null; onEnd({ signedOut: true }); return; }
      if (![404, 409, 410].includes(reply.status)) return;
      stop(); timer = null;
      const told = await reply.json().catch(() => ({}));
      onEnd({ code: told.code || (told.error && told.error.code) });
    }
    timer = setInterval(ask, everyS * 1000);
    return () => { stop(); timer = null; };
  }

  // The clip at url; a 429 (the serving limit) or 503 (audio being prepared, a service away) is
  // waited out as Retry-After says (1 to RETRY_MAX_WAIT_S s), counted down through say(), until
  // the waits add up to RETRY_GIVE_UP_S (then the refusal is returned). renew, when given, is
  // called instead of asking url again (a page whose audio link is short-lived reloads for a fresh
  // one). Null once live() turns false (the page dropped its clip while waiting).
  async function fetchAudio(url, { say, live, renew }) {
    for (let waited = 0; ; ) {
      const reply = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if ((reply.status !== 429 && reply.status !== 503) || waited >= RETRY_GIVE_UP_S) return reply;
      const asked = Number(reply.headers.get("Retry-After")) || 5;
      const why = reply.status === 503 ? "the audio is being prepared" : "the serving limit";
      const seconds = Math.min(RETRY_MAX_WAIT_S, Math.max(1, Math.ceil(asked)));
      waited += seconds;
      for (let wait = seconds; wait > 0; wait--) {
        if (!live()) return null;
        say("The clip will load by itself in " + wait + " s (" + why + ").");
        await sleep(1000);
      }
      if (!live()) return null;
      if (renew) { renew(); return new Promise(() => {}); }
    }
  }

  // The signed-out notice in place of status's text, with a link back in to this page.
  function sayOut(status) {
    const link = document.createElement("a");
    link.href = "/login?next=" + encodeURIComponent(location.pathname);
    link.textContent = "Sign in again";
    status.replaceChildren(SIGNED_OUT + " ", link, ".");
  }

  return { signedOut, watch, fetchAudio, sayOut, SIGNED_OUT };
})();
