// animatorch beside stable-diffusion.cpp (sd-cli) on CPU: the same AnimateDiff SD1.5 + motion module
// weights, the same work (Euler, CFG 7.5, seed 42), each run one process, runs alternated. Prints per
// step times, decode, end to end, peak resident set for each side, the ratios, and optionally the
// per-step scaling with resolution and frames. sd-cli is not part of this project: build it yourself
// from stable-diffusion.cpp's repository (CPU backend) and pass its path.
//
//   node bench/sdcpp.mjs --sd-cli PATH --base SD15.safetensors --motion-module MM.safetensors \
//        --model EXPORTED_DIR [--mapped-model DIR] [--int8-model DIR] [--f16conv-model DIR] [--res 128] [--frames 8] [--steps 4] [--threads 2]
//        [--rounds 2] [--scaling [--scaling-points 64x8,128x8,256x8,128x16,128x32] [--scaling-steps 3]] [--warmup-ab] [--reuse-ab] [--cache-ab] [--cold-ab] [--blas-dir DIR] [--json OUT.json]
//
// --scaling prints the per-step time as resolution grows (at 8 frames) and as frames grow (at 128 px), as
// markdown tables, both tools alternated, each run stopped after its last step; --rounds 0 runs only that.
//
// --model is --base + --motion-module exported with scripts/export_animatediff.py (float32);
// --mapped-model the same with mapped weights (export --mapped-weights, or scripts/map_weights.py on a copy),
// run in every round beside --model;
// --int8-model the same quantized with scripts/quantize_exported.py (then also sd.cpp --type q8_0);
// --f16conv-model the same with `--weights float16-conv` (sd.cpp's own float32 layout: conv kernels f16).
// BENCH_TORCH2_DIR=CHECKOUT adds that checkout's build (against torch 2.x) as animatorch_fp32_torch2;
// --fa-only runs sd.cpp only with --diffusion-fa; --denoise-only stops every run after its last step.
// --reuse-ab adds, in every round, the mapped model (else --model) with setHostMemoryReuse(true)
// (ANIMATORCH_HOST_MEMORY_REUSE=1; off by default, as in `animatorch render`).
// --cache-ab adds, in every round, the mapped model (else --model) with the host cache off
// (ANIMATORCH_HOST_CACHE=0: setHostCache(false); pipelines on CPU turn it on by default).
// --cold-ab adds, in every round, the mapped model (else --model) with its UNet's weights file dropped from
// the page cache first (POSIX_FADV_DONTNEED, through python3), as after other processes' memory use: the
// render then reads it while the prompt encodes (StageModule.readAhead).
// --blas-dir DIR adds, in every round, the mapped model (else --model) with libtorch's BLAS loaded from DIR
// (LD_LIBRARY_PATH), named after it: /usr/lib/x86_64-linux-gnu/openblas-pthread is Debian's OpenBLAS with a
// thread pool of its own, against the alternative the system has chosen (README: libopenblas0-openmp).
// Without --sd-cli (or SD_CLI) it says so and exits 0: `npm run bench` runs every file here.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const sdCli = arg('--sd-cli', process.env.SD_CLI);
if (!sdCli) {
  console.log('sd-cli not given (--sd-cli PATH or SD_CLI=PATH): skipping the comparison with stable-diffusion.cpp.');
  console.log('See README.md "Beside stable-diffusion.cpp" for the weights and the build of sd-cli.');
  process.exit(0);
}
for (const [flag, v] of [['--sd-cli', sdCli], ['--base', arg('--base')], ['--motion-module', arg('--motion-module')], ['--model', arg('--model')]])
  if (!v || !existsSync(v)) throw new Error(`${flag}: ${v ?? 'missing'} (required, an existing path)`);
const base = arg('--base');
const mm = arg('--motion-module');
const model = arg('--model');
const int8Model = arg('--int8-model');
const mappedModel = arg('--mapped-model');
for (const [flag, v] of [['--mapped-model', mappedModel], ['--int8-model', int8Model], ['--f16conv-model', arg('--f16conv-model')]])
  if (v !== undefined && !existsSync(v)) throw new Error(`${flag}: ${v} does not exist`);
const res = Number(arg('--res', 128));
const frames = Number(arg('--frames', 8));
const steps = Number(arg('--steps', 4));
const threads = Number(arg('--threads', 2));
const rounds = Number(arg('--rounds', 2));
const prompt = 'a red fox running through snowy woods';
const work = mkdtempSync(path.join(os.tmpdir(), 'animatorch-sdcpp-'));
const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const loadavg = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

/**
 * Runs a command; returns its output, wall seconds, peak RSS (MiB, /usr/bin/time -v, else polled VmHWM) and
 * the 1-minute load average at start and end. stopWhen(out) true: the command is killed there (stopped).
 */
function runTimed(cmd, args, env = {}, stopWhen = undefined) {
  return new Promise((resolve) => {
    const timeFile = path.join(work, `time-${process.hrtime.bigint()}.txt`);
    const [c, a] = timeBin ? [timeBin, ['-v', '-o', timeFile, cmd, ...args]] : [cmd, args];
    const t0 = performance.now();
    const load1 = loadavg();
    const child = spawn(c, a, { env: { ...process.env, ...env } });
    let out = '';
    let polled = 0;
    let stopped = false;
    const onData = (d) => {
      out += d;
      if (stopWhen && !stopped && stopWhen(out)) {
        stopped = true;
        // under /usr/bin/time the command is time's child: kill that one, and time reports and exits
        let pids = [];
        try {
          pids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
        } catch {}
        if (!timeBin || !pids.length) child.kill('SIGKILL');
        else for (const pid of pids) process.kill(pid, 'SIGKILL');
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const poll = timeBin
      ? undefined
      : setInterval(() => {
          try {
            const m = /^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) polled = Math.max(polled, Number(m[1]));
          } catch {}
        }, 100);
    child.on('close', (code) => {
      if (poll) clearInterval(poll);
      const wall = (performance.now() - t0) / 1000;
      let peakKiB = polled;
      if (timeBin && existsSync(timeFile)) peakKiB = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(readFileSync(timeFile, 'utf8'))?.[1] ?? 0);
      resolve({ code, out, stopped, wall_s: Math.round(wall * 100) / 100, peak_rss_mib: Math.round(peakKiB / 1024), load1, load1_end: loadavg() });
    });
  });
}

async function animatorch(name, dir, r = res, f = frames, s = steps, env = {}, root = path.dirname(here)) {
  // env ANIMATORCH_DENOISE_ONLY=1: it stops after the last step (no decode, no video); root: the checkout whose build runs
  // as `animatorch render --threads N`: setNumThreads(N) sizes torch's team and OpenBLAS's pool alike
  // (an OPENBLAS_NUM_THREADS in this environment is passed on and kept)
  const run = await runTimed(process.execPath, [path.join(root, 'bench', 'sdcpp', 'render-once.mjs'), dir, path.join(work, `${name}.gif`), r, r, f, s, threads, prompt], env);
  const line = run.out.split('\n').find((l) => l.startsWith('RESULT '));
  if (run.code !== 0 || !line) throw new Error(`${name} failed (${run.code}):\n${run.out.slice(-3000)}`);
  const d = JSON.parse(line.slice(7));
  // the driver resets the kernel's peak (VmHWM) per stage, which getrusage (and so /usr/bin/time) reports
  // too: the process's peak is the largest of its windows
  const m = d.memory;
  const peak = Math.max(...[m.peak_load_mib, m.peak_denoise_mib, m.peak_decode_mib].filter((x) => x !== undefined));
  return { name, tool: 'animatorch', ...run, out: undefined, peak_rss_mib: peak, step_s: d.step_s, decode_s: d.decode_s, load_s: d.load_s, memory: m, blas: d.blas };
}

async function sdcpp(name, flags = [], r = res, f = frames, s = steps, denoiseOnly = false) {
  // denoiseOnly: killed once its sampler prints the last step (no decode, no video)
  const lastStep = new RegExp(`\\b${s}/${s} - [\\d.]+(s/it|it/s)`);
  const run = await runTimed(sdCli, [
    '-M', 'vid_gen', '--model', base, '--motion-module', mm, '-p', prompt, '-n', '', '--cfg-scale', '7.5', '--sampling-method', 'euler',
    '--scheduler', 'discrete', '-H', r, '-W', r, '--video-frames', f, '--fps', '8', '--steps', s, '-s', '42', '-t', threads,
    '-o', path.join(work, `${name}.avi`), ...flags,
  ].map(String), {}, denoiseOnly ? (out) => lastStep.test(out) : undefined);
  if (run.code !== 0 && !run.stopped) {
    // reported, not fatal: sd-cli aborts on some sizes (64x64 latents 8x8: GGML_ASSERT in binary-ops)
    const why = /[^\n]*GGML_ASSERT[^\n]*|error[^\n]*/i.exec(run.out)?.[0]?.trim() ?? `exit ${run.code}`;
    console.error(`  ${name} failed: ${why}`);
    return { name, tool: 'sd.cpp', ...run, out: undefined, failed: why, step_s: [] };
  }
  const stepRe = new RegExp(`\\d+/${s} - ([\\d.]+)(s/it|it/s)`, 'g');
  const step_s = [...run.out.matchAll(stepRe)].map((m) => (m[2] === 's/it' ? Number(m[1]) : Math.round(1000 / Number(m[1])) / 1000));
  const decode = /decode_first_stage completed, taking ([\d.]+)s/.exec(run.out);
  return { name, tool: 'sd.cpp', ...run, out: undefined, step_s: step_s.slice(-s), decode_s: decode ? Number(decode[1]) : undefined };
}

/** --cold-ab: drops the model's UNet weights file (mapped weights) from the kernel's page cache. */
function evictUnetWeights(dir) {
  const { dir: d, name } = path.parse(path.join(dir, YAML.parse(readFileSync(path.join(dir, 'model.yaml'), 'utf8')).unet.file));
  const index = path.join(d, `${name}.weights.json`);
  if (!existsSync(index)) throw new Error(`--cold-ab: ${dir} has no mapped weights (${index})`);
  const file = path.join(d, JSON.parse(readFileSync(index, 'utf8')).file);
  execFileSync('python3', ['-c', 'import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nos.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)', file]);
}

const later = (st) => (st.length > 1 ? st.slice(1).reduce((a, b) => a + b, 0) / (st.length - 1) : st[0]);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const f1 = (x) => (x === undefined ? '-' : x.toFixed(x < 10 ? 2 : 1));

const runs = [];
const log = (r) => {
  if (r.failed) {
    console.error(`  ${r.name}: failed: ${r.failed} (wall ${f1(r.wall_s)} s, load1 ${r.load1})`);
    return void runs.push(r);
  }
  console.error(`  ${r.name}: steps ${r.step_s.join(' ')} s, decode ${f1(r.decode_s)} s, wall ${f1(r.wall_s)} s, peak ${r.peak_rss_mib} MiB (load1 ${r.load1})`);
  runs.push(r);
};
console.log(`${res}x${res}, ${frames} frames, ${steps} Euler steps, CFG 7.5, ${threads} threads (OPENBLAS_NUM_THREADS=${process.env.OPENBLAS_NUM_THREADS ?? `unset: ${threads}`}); ${os.cpus()[0]?.model}, ${os.cpus().length} CPUs`);
// --denoise-only: every run stops after its last step (per-step times only: no decode, end to end or decode peak)
const denoiseOnly = argv.includes('--denoise-only');
const stopEnv = denoiseOnly ? { ANIMATORCH_DENOISE_ONLY: '1' } : {};
// BENCH_TORCH2_DIR: a checkout built against torch 2.x (as bench/flavours.mjs takes it), run beside this one
const torch2Dir = process.env.BENCH_TORCH2_DIR;
const blasDir = arg('--blas-dir');
if (blasDir && !existsSync(blasDir)) throw new Error(`--blas-dir: ${blasDir} does not exist`);
// the A/B sides (--reuse-ab, --cache-ab, --blas-dir) run the mapped model, else --model
const abBase = mappedModel ? 'animatorch_mapped' : 'animatorch_fp32';
const blasVariant = blasDir && `${abBase}_${path.basename(blasDir)}`;
for (let k = 1; k <= rounds; k++) {
  log(await animatorch(`r${k}_animatorch_fp32`, model, res, frames, steps, stopEnv));
  if (mappedModel) log(await animatorch(`r${k}_animatorch_mapped`, mappedModel, res, frames, steps, stopEnv));
  // --fa-only: sd.cpp only with --diffusion-fa (its fastest), not also without
  if (!argv.includes('--fa-only')) log(await sdcpp(`r${k}_sdcpp_fp32`, [], res, frames, steps, denoiseOnly));
  log(await sdcpp(`r${k}_sdcpp_fa`, ['--diffusion-fa'], res, frames, steps, denoiseOnly));
  if (torch2Dir) log(await animatorch(`r${k}_animatorch_fp32_torch2`, model, res, frames, steps, stopEnv, torch2Dir));
  // --warmup-ab: the same render with TorchScript's optimising executor (torch's default) for comparison
  if (argv.includes('--warmup-ab')) log(await animatorch(`r${k}_animatorch_fp32_graphopt`, model, res, frames, steps, { ANIMATORCH_GRAPH_OPTIMIZATION: '1' }));
  if (argv.includes('--reuse-ab'))
    log(await animatorch(`r${k}_${abBase}_reuse`, mappedModel ?? model, res, frames, steps, { ...stopEnv, ANIMATORCH_HOST_MEMORY_REUSE: '1' }));
  if (argv.includes('--cache-ab'))
    log(await animatorch(`r${k}_${abBase}_nocache`, mappedModel ?? model, res, frames, steps, { ...stopEnv, ANIMATORCH_HOST_CACHE: '0' }));
  if (argv.includes('--cold-ab')) {
    evictUnetWeights(mappedModel ?? model);
    log(await animatorch(`r${k}_${abBase}_cold`, mappedModel ?? model, res, frames, steps, stopEnv));
  }
  if (blasDir)
    log(await animatorch(`r${k}_${blasVariant}`, mappedModel ?? model, res, frames, steps, { ...stopEnv, LD_LIBRARY_PATH: blasDir }));
}
const f16ConvModel = arg('--f16conv-model');
if (f16ConvModel) log(await animatorch('x_animatorch_f16conv', f16ConvModel));
if (int8Model) {
  log(await animatorch('x_animatorch_int8', int8Model));
  log(await sdcpp('x_sdcpp_q8_0', ['--type', 'q8_0']));
}

const variants = [...new Set(runs.map((r) => r.name.replace(/^(r\d+|x)_/, '')))];
const summary = variants.map((v) => {
  const rs = runs.filter((r) => r.name.endsWith(`_${v}`) && !r.failed);
  if (!rs.length) return { variant: v, runs: 0 };
  const m = (fn) => median(rs.map(fn).filter((x) => x !== undefined));
  return {
    variant: v, runs: rs.length, step_later_s: m((r) => later(r.step_s)), step1_s: m((r) => r.step_s[0]), step2_s: m((r) => r.step_s[1]),
    decode_s: m((r) => r.decode_s), wall_s: m((r) => r.wall_s), peak_rss_mib: m((r) => r.peak_rss_mib), load1: m((r) => r.load1),
    ...(rs[0].memory && { memory: rs[0].memory }),
    ...(rs[0].blas && { blas: rs[0].blas }),
  };
});
const row = (cells, w = [20, 6, 9, 9, 9, 9, 9, 10, 6]) => cells.map((c, i) => String(c).padStart(w[i]).padEnd(i === 0 ? w[0] : 0)).join(' ');
if (summary.length) console.log(row(['variant', 'runs', 's/step', 'step 1', 'step 2', 'decode s', 'wall s', 'peak MiB', 'load1']));
for (const s of summary.filter((x) => x.runs)) console.log(row([s.variant, s.runs, f1(s.step_later_s), f1(s.step1_s), f1(s.step2_s), f1(s.decode_s), f1(s.wall_s), s.peak_rss_mib, s.load1]));
// which OpenBLAS build libtorch ran with (Debian: openblas-openmp shares libtorch's threads; pthread has a pool of its own)
for (const s of summary.filter((x) => x.blas)) console.log(`${s.variant}: BLAS ${s.blas.path} (${s.blas.threading})`);
for (const s of summary.filter((x) => x.memory))
  console.log(`${s.variant} memory: after load ${s.memory.after_load_mib} MiB, peak in denoise ${s.memory.peak_denoise_mib} MiB, peak in decode ${s.memory.peak_decode_mib} MiB`);
const get = (v) => summary.find((s) => s.variant === v);
const ratios = [];
for (const [a, b] of [['animatorch_fp32', 'sdcpp_fp32'], ['animatorch_fp32', 'sdcpp_fa'], ['animatorch_mapped', 'sdcpp_fp32'], ['animatorch_mapped', 'sdcpp_fa'], [`${abBase}_reuse`, 'sdcpp_fa'], [`${abBase}_nocache`, 'sdcpp_fa'], [`${abBase}_cold`, 'sdcpp_fa'], ...(blasVariant ? [[blasVariant, 'sdcpp_fa']] : []), ['animatorch_fp32_torch2', 'sdcpp_fa'], ['animatorch_f16conv', 'sdcpp_fp32'], ['animatorch_int8', 'sdcpp_q8_0'], ['animatorch_int8', 'sdcpp_fa']]) {
  const x = get(a);
  const y = get(b);
  if (!x?.runs || !y?.runs) continue; // a side that failed in every round has no figures
  const r = (k) => (x[k] && y[k] ? Math.round((x[k] / y[k]) * 100) / 100 : undefined);
  // each round's own ratio too: the two sides of a round ran minutes apart, rounds may be an hour apart
  const perRound = runs
    .filter((ra) => !ra.failed && ra.name.endsWith(`_${a}`) && /^r\d+_/.test(ra.name))
    .map((ra) => [ra, runs.find((rb) => !rb.failed && rb.name === ra.name.replace(/_.*$/, '') + `_${b}`)])
    .filter(([, rb]) => rb)
    .map(([ra, rb]) => Math.round((later(ra.step_s) / later(rb.step_s)) * 100) / 100);
  ratios.push({ pair: `${a} / ${b}`, step: r('step_later_s'), step_per_round: perRound, decode: r('decode_s'), wall: r('wall_s'), peak: r('peak_rss_mib') });
  console.log(`${a} / ${b}: s/step ${r('step_later_s')} (rounds: ${perRound.join(', ') || '-'}), decode ${r('decode_s')}, wall ${r('wall_s')}, peak RSS ${r('peak_rss_mib')}`);
}

// Scaling: one run per point and tool, alternated, each stopped after its last step (the table needs
// per-step times, and decoding 32 frames or 256 px would cost more than the steps); later steps averaged.
const scaling = [];
if (argv.includes('--scaling')) {
  // --scaling-points 128x8,256x8 (px x frames) to run fewer on a slow machine
  const points = (arg('--scaling-points') ?? '64x8,128x8,256x8,128x16,128x32').split(',').map((p) => p.split('x').map(Number));
  const ss = Number(arg('--scaling-steps', 3));
  for (const [r, f] of points) {
    const a = await animatorch(`scale_${r}px_${f}f_animatorch`, model, r, f, ss, { ANIMATORCH_DENOISE_ONLY: '1' });
    log(a);
    const b = await sdcpp(`scale_${r}px_${f}f_sdcpp_fa`, ['--diffusion-fa'], r, f, ss, true);
    if (!b.failed && b.step_s.length < ss) b.failed = `printed ${b.step_s.length} of ${ss} steps`;
    log(b);
    const [x, y] = [later(a.step_s), b.failed ? undefined : later(b.step_s)];
    scaling.push({ res: r, frames: f, steps: ss, animatorch_steps: a.step_s, sdcpp_steps: b.step_s, animatorch_step_s: x, sdcpp_fa_step_s: y, sdcpp_failed: b.failed, ratio: y ? Math.round((x / y) * 100) / 100 : undefined, load1: [a.load1, a.load1_end, b.load1, b.load1_end] });
  }
  printScaling(scaling);
}

/** The scaling as two markdown tables: resolution at the smallest frame count, frames at 128 px (else the smallest res). */
function printScaling(pts) {
  const f = (x) => (x === undefined ? '-' : x.toFixed(x < 10 ? 2 : 1));
  const list = (xs) => (xs?.length ? xs.map((x) => x.toFixed(1)).join(', ') : '-');
  const table = (title, key, rows) => {
    if (!rows.length) return;
    // growth against the first row that both tools ran (sd.cpp fails at 64 px)
    const ref = rows.find((p) => p.sdcpp_fa_step_s) ?? rows[0];
    const g = (x, x0) => (x && x0 ? `${(x / x0).toFixed(2)}x` : '-');
    console.log(`\n${title} (growth against ${key === 'px' ? `${ref.res} px` : `${ref.frames} frames`})\n`);
    console.log(`| ${key} | animatorch s/step | growth | sd.cpp --diffusion-fa s/step | growth | animatorch / sd.cpp | steps, animatorch | steps, sd.cpp | load1 at start/end: animatorch; sd.cpp |`);
    console.log('|---:|---:|---:|---:|---:|---:|---|---|---|');
    for (const p of rows) {
      const b = p.sdcpp_failed ? `failed: ${p.sdcpp_failed}` : f(p.sdcpp_fa_step_s);
      const l = p.load1.map((v) => v.toFixed(1));
      console.log(
        `| ${key === 'px' ? p.res : p.frames} | ${f(p.animatorch_step_s)} | ${g(p.animatorch_step_s, ref.animatorch_step_s)} | ${b} | ${g(p.sdcpp_fa_step_s, ref.sdcpp_fa_step_s)} | ${p.ratio ?? '-'} | ${list(p.animatorch_steps)} | ${list(p.sdcpp_steps)} | ${l[0]}/${l[1]}; ${l[2]}/${l[3]} |`,
      );
    }
  };
  const steps = pts[0]?.steps;
  console.log(`\nPer-step time, mean of steps 2-${steps} of ${steps} (fp32, ${threads} threads, CFG 7.5, Euler)`);
  const minF = Math.min(...pts.map((p) => p.frames));
  const byRes = pts.filter((p) => p.frames === minF).sort((p, q) => p.res - q.res);
  const fRes = pts.some((p) => p.res === 128 && p.frames !== minF) ? 128 : Math.min(...pts.map((p) => p.res));
  const byFrames = pts.filter((p) => p.res === fRes).sort((p, q) => p.frames - q.frames);
  table(`By resolution, ${minF} frames`, 'px', byRes);
  if (byFrames.length > 1) table(`By frames, ${fRes} px`, 'frames', byFrames);
}
const json = arg('--json');
if (json) writeFileSync(json, JSON.stringify({ settings: { res, frames, steps, threads, rounds }, runs, summary, ratios, scaling }, null, 1));
