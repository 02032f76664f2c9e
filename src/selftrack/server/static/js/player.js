// The video player of the item page: HTML5 <video> with frame-accurate seeking and stepping (the frame number
// always shown), and a canvas overlay of detections/tracks drawn in sync with the frame on screen.
//
// Frame numbers: frame i of a video is presented at i / fps. The frame on screen comes from
// requestVideoFrameCallback (its mediaTime), so the overlay follows what is displayed, not the clock; a seek to
// frame i asks for the middle of that frame's interval. Boxes come from the API a window of frames at a
// time (never the whole file), with the next window fetched ahead while playing. Track colours come from the
// server: the same colour per track id as `selftrack render` draws.
import { get } from "./api.js";
import { h, icon } from "./dom.js";

const WINDOW = 300;

export class OverlaySource {
  constructor(dataset, key) {
    this.dataset = dataset;
    this.key = key;
    this.windows = new Map(); // start -> Promise<{frames, colors, canvas}>
    this.meta = null;
  }
  window(start) {
    if (!this.windows.has(start)) {
      const p = get(`/datasets/${encodeURIComponent(this.dataset)}/items/${encodeURIComponent(this.key)}/boxes?start=${start}&count=${WINDOW}`)
        .then((d) => { this.meta = this.meta || d; return d; })
        .catch((e) => { this.windows.delete(start); throw e; });
      this.windows.set(start, p);
      if (this.windows.size > 12) this.windows.delete(this.windows.keys().next().value);
    }
    return this.windows.get(start);
  }
  async frame(f) {
    const start = Math.floor(f / WINDOW) * WINDOW;
    const w = await this.window(start);
    if (f - start > WINDOW * 0.6) this.window(start + WINDOW).catch(() => {});
    return { boxes: w.frames[String(f)] || [], colors: w.colors, canvas: w.canvas, untracked: w.untracked_color };
  }
}

function textColor(hex) {
  const n = parseInt(hex.slice(1), 16);
  const r = (n >> 16) & 255, g = (n >> 8) & 255, b = n & 255;
  return 0.299 * r + 0.587 * g + 0.114 * b > 140 ? "#000" : "#fff";
}

// Draw the boxes of `layers` ([{boxes, colors, canvas, untracked}]) over an element of displayed size w x h.
export function drawBoxes(canvas, w, h2, layers, { ids = true, scores = false } = {}) {
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h2 * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h2 * dpr);
  }
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h2}px`;
  const g = canvas.getContext("2d");
  g.setTransform(1, 0, 0, 1, 0, 0);
  g.clearRect(0, 0, canvas.width, canvas.height);
  const visible = [];
  for (const layer of layers) {
    if (!layer || !layer.canvas) continue;
    const sx = (w * dpr) / layer.canvas[0], sy = (h2 * dpr) / layer.canvas[1];
    g.lineWidth = 3 * dpr;
    g.font = `600 ${12 * dpr}px ui-monospace, Menlo, monospace`;
    for (const [x1, y1, x2, y2, tid, score] of layer.boxes) {
      const color = tid >= 0 ? layer.colors[String(tid)] : layer.untracked;
      g.strokeStyle = color;
      g.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
      if (tid >= 0) visible.push([tid, color]);
      const label = [ids && tid >= 0 ? String(tid) : null, scores ? score.toFixed(2) : null].filter(Boolean).join(" ");
      if (label) {
        const tw = g.measureText(label).width + 8 * dpr, th = 16 * dpr;
        const ly = Math.max(0, y1 * sy - th);
        g.fillStyle = color;
        g.fillRect(x1 * sx - 1.5 * dpr, ly, tw, th);
        g.fillStyle = textColor(color);
        g.fillText(label, x1 * sx + 3 * dpr, ly + 12 * dpr);
      }
    }
  }
  return visible;
}

export function createPlayer({ src, fps, frameCount, getLayers, getOpts, onFrame }) {
  const video = h("video", { src, preload: "auto", playsinline: true, muted: true, "data-testid": "video" });
  video.muted = true;
  const canvas = h("canvas", { "data-testid": "overlay" });
  const stage = h("div", { class: "stage" }, video, canvas);
  const playBtn = h("button", { class: "btn btn-icon", type: "button", title: "Play / pause (space)", "data-testid": "play" }, icon("play"));
  const prevBtn = h("button", { class: "btn btn-icon", type: "button", title: "Previous frame (←)", "data-testid": "prev-frame" }, icon("prev"));
  const nextBtn = h("button", { class: "btn btn-icon", type: "button", title: "Next frame (→)", "data-testid": "next-frame" }, icon("next"));
  const frameInput = h("input", { type: "number", min: 0, max: frameCount - 1, value: 0, "aria-label": "frame", "data-testid": "frame-input" });
  const slider = h("input", { type: "range", min: 0, max: Math.max(0, frameCount - 1), value: 0, step: 1, "aria-label": "seek", "data-testid": "seek" });
  const timeLabel = h("span", { class: "frame" }, "0:00.0");
  const speed = h("select", { "aria-label": "speed" }, ["0.25", "0.5", "1", "2", "4"].map((v) => h("option", { value: v, selected: v === "1" }, `${v}×`)));
  const controls = h("div", { class: "controls" }, playBtn, prevBtn, nextBtn,
    h("span", { class: "frame" }, "Frame "), frameInput, h("span", { class: "frame", "data-testid": "frame-total" }, `/ ${frameCount - 1}`),
    slider, timeLabel, speed);
  const el = h("div", { class: "player" }, stage, controls);
  let current = 0;
  let drawToken = 0;

  const fmt = (t) => `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, "0")}`;
  async function redraw(frame) {
    const token = ++drawToken;
    const w = video.clientWidth, hh = video.clientHeight;
    if (!w || !hh) return;
    canvas.style.left = `${video.offsetLeft}px`;
    canvas.style.top = `${video.offsetTop}px`;
    const layers = await Promise.all(getLayers().map((l) => l.source.frame(frame).catch(() => null)));
    if (token !== drawToken) return;
    const visible = drawBoxes(canvas, w, hh, layers, getOpts ? getOpts() : {});
    canvas.dataset.frame = String(frame);
    onFrame && onFrame(frame, visible);
  }
  function setFrame(frame) {
    current = frame;
    frameInput.value = String(frame);
    slider.value = String(frame);
    el.dataset.frame = String(frame);
    timeLabel.textContent = fmt(frame / fps);
    redraw(frame);
  }
  const frameOf = (t) => Math.min(frameCount - 1, Math.max(0, Math.round(t * fps + 1e-6)));
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const tick = (_now, meta) => { setFrame(frameOf(meta.mediaTime)); video.requestVideoFrameCallback(tick); };
    video.requestVideoFrameCallback(tick);
  } else {
    video.addEventListener("timeupdate", () => setFrame(frameOf(video.currentTime)));
    video.addEventListener("seeked", () => setFrame(frameOf(video.currentTime)));
  }
  function seek(frame) {
    frame = Math.min(frameCount - 1, Math.max(0, Math.round(frame)));
    if (video.readyState === 0) {  // no metadata yet: seek once it arrives
      video.addEventListener("loadedmetadata", () => seek(frame), { once: true });
      setFrame(frame);
      return;
    }
    video.currentTime = (frame + 0.5) / fps;
    setFrame(frame);
  }
  playBtn.addEventListener("click", () => (video.paused ? video.play() : video.pause()));
  video.addEventListener("play", () => playBtn.replaceChildren(icon("pause")));
  video.addEventListener("pause", () => playBtn.replaceChildren(icon("play")));
  prevBtn.addEventListener("click", () => { video.pause(); seek(current - 1); });
  nextBtn.addEventListener("click", () => { video.pause(); seek(current + 1); });
  frameInput.addEventListener("change", () => { video.pause(); seek(Number(frameInput.value)); });
  frameInput.addEventListener("keydown", (e) => { if (e.key === "Enter") { video.pause(); seek(Number(frameInput.value)); } });
  slider.addEventListener("input", () => { video.pause(); seek(Number(slider.value)); });
  speed.addEventListener("change", () => { video.playbackRate = Number(speed.value); });
  video.addEventListener("loadeddata", () => redraw(current));
  const onKey = (e) => {
    if (e.target.closest("input, textarea, select")) return;
    if (e.key === "ArrowRight") { e.preventDefault(); video.pause(); seek(current + 1); }
    if (e.key === "ArrowLeft") { e.preventDefault(); video.pause(); seek(current - 1); }
    if (e.key === " ") { e.preventDefault(); playBtn.click(); }
  };
  document.addEventListener("keydown", onKey);
  const ro = new ResizeObserver(() => redraw(current));
  ro.observe(video);
  return {
    el, video, seek, redraw: () => redraw(current), get frame() { return current; },
    destroy() { document.removeEventListener("keydown", onKey); ro.disconnect(); video.pause(); video.removeAttribute("src"); video.load(); },
  };
}
