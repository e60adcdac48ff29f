// Overheard workbench: a spectrogram of the clip, computed here from its PCM samples with a small
// radix-2 FFT (no library, nothing fetched). review.js draws it under the waveform when asked.
"use strict";
window.OverheardSpectrogram = (function () {
  const FRAME = 512, HOP = 128, RANGE_DB = 70;
  const BACKGROUND = [246, 246, 249];
  // Quiet → loud: the page's paper, its accent blue, then near-black ink.
  const STOPS = [[0, BACKGROUND], [0.55, [11, 87, 208]], [1, [27, 27, 31]]];

  const COS = Float64Array.from({ length: FRAME / 2 }, (_, k) => Math.cos((-2 * Math.PI * k) / FRAME));
  const SIN = Float64Array.from({ length: FRAME / 2 }, (_, k) => Math.sin((-2 * Math.PI * k) / FRAME));

  function fft(re, im) {
    // In place, iterative Cooley–Tukey over FRAME points, twiddles from the tables above.
    const n = FRAME;
    for (let i = 1, j = 0; i < n; i++) {
      let bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j ^= bit;
      if (i < j) { [re[i], re[j]] = [re[j], re[i]]; [im[i], im[j]] = [im[j], im[i]]; }
    }
    for (let size = 2; size <= n; size <<= 1) {
      const stride = n / size, half = size >> 1;
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const c = COS[k * stride], s = SIN[k * stride], a = start + k, b = a + half;
          const tr = re[b] * c - im[b] * s, ti = re[b] * s + im[b] * c;
          re[b] = re[a] - tr; im[b] = im[a] - ti; re[a] += tr; im[a] += ti;
        }
      }
    }
  }

  // Levels (0–255, the loudest RANGE_DB decibels of the clip) per frame × frequency bin.
  function compute(samples, rateHz) {
    const bins = FRAME / 2, frames = Math.max(1, Math.floor((samples.length - FRAME) / HOP) + 1);
    const hann = Float64Array.from({ length: FRAME }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (FRAME - 1)));
    const db = new Float32Array(frames * bins), re = new Float64Array(FRAME), im = new Float64Array(FRAME);
    let loudest = -Infinity;
    for (let f = 0; f < frames; f++) {
      for (let i = 0; i < FRAME; i++) { re[i] = ((samples[f * HOP + i] || 0) / 32768) * hann[i]; im[i] = 0; }
      fft(re, im);
      for (let b = 0; b < bins; b++) {
        const level = 10 * Math.log10(re[b] * re[b] + im[b] * im[b] + 1e-12);
        db[f * bins + b] = level;
        if (level > loudest) loudest = level;
      }
    }
    const levels = new Uint8Array(frames * bins);
    for (let i = 0; i < levels.length; i++) levels[i] = Math.round(255 * Math.min(1, Math.max(0, (db[i] - loudest + RANGE_DB) / RANGE_DB)));
    return { levels, frames, bins, hopS: HOP / rateHz, frameS: FRAME / rateHz, seconds: samples.length / rateHz, topHz: rateHz / 2 };
  }

  const PALETTE = (function () {
    const out = new Uint8ClampedArray(256 * 3);
    for (let v = 0; v < 256; v++) {
      const x = v / 255, hi = STOPS.findIndex(([at]) => at >= x), [a, ca] = STOPS[Math.max(0, hi - 1)], [b, cb] = STOPS[hi];
      const w = b > a ? (x - a) / (b - a) : 0;
      for (let c = 0; c < 3; c++) out[v * 3 + c] = ca[c] + (cb[c] - ca[c]) * w;
    }
    return out;
  })();

  // Paint the view: column x shows the frame around timeAt(x); low frequencies at the bottom.
  function paint(canvas, spec, timeAt, playheadX) {
    const g = canvas.getContext("2d"), w = canvas.width, h = canvas.height, image = g.createImageData(w, h);
    for (let x = 0; x < w; x++) {
      const t = timeAt(x + 0.5), f = Math.floor((t - spec.frameS / 2) / spec.hopS + 0.5);
      if (t < 0 || t > spec.seconds) continue;
      const frame = Math.min(spec.frames - 1, Math.max(0, f)) * spec.bins;
      for (let y = 0; y < h; y++) {
        const v = spec.levels[frame + Math.min(spec.bins - 1, Math.floor(((h - 1 - y) / h) * spec.bins))], at = (y * w + x) * 4;
        image.data[at] = PALETTE[v * 3]; image.data[at + 1] = PALETTE[v * 3 + 1]; image.data[at + 2] = PALETTE[v * 3 + 2]; image.data[at + 3] = 255;
      }
    }
    g.putImageData(image, 0, 0);
    g.fillStyle = "#b3261e";
    g.fillRect(Math.round(playheadX), 0, 2, h);
  }

  function clear(canvas) { canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height); }

  return { compute, paint, clear, BACKGROUND };
})();
