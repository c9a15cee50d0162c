/**
 * `animatorch doctor`: checks what animatorch needs and says how to fix each
 * problem. The native addon is probed in a child process (as node-llama-cpp's
 * testBindingBinary does), so a libtorch/CUDA mismatch that crashes the
 * process cannot take the doctor down with it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type BlasLibrary, openmpBlasCommands } from './blas-library';
import { explainLoadFailure, packageRoot } from './native/binding';
import { findTorchPython } from './python';
import { animatorchVersion } from './version';

export type CheckStatus = 'ok' | 'warn' | 'error';

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  /** What was found (versions, paths). */
  detail: string;
  /** How to fix it, when status is not 'ok'. */
  fix?: string;
}

export interface AddonProbe {
  ok: boolean;
  libtorch?: string;
  libtorchSource?: string;
  cudaBuild?: boolean;
  cxx11Abi?: boolean;
  /** Which addon file was loaded (local build or prebuild) and why, with the prebuilds passed over. */
  loaded?: { path: string; kind: string; reason: string; rejected: Array<{ file: string; why: string }> };
  cudaAvailable?: boolean;
  cudaDeviceCount?: number;
  threads?: number;
  /** The BLAS the child's libtorch loaded (null: none as a separate library, e.g. MKL linked in). */
  blas?: BlasLibrary | null;
  memory?: Array<{ device: number; allocated: number; reserved: number }>;
  /** Why it failed: the child's error message, or how it died (signal/exit code). */
  error?: string;
}

export interface GpuInfo {
  index: number;
  name: string;
  memoryTotalMiB: number;
  memoryUsedMiB: number;
  driver: string;
}

export interface DoctorReport {
  animatorch: string;
  node: string;
  platform: string;
  addon: AddonProbe;
  gpus: GpuInfo[];
  python?: { executable: string; torchVersion: string };
  ffmpeg?: string;
  sharp?: { version: string; libvips: string };
  checks: DoctorCheck[];
  /** True when nothing is an 'error'. */
  ok: boolean;
}

export interface DoctorOptions {
  /** The module the child process requires (default: the package's dist/index.js). */
  entry?: string;
  /** ffmpeg executable to check (default: ANIMATORCH_FFMPEG or `ffmpeg`). */
  ffmpeg?: string;
  /** Per-probe time limit in ms (default 60 s: a first libtorch load can be slow). */
  timeoutMs?: number;
  /** Skip the Python/torch probe (it imports torch: slow). */
  skipPython?: boolean;
}

interface ExecResult {
  stdout: string;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: NodeJS.ErrnoException;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, env: process.env }, (error, stdout, stderr) => {
      const e = error as (NodeJS.ErrnoException & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
      resolve({
        stdout: String(stdout),
        stderr: String(stderr),
        code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        ...(e ? { error: e } : {}),
      });
    });
  });
}

const PROBE_SCRIPT = `
const entry = process.argv[1];
try {
  const a = require(entry);
  const v = a.versions();
  const out = { ok: true, ...v };
  try { const c = a.addonInfo(); out.loaded = { path: c.path, kind: c.kind, reason: c.reason, rejected: c.rejected }; } catch {}
  try { out.cudaAvailable = a.cuda.isAvailable(); out.cudaDeviceCount = a.cuda.deviceCount(); } catch (e) { out.cudaError = String(e && e.message || e); }
  try { out.threads = a.getNumThreads(); } catch {}
  try { out.blas = a.blasLibrary(); } catch {}
  out.memory = [];
  for (let i = 0; i < (out.cudaAvailable ? out.cudaDeviceCount : 0); i++) {
    try { const m = a.memoryStats(i); if (m.cuda) out.memory.push({ device: i, allocated: m.cuda.allocated, reserved: m.cuda.reserved }); } catch {}
  }
  process.stdout.write('\\n@@PROBE@@' + JSON.stringify(out) + '\\n');
} catch (e) {
  process.stdout.write('\\n@@PROBE@@' + JSON.stringify({ ok: false, error: String(e && e.message || e) }) + '\\n');
}
`;

/** Loads the addon in a child Node process and reports its versions and CUDA devices. */
export async function probeAddon(entry = path.join(packageRoot, 'dist', 'index.js'), timeoutMs = 60_000): Promise<AddonProbe> {
  if (!existsSync(entry)) return { ok: false, error: `${entry} does not exist (the TypeScript build is missing)` };
  const r = await run(process.execPath, ['-e', PROBE_SCRIPT, entry], timeoutMs);
  const line = r.stdout.split('\n').find((l) => l.startsWith('@@PROBE@@'));
  if (line) {
    try {
      return JSON.parse(line.slice('@@PROBE@@'.length)) as AddonProbe;
    } catch {
      /* fall through */
    }
  }
  const how = r.signal ? `the probe process was killed by ${r.signal}${r.signal === 'SIGTERM' ? ` (timeout after ${timeoutMs} ms?)` : ''}` : `the probe process exited with code ${r.code}`;
  return { ok: false, error: `${how}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}` };
}

async function probeGpus(timeoutMs: number): Promise<GpuInfo[]> {
  const r = await run('nvidia-smi', ['--query-gpu=index,name,memory.total,memory.used,driver_version', '--format=csv,noheader,nounits'], timeoutMs);
  if (r.code !== 0) return [];
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [index, name, total, used, driver] = l.split(',').map((s) => s.trim());
      return { index: Number(index), name: name ?? '?', memoryTotalMiB: Number(total), memoryUsedMiB: Number(used), driver: driver ?? '?' };
    });
}

async function probeFfmpeg(ffmpeg: string, timeoutMs: number): Promise<{ version?: string; error?: string }> {
  const r = await run(ffmpeg, ['-hide_banner', '-version'], timeoutMs);
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') return { error: 'not found on PATH' };
  if (r.code !== 0) return { error: (r.stderr || r.stdout).trim().split('\n')[0] || `exit code ${r.code}` };
  const first = r.stdout.split('\n')[0] ?? '';
  const version = /ffmpeg version (\S+)/.exec(first)?.[1] ?? first;
  const hasX264 = /--enable-libx264/.test(r.stdout);
  return { version: hasX264 || !/configuration:/.test(r.stdout) ? version : `${version} (without libx264)` };
}

function probeSharp(): { version: string; libvips: string } | { error: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sharp = require('sharp') as { versions: { sharp?: string; vips: string } };
    return { version: sharp.versions.sharp ?? 'unknown', libvips: sharp.versions.vips };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] ?? String(err) };
  }
}

const MiB = 1024 * 1024;

/** [major, minor] of a torch version string ('2.5.1+cu121', '1.13.0a0'). */
function majorMinor(v: string): [number, number] | undefined {
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** Runs every check; never throws for a failed probe (it becomes a check with a fix). */
export async function runDoctor(options: DoctorOptions = {}): Promise<DoctorReport> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const checks: DoctorCheck[] = [];
  const [addon, gpus, python, ffmpeg] = await Promise.all([
    probeAddon(options.entry, timeoutMs),
    probeGpus(Math.min(timeoutMs, 15_000)),
    options.skipPython ? Promise.resolve(undefined) : findTorchPython().then((p) => p, (err: Error) => err),
    probeFfmpeg(options.ffmpeg ?? process.env.ANIMATORCH_FFMPEG ?? 'ffmpeg', Math.min(timeoutMs, 15_000)),
  ]);
  const sharp = probeSharp();

  const nodeMajor = Number(process.versions.node.split('.')[0]);
  checks.push(
    nodeMajor >= 20
      ? { name: 'node', status: 'ok', detail: `Node ${process.version} (${process.platform}-${process.arch}, N-API ${process.versions.napi})` }
      : { name: 'node', status: 'error', detail: `Node ${process.version}`, fix: 'animatorch needs Node 20 or newer: install a current LTS (https://nodejs.org).' },
  );

  if (addon.ok) {
    checks.push({ name: 'addon', status: 'ok', detail: `loaded; libtorch ${addon.libtorch} (${addon.cudaBuild ? 'CUDA' : 'CPU'} build, cxx11 ABI ${addon.cxx11Abi ? 'on' : 'off'}${addon.threads ? `, ${addon.threads} threads` : ''})` });
    checks.push({ name: 'libtorch', status: 'ok', detail: `${addon.libtorch} from ${addon.libtorchSource}` });
    if (addon.blas?.threading === 'pthread') {
      checks.push({
        name: 'blas',
        status: 'warn',
        detail: `${addon.blas.path}: OpenBLAS's own thread pool, which spins against libtorch's OpenMP threads between ops (on a 2-core machine a tiny UNet's step took 2.5x as long as with the OpenMP build)`,
        fix: `Use Debian's OpenMP build of OpenBLAS, which shares libtorch's threads: ${openmpBlasCommands(addon.blas)}`,
      });
    } else if (addon.blas !== undefined) {
      checks.push({ name: 'blas', status: 'ok', detail: addon.blas ? `${addon.blas.path} (${addon.blas.threading})` : 'no separate BLAS library (linked into libtorch, e.g. MKL)' });
    }
    if (addon.loaded) {
      const passedOver = addon.loaded.rejected.map((r) => `${r.file}: ${r.why}`);
      checks.push({ name: 'addon file', status: 'ok', detail: `${addon.loaded.kind} ${path.relative(packageRoot, addon.loaded.path)}: ${addon.loaded.reason}${passedOver.length ? `; passed over ${passedOver.join('; ')}` : ''}` });
    }
  } else {
    const explained = addon.error && !/TypeScript build is missing|probe process/.test(addon.error) ? explainLoadFailure(new Error(addon.error)) : undefined;
    checks.push({
      name: 'addon',
      status: 'error',
      detail: addon.error ?? 'could not be loaded',
      fix: /TypeScript build is missing/.test(addon.error ?? '')
        ? 'Build it: npm run build (or npm run build:ts when the native addon is already built).'
        : explained
          ? explained.slice(explained.indexOf('Possible solutions:'))
          : 'The addon crashed while loading (often a libtorch/CUDA mismatch). Rebuild it against the libtorch you run with: LIBTORCH=/path/to/libtorch npm rebuild animatorch',
    });
  }

  // CUDA: the addon's view, nvidia-smi's view, and whether they agree.
  if (addon.ok) {
    if (addon.cudaAvailable) {
      const mem = gpus.length
        ? gpus.map((g) => `#${g.index} ${g.name}: ${(g.memoryTotalMiB / 1024).toFixed(1)} GiB total, ${(g.memoryUsedMiB / 1024).toFixed(1)} GiB used (driver ${g.driver})`).join('; ')
        : `${addon.cudaDeviceCount} device(s)`;
      checks.push({ name: 'cuda', status: 'ok', detail: mem });
    } else if (addon.cudaBuild) {
      checks.push({
        name: 'cuda',
        status: 'warn',
        detail: `CUDA build of libtorch, but no usable GPU${gpus.length ? ` (nvidia-smi sees ${gpus.length}: driver too old for this libtorch?)` : ''}; rendering runs on the CPU (slow)`,
        fix: gpus.length ? 'Update the NVIDIA driver to one that supports this libtorch\'s CUDA version.' : 'Install an NVIDIA GPU driver (nvidia-smi should list the GPU), or use --device cpu.',
      });
    } else {
      checks.push({
        name: 'cuda',
        status: gpus.length ? 'warn' : 'ok',
        detail: gpus.length ? `a GPU is present (${gpus.map((g) => g.name).join(', ')}) but the addon is built against a CPU libtorch` : 'CPU-only libtorch (no GPU found); rendering runs on the CPU (slow: minutes per video)',
        ...(gpus.length ? { fix: 'Rebuild against a CUDA libtorch: LIBTORCH=/path/to/libtorch-cuda npm rebuild animatorch' } : {}),
      });
    }
  }

  if (python instanceof Error) {
    checks.push({ name: 'python', status: 'warn', detail: 'no Python with torch (only needed by `animatorch export`)', fix: python.message.split('\n').slice(-2).join(' ') });
  } else if (python) {
    checks.push({ name: 'python', status: 'ok', detail: `${python.executable} with torch ${python.torchVersion}` });
    const py = majorMinor(python.torchVersion);
    const lt = addon.ok && addon.libtorch ? majorMinor(addon.libtorch) : undefined;
    if (py && lt && (py[0] > lt[0] || (py[0] === lt[0] && py[1] > lt[1])))
      checks.push({
        name: 'torch versions',
        status: 'warn',
        detail: `Python torch ${python.torchVersion} is newer than the addon's libtorch ${addon.libtorch}`,
        fix: 'TorchScript exported by a newer torch may not load in an older libtorch: export with a torch no newer than the libtorch animatorch uses, or rebuild animatorch against a newer libtorch.',
      });
  }

  if (ffmpeg.version)
    checks.push({
      name: 'ffmpeg',
      status: /without libx264/.test(ffmpeg.version) ? 'warn' : 'ok',
      detail: `ffmpeg ${ffmpeg.version}`,
      ...(/without libx264/.test(ffmpeg.version) ? { fix: 'MP4 output uses libx264: install an ffmpeg built with it (Debian/Ubuntu: apt-get install ffmpeg).' } : {}),
    });
  else checks.push({ name: 'ffmpeg', status: 'warn', detail: `ffmpeg ${ffmpeg.error} (only needed for .mp4 output)`, fix: 'Install it (apt-get install ffmpeg), or write .gif/.webp/PNG frames.' });

  if ('error' in sharp) checks.push({ name: 'sharp', status: 'error', detail: `sharp cannot be loaded: ${sharp.error}`, fix: 'Reinstall it: npm install sharp (needed for GIF/WebP/PNG output).' });
  else checks.push({ name: 'sharp', status: 'ok', detail: `sharp ${sharp.version}, libvips ${sharp.libvips}` });

  return {
    animatorch: animatorchVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    addon,
    gpus,
    ...(python && !(python instanceof Error) ? { python } : {}),
    ...(ffmpeg.version ? { ffmpeg: ffmpeg.version } : {}),
    ...('error' in sharp ? {} : { sharp }),
    checks,
    ok: checks.every((c) => c.status !== 'error'),
  };
}

/** The report as text: one line per check, with fixes indented below. */
export function formatDoctorReport(r: DoctorReport): string {
  const mark = { ok: 'ok  ', warn: 'warn', error: 'FAIL' } as const;
  const lines = [`animatorch ${r.animatorch} (${r.platform})`];
  for (const c of r.checks) {
    lines.push(`[${mark[c.status]}] ${c.name}: ${c.detail}`);
    if (c.fix) for (const l of c.fix.split('\n')) lines.push(`       ${l}`);
  }
  if (r.addon.memory?.length)
    for (const m of r.addon.memory) lines.push(`       cuda:${m.device} allocator: ${(m.allocated / MiB).toFixed(0)} MiB allocated, ${(m.reserved / MiB).toFixed(0)} MiB reserved`);
  lines.push(r.ok ? 'Everything animatorch needs is in place.' : 'Some checks failed; see the fixes above.');
  return lines.join('\n');
}
