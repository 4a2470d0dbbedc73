// barenet playground: draw -> the 28 x 28 input -> the forward pass, all in this page.
// The preprocessing is a step-by-step port of barenet.data.images.mnist_style (see
// docs/export.md, where the two stand side by side); the forward pass is barenet.MLP.forward.
"use strict";
(function () {
  const SIZE = 28, BOX = 20, CENTRE = SIZE / 2, MIN_CONTRAST = 32.0, INK_THRESHOLD = 0.2;
  const LEAKY_SLOPE = 0.01, TOP_UNITS = 8;
  const DATA = JSON.parse(document.getElementById("barenet-model").textContent);

  // ------------------------------------------------------------------ decoding
  function bytes(b64) {
    const bin = atob(b64), out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const f32 = (b64) => new Float32Array(bytes(b64).buffer);
  const LAYERS = DATA.layers.map((l) => ({ n_in: l.n_in, n_out: l.n_out, activation: l.activation,
                                           W: f32(l.W), b: f32(l.b) }));
  const NORM = DATA.normalizer;
  const MEAN = NORM.mean ? f32(NORM.mean) : null, INV_STD = NORM.inv_std ? f32(NORM.inv_std) : null;
  const SAMPLES = DATA.samples.map((s) => ({ label: s.label, pixels: bytes(s.pixels) }));

  // ------------------------------------------------------------------ preprocessing
  // Python's round(): halves go to the even neighbour.
  function roundHalfEven(x) {
    const r = Math.round(x);
    return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
  }
  function median(values) {  // numpy.median: the mean of the two middle values for even n
    const a = Float64Array.from(values).sort(), n = a.length;
    return n % 2 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
  }
  function border(g, h, w) {  // g[0], g[-1], g[:, 0], g[:, -1]
    const out = [];
    for (let j = 0; j < w; j++) out.push(g[j]);
    for (let j = 0; j < w; j++) out.push(g[(h - 1) * w + j]);
    for (let i = 0; i < h; i++) out.push(g[i * w]);
    for (let i = 0; i < h; i++) out.push(g[i * w + w - 1]);
    return out;
  }

  // Pillow's precompute_coeffs (Resample.c) for the bilinear (triangle) filter, support 1,
  // widened by the scale when shrinking; weights normalized to sum 1.
  function coefficients(inSize, outSize) {
    const scale = inSize / outSize, filterscale = Math.max(scale, 1.0), support = filterscale;
    const ksize = Math.ceil(support) * 2 + 1, bounds = [], kk = new Float64Array(outSize * ksize);
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
      let xmin = Math.trunc(center - support + 0.5); if (xmin < 0) xmin = 0;
      let xmax = Math.trunc(center + support + 0.5); if (xmax > inSize) xmax = inSize;
      xmax -= xmin;
      let ww = 0.0;
      for (let x = 0; x < xmax; x++) {
        const t = Math.abs((x + xmin - center + 0.5) * ss), wt = t < 1.0 ? 1.0 - t : 0.0;
        kk[xx * ksize + x] = wt; ww += wt;
      }
      for (let x = 0; x < xmax; x++) if (ww !== 0.0) kk[xx * ksize + x] /= ww;
      bounds.push([xmin, xmax]);
    }
    return { ksize, bounds, kk };
  }
  // Image.fromarray(float32).resize((nw, nh), BILINEAR): a horizontal pass, then a vertical
  // one, each pixel a float64 sum stored as float32 (Pillow's "F" mode).
  function resizeBilinear(src, h, w, nh, nw) {
    let img = Float32Array.from(src), offset = 0;
    const cv = coefficients(h, nh);
    if (nw !== w) {
      const ch = coefficients(w, nw);
      const first = cv.bounds[0][0], last = cv.bounds[nh - 1][0] + cv.bounds[nh - 1][1];
      const out = new Float32Array((last - first) * nw);
      for (let y = first; y < last; y++) {
        for (let xx = 0; xx < nw; xx++) {
          const [xmin, xmax] = ch.bounds[xx]; let ss = 0.0;
          for (let x = 0; x < xmax; x++) ss += img[y * w + x + xmin] * ch.kk[xx * ch.ksize + x];
          out[(y - first) * nw + xx] = ss;
        }
      }
      img = out; offset = first;
    }
    if (nh === h) return img;  // Pillow skips the vertical pass
    const out = new Float32Array(nh * nw);
    for (let yy = 0; yy < nh; yy++) {
      const [ymin, ymax] = cv.bounds[yy];
      for (let xx = 0; xx < nw; xx++) {
        let ss = 0.0;
        for (let y = 0; y < ymax; y++) ss += img[(y + ymin - offset) * nw + xx] * cv.kk[yy * cv.ksize + y];
        out[yy * nw + xx] = ss;
      }
    }
    return out;
  }
  // barenet.data.images.mnist_style: grayscale (h, w) 0..255 -> uint8 (28, 28), or null
  // when there is no ink (barenet predict refuses such an image).
  function mnistStyle(gray, h, w) {
    let g = Float64Array.from(gray), edge = border(g, h, w);
    const light = median(edge) > 127;                                     // 1. invert if light
    if (light) { g = g.map((v) => 255.0 - v); edge = edge.map((v) => 255.0 - v); }
    const background = median(edge);                                      // 2. background, contrast
    const ink = g.map((v) => Math.max(v - background, 0.0));
    let contrast = 0; for (const v of ink) if (v > contrast) contrast = v;
    if (contrast < MIN_CONTRAST) return null;
    if (h === SIZE && w === SIZE && !light) return toUint8(g);
    const k = 255.0 / contrast; for (let i = 0; i < ink.length; i++) ink[i] *= k;
    const threshold = INK_THRESHOLD * 255.0;                               // 3. bounding box
    let r0 = h, r1 = -1, c0 = w, c1 = -1;
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) if (ink[i * w + j] > threshold) {
      if (i < r0) r0 = i; if (i > r1) r1 = i; if (j < c0) c0 = j; if (j > c1) c1 = j;
    }
    const ch = r1 - r0 + 1, cw = c1 - c0 + 1, crop = new Float64Array(ch * cw);
    for (let i = 0; i < ch; i++) for (let j = 0; j < cw; j++) crop[i * cw + j] = ink[(r0 + i) * w + c0 + j];
    const scale = BOX / Math.max(ch, cw);                                   // 4. fit 20 x 20
    const nh = Math.max(1, roundHalfEven(ch * scale)), nw = Math.max(1, roundHalfEven(cw * scale));
    let patch = crop;
    if (nh !== ch || nw !== cw) {
      patch = Float64Array.from(resizeBilinear(crop, ch, cw, nh, nw), (v) => Math.min(Math.max(v, 0.0), 255.0));
    }
    let total = 0, sr = 0, sc = 0;                                          // 5. centre of mass
    for (let i = 0; i < nh; i++) for (let j = 0; j < nw; j++) {
      const v = patch[i * nw + j]; total += v; sr += i * v; sc += j * v;
    }
    const cy = total > 0 ? sr / total : (nh - 1) / 2, cx = total > 0 ? sc / total : (nw - 1) / 2;
    const top = Math.min(Math.max(Math.floor(CENTRE - cy + 0.5), 0), SIZE - nh);
    const left = Math.min(Math.max(Math.floor(CENTRE - cx + 0.5), 0), SIZE - nw);
    const canvas = new Float64Array(SIZE * SIZE);
    for (let i = 0; i < nh; i++) for (let j = 0; j < nw; j++) canvas[(top + i) * SIZE + left + j] = patch[i * nw + j];
    return toUint8(canvas);
  }
  function toUint8(g) {
    return Uint8Array.from(g, (v) => Math.min(Math.max(Math.floor(v + 0.5), 0), 255));
  }

  // ------------------------------------------------------------------ the network
  function normalize(pixels) {  // barenet.data.preprocess.Normalizer.transform
    const x = Float64Array.from(pixels);
    if (NORM.method === "255") return x.map((v) => v / NORM.pixel_max);
    if (NORM.method === "max") {
      let peak = 0; for (const v of x) if (v > peak) peak = v;
      return peak > 0 ? x.map((v) => v / peak) : x;
    }
    if (NORM.method === "standardize") return x.map((v, i) => (v - MEAN[i]) * INV_STD[i]);
    return x;
  }
  const ACTIVATIONS = {
    relu: (z) => z.map((v) => Math.max(v, 0)),
    leaky_relu: (z) => z.map((v) => (v > 0 ? v : LEAKY_SLOPE * v)),
    sigmoid: (z) => z.map((v) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)))),
    tanh: (z) => z.map(Math.tanh),
    identity: (z) => z,
    softmax: (z) => {
      let top = -Infinity; for (const v of z) if (v > top) top = v;
      const e = z.map((v) => Math.exp(v - top)); let s = 0; for (const v of e) s += v;
      return e.map((v) => v / s);
    },
  };
  // y = act(x @ W + b) for every Dense layer; returns every layer's output.
  function forward(pixels) {
    let x = normalize(pixels);
    const outputs = [];
    for (const layer of LAYERS) {
      const z = Float64Array.from(layer.b), n = layer.n_out;
      for (let i = 0; i < layer.n_in; i++) {
        const xi = x[i]; if (xi === 0) continue;
        const row = i * n; for (let j = 0; j < n; j++) z[j] += xi * layer.W[row + j];
      }
      x = ACTIVATIONS[layer.activation](z);
      outputs.push(x);
    }
    const out = outputs[outputs.length - 1];
    const probabilities = DATA.one_unit ? [1 - out[0], out[0]] : Array.from(out);
    return { probabilities, hidden: outputs.slice(0, -1) };
  }

  // ------------------------------------------------------------------ drawing
  const pad = document.getElementById("pad"), padCtx = pad.getContext("2d", { willReadFrequently: true });
  const inputCanvas = document.getElementById("input"), inputCtx = inputCanvas.getContext("2d");
  const statusLine = document.getElementById("status");
  function clearPad() {
    padCtx.fillStyle = "#000"; padCtx.fillRect(0, 0, pad.width, pad.height);
  }
  let last = null, pending = false;
  function point(ev) {
    const r = pad.getBoundingClientRect();
    return [(ev.clientX - r.left) * pad.width / r.width, (ev.clientY - r.top) * pad.height / r.height];
  }
  function stroke(a, b) {
    padCtx.strokeStyle = "#fff"; padCtx.lineWidth = pad.width / 14; padCtx.lineCap = "round";
    padCtx.lineJoin = "round"; padCtx.beginPath(); padCtx.moveTo(a[0], a[1]); padCtx.lineTo(b[0], b[1]);
    padCtx.stroke();
  }
  pad.addEventListener("pointerdown", (ev) => {
    ev.preventDefault(); pad.setPointerCapture(ev.pointerId); last = point(ev); stroke(last, last); schedule();
  });
  pad.addEventListener("pointermove", (ev) => {
    if (!last) return; const p = point(ev); stroke(last, p); last = p; schedule();
  });
  const stop = () => { last = null; };
  pad.addEventListener("pointerup", stop); pad.addEventListener("pointercancel", stop);
  function schedule() {
    if (pending) return; pending = true;
    requestAnimationFrame(() => { pending = false; fromPad(); });
  }
  function padGray() {  // the pad's pixels as Pillow's "L" (R = G = B here, so L = R)
    const rgba = padCtx.getImageData(0, 0, pad.width, pad.height).data, n = pad.width * pad.height;
    const g = new Float64Array(n);
    for (let i = 0; i < n; i++) g[i] = (rgba[4 * i] * 19595 + rgba[4 * i + 1] * 38470 + rgba[4 * i + 2] * 7471 + 0x8000) >> 16;
    return g;
  }
  function fromPad() {
    const input = mnistStyle(padGray(), pad.height, pad.width);
    show(input, input ? "drawn" : "blank");
  }
  function loadSample(k) {
    const s = SAMPLES[k];
    const img = inputCtx.createImageData(SIZE, SIZE);
    for (let i = 0; i < SIZE * SIZE; i++) { const v = s.pixels[i]; img.data.set([v, v, v, 255], 4 * i); }
    inputCtx.putImageData(img, 0, 0);
    clearPad(); padCtx.imageSmoothingEnabled = true;
    padCtx.drawImage(inputCanvas, 0, 0, pad.width, pad.height);
    show(s.pixels, `sample ${k + 1} (true label ${s.label})`);
  }

  // ------------------------------------------------------------------ showing
  const state = { input: null, probabilities: null, hidden: null, source: "blank" };
  window.barenetPlayground = state;
  // For tests and the curious: the preprocessing on any grayscale image, as a plain array.
  state.mnistStyle = (gray, h, w) => { const r = mnistStyle(gray, h, w); return r ? Array.from(r) : null; };
  function diverging(v) {  // -1..1 -> blue .. black .. orange
    const t = Math.min(Math.abs(v), 1);
    return v >= 0 ? [Math.round(232 * t), Math.round(113 * t), Math.round(10 * t)]
                  : [Math.round(40 * t), Math.round(110 * t), Math.round(220 * t)];
  }
  function paint(canvas, values, scale) {
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(canvas.width, canvas.height);
    for (let i = 0; i < values.length; i++) img.data.set([...diverging(values[i] / scale), 255], 4 * i);
    ctx.putImageData(img, 0, 0);
  }
  function maxAbs(a) { let m = 0; for (const v of a) m = Math.max(m, Math.abs(v)); return m || 1; }
  function show(input, source) {
    state.source = source;
    statusLine.textContent = input ? `Input: ${source}.` : "No ink yet: draw a digit.";
    state.input = input ? Array.from(input) : null;
    const img = inputCtx.createImageData(SIZE, SIZE);
    for (let i = 0; i < SIZE * SIZE; i++) { const v = input ? input[i] : 0; img.data.set([v, v, v, 255], 4 * i); }
    inputCtx.putImageData(img, 0, 0);
    const result = input ? forward(input) : null;
    state.probabilities = result ? result.probabilities : null;
    state.hidden = result ? result.hidden.map((h) => Array.from(h)) : null;
    showProbabilities(state.probabilities);
    showLayers(result ? result.hidden : null);
    showWeights(result ? result.hidden[0] : null);
  }
  const probRows = DATA.classes.map((name) => {
    const row = document.createElement("div"); row.className = "prob-row";
    row.innerHTML = '<span class="prob-name"></span><span class="prob-bar"><span class="prob-fill"></span></span>' +
                    '<span class="prob"></span>';
    row.querySelector(".prob-name").textContent = name;
    const value = row.querySelector(".prob"); value.dataset.class = name;
    document.getElementById("probabilities").appendChild(row);
    return { row, fill: row.querySelector(".prob-fill"), value };
  });
  function showProbabilities(p) {
    let best = -1; if (p) best = p.indexOf(Math.max(...p));
    probRows.forEach((r, k) => {
      const v = p ? p[k] : 0;
      r.fill.style.width = `${(100 * v).toFixed(2)}%`;
      r.value.textContent = p ? v.toFixed(4) : "–";
      r.value.dataset.value = p ? String(v) : "";
      r.row.classList.toggle("best", k === best);
    });
    document.getElementById("prediction").textContent = p ? DATA.classes[best] : "–";
  }
  const layerViews = LAYERS.slice(0, -1).map((layer, k) => {
    const box = document.createElement("div"); box.className = "layer";
    const perRow = Math.min(layer.n_out, 64), rows = Math.ceil(layer.n_out / perRow), cell = 14;
    box.innerHTML = `<div class="layer-name">layer ${k + 1}: ${layer.n_out} units, ${layer.activation}</div>`;
    const c = document.createElement("canvas"); c.width = perRow; c.height = rows;
    c.style.width = `${perRow * cell}px`; c.style.height = `${rows * cell}px`;
    box.appendChild(c); document.getElementById("layers").appendChild(box);
    return { canvas: c, n: layer.n_out, cells: perRow * rows };
  });
  function showLayers(hidden) {
    layerViews.forEach((view, k) => {
      const values = new Float64Array(view.cells);
      if (hidden) values.set(hidden[k]);
      paint(view.canvas, values, hidden ? maxAbs(hidden[k]) : 1);
    });
  }
  const weightsBox = document.getElementById("weights");
  function showWeights(first) {
    weightsBox.textContent = "";
    if (!first || LAYERS.length < 2) return;
    const layer = LAYERS[0], n = layer.n_out;
    const order = Array.from(first.keys()).sort((a, b) => first[b] - first[a]).slice(0, TOP_UNITS);
    for (const j of order) {
      const column = new Float64Array(layer.n_in);
      for (let i = 0; i < layer.n_in; i++) column[i] = layer.W[i * n + j];
      const unit = document.createElement("div"); unit.className = "unit";
      const c = document.createElement("canvas"); c.width = SIZE; c.height = SIZE;
      paint(c, column, maxAbs(column));
      unit.appendChild(c);
      unit.appendChild(document.createTextNode(`unit ${j + 1}: ${first[j].toFixed(2)}`));
      weightsBox.appendChild(unit);
    }
  }

  // ------------------------------------------------------------------ controls
  document.getElementById("title").textContent =
    `${DATA.title}: ${LAYERS.map((l) => l.n_in).concat(LAYERS[LAYERS.length - 1].n_out).join(" → ")} units, ` +
    `classes ${DATA.classes.join(", ")}`;
  document.getElementById("clear").addEventListener("click", () => { clearPad(); show(null, "blank"); });
  const sampleBox = document.getElementById("samples");
  SAMPLES.forEach((s, k) => {
    const b = document.createElement("button"); b.type = "button"; b.className = "sample";
    b.textContent = s.label; b.title = `test image ${k + 1}`; b.dataset.index = k;
    b.addEventListener("click", () => loadSample(k));
    sampleBox.appendChild(b);
  });
  clearPad();
  if (SAMPLES.length) loadSample(0); else show(null, "blank");
})();
