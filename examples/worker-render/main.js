// Runs render-worker.js and writes its video: node examples/worker-render/main.js "a red circle moving right" out.gif
// Progress is printed as it arrives; Ctrl-C aborts the render between steps.
'use strict';
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { writeVideo } = require('animatorch');

const [prompt = 'a red circle moving right', out = 'worker-render.gif', model = path.join(__dirname, '..', '..', 'models', 'demo')] = process.argv.slice(2);
const worker = new Worker(path.join(__dirname, 'render-worker.js'));
process.once('SIGINT', () => worker.postMessage({ type: 'abort' }));

worker.on('message', async (msg) => {
  if (msg.type === 'progress') console.log(`${msg.stage} ${msg.step}/${msg.total} (ETA ${(msg.etaMs / 1000).toFixed(1)} s)`);
  if (msg.type === 'error') {
    console.error(`${msg.name}: ${msg.message}`);
    process.exitCode = 1;
    await worker.terminate();
  }
  if (msg.type === 'done') {
    await writeVideo(msg.frames, msg.shape, msg.fps, out);
    console.log(`wrote ${out} (seed ${msg.seed})`);
    await worker.terminate();
  }
});
worker.postMessage({ type: 'render', model, options: { prompt, seed: 42 } });
