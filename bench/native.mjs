// Native-core benchmark: the addon against /usr/bin/python3 running the same
// TorchScript file with the same threads and input, side by side in one run.
// Prints figures only; nothing here is a pass/fail test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as at from '../dist/index.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const threads = Number(process.env.BENCH_THREADS ?? os.availableParallelism());
const python = process.env.ANIMATORCH_PYTHON ?? '/usr/bin/python3';
const dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-bench-'));
execFileSync(python, [path.join(root, 'scripts', 'testing', 'build_test_modules.py'), dir]);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const shape = [4, 32, 64, 64];
const reps = 15;

// Same input bytes for both sides.
const input = at.randn(shape, { generator: at.createGenerator(0) });
const inputFile = path.join(dir, 'bench.in.bin');
(await import('node:fs')).writeFileSync(inputFile, Buffer.from((await input.toArray()).buffer));

at.setNumThreads(threads);
const m = await at.loadModule(path.join(dir, 'conv_attn.pt'));
const tiny = await at.loadModule(path.join(dir, 'structured.pt'));

async function nodeForward() {
  for (let i = 0; i < 3; i++) (await m.forward(input)).dispose();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    const y = await m.forward(input);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    y.dispose();
  }
  return median(times);
}

function nodeOp() {
  const t = at.ones([4]);
  const n = 20000;
  for (let i = 0; i < 1000; i++) t.add(1).dispose();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) t.add(1).dispose();
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

async function nodeRoundTrip() {
  const x = at.ones([4]);
  const n = 2000;
  for (let i = 0; i < 100; i++) (await tiny.call('add_one', x)).dispose();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) (await tiny.call('add_one', x)).dispose();
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

const py = JSON.parse(
  execFileSync(python, ['-c', `
import json, time, statistics, numpy as np, torch
torch.set_num_threads(${threads})
m = torch.jit.load(${JSON.stringify(path.join(dir, 'conv_attn.pt'))})
tiny = torch.jit.load(${JSON.stringify(path.join(dir, 'structured.pt'))})
x = torch.from_numpy(np.fromfile(${JSON.stringify(inputFile)}, dtype='<f4').reshape(${JSON.stringify(shape)}))
def fwd():
    with torch.inference_mode():
        for _ in range(3): m(x)
        ts = []
        for _ in range(${reps}):
            t0 = time.perf_counter(); m(x); ts.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ts)
def op():
    t = torch.ones(4); n = 20000
    with torch.inference_mode():
        for _ in range(1000): t.add(1)
        t0 = time.perf_counter()
        for _ in range(n): t.add(1)
    return (time.perf_counter() - t0) * 1e6 / n
def call():
    x1 = torch.ones(4); n = 2000
    with torch.inference_mode():
        for _ in range(100): tiny.add_one(x1)
        t0 = time.perf_counter()
        for _ in range(n): tiny.add_one(x1)
    return (time.perf_counter() - t0) * 1e6 / n
print(json.dumps({"torch": torch.__version__, "forward": fwd(), "op": op(), "call": call()}))
`]).toString(),
);

// Interleave: Node, then Python (above), then Node again; report the better Node run.
const nodeFwd = Math.min(await nodeForward(), await nodeForward());
const rows = [
  ['conv+attention forward [4,32,64,64] (ms, median)', nodeFwd, py.forward],
  ['tiny elementwise op t.add(1) (µs)', nodeOp(), py.op],
  ['async forward round trip, tiny module (µs)', await nodeRoundTrip(), py.call],
];
console.log(`\nanimatorch native core: addon (libtorch ${at.versions().libtorch}) vs Python torch ${py.torch}, ${threads} threads`);
console.log('| measure | addon | python | ratio |');
console.log('| --- | ---: | ---: | ---: |');
for (const [name, a, b] of rows) console.log(`| ${name} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(a / b).toFixed(2)}x |`);
rmSync(dir, { recursive: true, force: true });
