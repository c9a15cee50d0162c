// The documented worker-thread example (examples/worker-render): progress
// messages arrive while the main thread stays free, and abort stops the render.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportedModel, repoRoot } from './utils/fixtures';

interface Message {
  type: 'progress' | 'done' | 'error';
  stage?: string;
  step?: number;
  total?: number;
  frames?: Uint8Array;
  shape?: number[];
  name?: string;
}

let model: string;
beforeAll(async () => {
  model = await exportedModel('tiny-v2', 0);
});

function startRender(options: object, onMessage?: (m: Message, w: Worker) => void): Promise<Message[]> {
  const worker = new Worker(path.join(repoRoot, 'examples', 'worker-render', 'render-worker.js'));
  const messages: Message[] = [];
  return new Promise((resolve, reject) => {
    worker.on('message', (m: Message) => {
      messages.push(m);
      onMessage?.(m, worker);
      if (m.type === 'done' || m.type === 'error') void worker.terminate().then(() => resolve(messages));
    });
    worker.on('error', reject);
    worker.postMessage({ type: 'render', model, options: { width: 64, height: 64, numFrames: 4, seed: 5, prompt: 'a red circle', ...options } });
  });
}

describe('render on a worker thread (examples/worker-render)', () => {
  it('posts progress for every step, then the frames, while the main thread keeps running', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const messages = await startRender({ numInferenceSteps: 3 });
    clearInterval(timer);
    const denoise = messages.filter((m) => m.type === 'progress' && m.stage === 'denoise');
    expect(denoise.map((m) => m.step)).toEqual([1, 2, 3]);
    const done = messages.at(-1)!;
    expect(done.type).toBe('done');
    expect(done.shape).toEqual([4, 64, 64, 3]);
    expect(done.frames!.length).toBe(4 * 64 * 64 * 3);
    expect(ticks).toBeGreaterThan(5);
  });

  it('aborts between steps when asked and reports an AbortError', async () => {
    const messages = await startRender({ numInferenceSteps: 50 }, (m, w) => {
      if (m.type === 'progress' && m.step === 1) w.postMessage({ type: 'abort' });
    });
    const last = messages.at(-1)!;
    expect(last.type).toBe('error');
    expect(last.name).toBe('AbortError');
    expect(messages.filter((m) => m.type === 'progress').length).toBeLessThan(50);
  });
});
