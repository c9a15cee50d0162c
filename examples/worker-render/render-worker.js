// A render on a worker thread: the pattern an Electron app (or any UI) uses to
// keep its main thread responsive. The main thread sends
//   { type: 'render', model, device?, options }   and   { type: 'abort' }
// and receives
//   { type: 'progress', stage, step, total, elapsedMs, etaMs }
//   { type: 'done', frames (Uint8Array, transferred), shape, fps, seed }
//   { type: 'error', name, message }            (name 'AbortError' after an abort)
'use strict';
const { parentPort } = require('node:worker_threads');
const { loadPipeline } = require('animatorch');

let controller;

parentPort.on('message', async (msg) => {
  if (msg.type === 'abort') {
    controller?.abort();
    return;
  }
  if (msg.type !== 'render') return;
  controller = new AbortController();
  const { signal } = controller;
  try {
    const pipeline = await loadPipeline(msg.model, { device: msg.device ?? 'cpu', signal });
    try {
      const video = await pipeline.generate({
        ...msg.options,
        signal,
        onProgress: (e) => parentPort.postMessage({ type: 'progress', stage: e.stage, step: e.step, total: e.total, elapsedMs: e.elapsedMs, etaMs: e.etaMs }),
      });
      // Transfer the pixels instead of copying them.
      parentPort.postMessage({ type: 'done', frames: video.frames, shape: video.shape, fps: video.fps, seed: String(video.seed) }, [video.frames.buffer]);
    } finally {
      pipeline.dispose();
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', name: err.name, message: err.message });
  }
});
