import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { doctor } from '../lib/cli/commands/doctor';
import { blasLibrary } from '../lib/blas-library';
import { cuda, versions } from '../lib/device';
import { formatDoctorReport, probeAddon, runDoctor } from '../lib/doctor';
import { addonInfo, packageRoot } from '../lib/native/binding';
import { findTorchPython } from '../lib/python';

const distEntry = path.join(__dirname, '..', 'dist', 'index.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-doctor-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('doctor', () => {
  it('reports Node, the addon and libtorch (probed in a child), Python+torch, ffmpeg and sharp', async () => {
    // The doctor probes the compiled package in a child process; `npm test` builds dist/ first.
    expect(existsSync(distEntry), 'dist/ is missing: run `npm run build:ts`').toBe(true);
    const out: string[] = [];
    const report = await doctor({}, { stdout: (t) => out.push(t) });
    expect(report.node).toBe(process.version);
    expect(report.animatorch).toMatch(/^\d+\.\d+\.\d+/);
    const names = report.checks.map((c) => c.name);
    for (const n of ['node', 'addon', 'ffmpeg', 'sharp', 'python']) expect(names).toContain(n);
    // the addon loads in this checkout (the native tests need it too)
    expect(report.addon.ok, report.addon.error).toBe(true);
    // The child's view of the addon is this process's view.
    const v = versions();
    expect(report.addon).toMatchObject({ libtorch: v.libtorch, libtorchSource: v.libtorchSource, cudaBuild: v.cudaBuild, cxx11Abi: v.cxx11Abi });
    expect(report.addon.cudaAvailable).toBe(cuda.isAvailable());
    expect(report.addon.cudaDeviceCount).toBe(cuda.deviceCount());
    // ok with a usable GPU; warn for a CUDA build without one (torch 2.x's wheel on a CPU machine), or a GPU beside a CPU build
    const cudaStatus = cuda.isAvailable() ? 'ok' : v.cudaBuild || report.gpus.length ? 'warn' : 'ok';
    expect(report.checks.find((c) => c.name === 'cuda')?.status).toBe(cudaStatus);
    expect(report.python?.torchVersion).toBe((await findTorchPython()).torchVersion);
    // which addon file the child loaded, and why: the one this process loaded
    const info = addonInfo();
    expect(report.checks.find((c) => c.name === 'addon file')?.detail).toContain(`${info.kind} ${path.relative(packageRoot, info.path)}: ${info.reason}`);
    expect(report.sharp?.version).toMatch(/^\d+\.\d+/);
    // the BLAS the child's libtorch loaded is this process's; OpenBLAS's pthread build is a warning with the switch
    expect(report.addon.blas).toEqual(blasLibrary());
    const blas = report.checks.find((c) => c.name === 'blas');
    expect(blas?.status).toBe(blasLibrary()?.threading === 'pthread' ? 'warn' : 'ok');
    if (blas?.status === 'warn') expect(blas.fix).toContain('update-alternatives --set $l-');
    for (const c of report.checks) if (c.status !== 'ok') expect(c.fix, `${c.name} has a fix`).toBeTruthy();
    expect(report.ok).toBe(report.checks.every((c) => c.status !== 'error'));
    expect(out[0]).toContain(`libtorch: ${report.addon.libtorch} from ${report.addon.libtorchSource}`);
  });

  it('survives an addon that crashes the process while loading, and says how to fix it', async () => {
    const crash = path.join(tmp, 'crash.js');
    writeFileSync(crash, 'process.kill(process.pid, "SIGSEGV");');
    const probe = await probeAddon(crash, 30_000);
    expect(probe.ok).toBe(false);
    expect(probe.error).toMatch(/killed by SIGSEGV/);
    const report = await runDoctor({ entry: crash, skipPython: true, timeoutMs: 30_000 });
    const addon = report.checks.find((c) => c.name === 'addon')!;
    expect(addon.status).toBe('error');
    expect(addon.fix).toMatch(/rebuild/i);
    expect(report.ok).toBe(false);
    expect(formatDoctorReport(report)).toMatch(/\[FAIL\] addon: /);
  });

  it('turns a load error into "Possible solutions", and a missing build into a build hint', async () => {
    const failing = path.join(tmp, 'fail.js');
    writeFileSync(failing, 'throw new Error("libtorch_cpu.so: cannot open shared object file: No such file or directory");');
    const report = await runDoctor({ entry: failing, skipPython: true, ffmpeg: path.join(tmp, 'no-ffmpeg'), timeoutMs: 30_000 });
    const addon = report.checks.find((c) => c.name === 'addon')!;
    expect(addon.detail).toMatch(/libtorch_cpu\.so/);
    expect(addon.fix).toMatch(/^Possible solutions:/);
    expect(addon.fix).toMatch(/LIBTORCH=/);
    const ffmpeg = report.checks.find((c) => c.name === 'ffmpeg')!;
    expect(ffmpeg).toMatchObject({ status: 'warn', detail: expect.stringMatching(/not found/) });
    expect(ffmpeg.fix).toMatch(/apt-get install ffmpeg/);
    const missing = await runDoctor({ entry: path.join(tmp, 'nope', 'index.js'), skipPython: true, timeoutMs: 30_000 });
    expect(missing.checks.find((c) => c.name === 'addon')!.fix).toMatch(/npm run build/);
  });
});
