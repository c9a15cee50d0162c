import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { addonInfo, versions } from '../lib';
import { chooseAddon, libtorchTags, libtorchVersionAt, matchLibtorch, type PrebuildMeta } from '../lib/native/prebuilds';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-prebuilds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const savedEnv = { LIBTORCH: process.env.LIBTORCH, LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH };
afterEach(() => {
  for (const [k, v] of Object.entries(savedEnv)) if (v === undefined) delete process.env[k];
  else process.env[k] = v;
});

/** The libtorch this process really loaded, read from the process's memory map. */
function loadedLibtorch(): { dir: string; file: string } {
  versions(); // loads the addon, and libtorch with it
  const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => /\/libtorch_cpu\.so/.test(l))!;
  const file = line.slice(line.indexOf('/'));
  return { dir: path.dirname(file), file: path.basename(file) };
}

/** A package root holding one prebuild (a copy of the addon in use) with the given sidecar. */
function packageWith(name: string, meta: PrebuildMeta | undefined): string {
  const root = mkdtempSync(path.join(tmp, 'pkg-'));
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  mkdirSync(dir, { recursive: true });
  copyFileSync(addonInfo().path, path.join(dir, name));
  if (meta) writeFileSync(path.join(dir, name.replace(/\.node$/, '.json')), JSON.stringify(meta));
  return root;
}

describe('prebuild selection', () => {
  it('reports the addon this process loaded and why', () => {
    const info = addonInfo();
    expect(['local build', 'prebuild']).toContain(info.kind);
    expect(readFileSync(info.path).subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(info.reason).toMatch(info.kind === 'prebuild' ? /prebuilt for libtorch/ : /build\/Release/);
  });

  it('reads the libtorch version of a pip torch, a libtorch zip and a Debian install', () => {
    const pip = path.join(tmp, 'site-packages', 'torch');
    mkdirSync(path.join(pip, 'lib'), { recursive: true });
    writeFileSync(path.join(pip, 'version.py'), "__version__ = '2.15.0+cu128'\ngit_version = 'abc'\n");
    expect(libtorchVersionAt(path.join(pip, 'lib'))).toBe('2.15.0+cu128');
    // PyPI's default wheel: a plain version, and the CUDA version on a line of its own
    writeFileSync(path.join(pip, 'version.py'), "from typing import Optional\n__version__ = '2.15.0'\ndebug = False\ncuda: Optional[str] = '12.8'\n");
    expect(libtorchVersionAt(path.join(pip, 'lib'))).toBe('2.15.0+cu128');
    const zip = path.join(tmp, 'libtorch');
    mkdirSync(path.join(zip, 'lib'), { recursive: true });
    writeFileSync(path.join(zip, 'build-version'), '2.5.1+cpu\n');
    expect(libtorchVersionAt(path.join(zip, 'lib'))).toBe('2.5.1+cpu');
    const { dir } = loadedLibtorch();
    expect(libtorchVersionAt(dir)).toMatch(new RegExp(`^${versions().libtorch.replace(/\./g, '\\.')}`));
    expect(libtorchTags('2.15.0+cu128', true)).toEqual({ version: '2_15_0', flavour: 'cu128' });
    expect(libtorchTags('1.13.0a0', false)).toEqual({ version: '1_13_0', flavour: 'cpu' });
  });

  it('chooses a prebuild whose libtorch is installed, and passes over the others with a reason', () => {
    const { dir, file } = loadedLibtorch();
    const present: PrebuildMeta = { libtorch: versions().libtorch, flavour: 'cpu', cxx11Abi: true, libDir: dir, needed: [file] };
    const absent: PrebuildMeta = { ...present, libtorch: '9.1.0', libDir: path.join(tmp, 'nowhere'), needed: ['libtorch_cpu.so.9.1'] };
    const root = packageWith('animatorch.libtorch-1_0_0.cpu.napi.glibc.node', present);
    const other = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    copyFileSync(addonInfo().path, path.join(other, 'animatorch.libtorch-9_1_0.cpu.napi.glibc.node'));
    writeFileSync(path.join(other, 'animatorch.libtorch-9_1_0.cpu.napi.glibc.json'), JSON.stringify(absent));
    copyFileSync(addonInfo().path, path.join(other, 'animatorch.libtorch-1_0_0.cpu.napi.musl.node'));
    copyFileSync(addonInfo().path, path.join(other, 'animatorch.libtorch-0_9_0.cpu.napi.glibc.node')); // no sidecar
    const choice = chooseAddon(root);
    expect(choice.kind).toBe('prebuild');
    expect(path.basename(choice.path)).toBe('animatorch.libtorch-1_0_0.cpu.napi.glibc.node');
    expect(choice.reason).toContain(`found in ${dir}`);
    const why = Object.fromEntries(choice.rejected.map((r) => [r.file, r.why]));
    expect(why['animatorch.libtorch-9_1_0.cpu.napi.glibc.node']).toMatch(/built for libtorch 9\.1\.0 \(cpu\), which is not installed/);
    expect(why['animatorch.libtorch-1_0_0.cpu.napi.musl.node']).toMatch(/another runtime or C library/);
    // sorted newest first, so the sidecar-less 0_9_0 was never reached
    expect(why['animatorch.libtorch-0_9_0.cpu.napi.glibc.node']).toBeUndefined();
  });

  it('prefers a local build, and fails with every reason when nothing fits', () => {
    const root = packageWith('animatorch.libtorch-9_1_0.cpu.napi.glibc.node', { libtorch: '9.1.0', flavour: 'cpu', cxx11Abi: true, libDir: '/nonexistent', needed: ['libtorch_cpu.so.9.1'] });
    expect(() => chooseAddon(root)).toThrow(/No native build was found.*\n.*animatorch\.libtorch-9_1_0\.cpu\.napi\.glibc\.node: built for libtorch 9\.1\.0 \(cpu\), which is not installed/);
    mkdirSync(path.join(root, 'build', 'Release'), { recursive: true });
    copyFileSync(addonInfo().path, path.join(root, 'build', 'Release', 'animatorch.node'));
    expect(chooseAddon(root)).toMatchObject({ kind: 'local build', rejected: [] });
    const bare = mkdtempSync(path.join(tmp, 'bare-'));
    expect(() => chooseAddon(bare)).toThrow(/nothing in build\/Release, and no prebuilds/);
  });

  it('honours LIBTORCH, checks unversioned libraries against version.py, and says when only LD_LIBRARY_PATH would reach them', () => {
    const torch = path.join(tmp, 'venv', 'torch');
    const lib = path.join(torch, 'lib');
    mkdirSync(lib, { recursive: true });
    writeFileSync(path.join(lib, 'libtorch_cpu.so'), '');
    writeFileSync(path.join(torch, 'version.py'), "__version__ = '2.14.1+cu126'\n");
    const meta: PrebuildMeta = { libtorch: '2.15.0', flavour: 'cu128', cxx11Abi: true, libDir: '/home/builder/venv/torch/lib', needed: ['libtorch_cpu.so'] };
    process.env.LIBTORCH = torch;
    expect(matchLibtorch(meta)).toEqual({ ok: false, why: `built for libtorch 2.15.0 (cu128); ${lib} holds libtorch 2.14.1+cu126` });
    writeFileSync(path.join(torch, 'version.py'), "__version__ = '2.15.0+cu128'\n");
    expect(matchLibtorch(meta)).toMatchObject({ ok: false, why: expect.stringContaining(`start node with LD_LIBRARY_PATH=${lib}`) });
    process.env.LD_LIBRARY_PATH = lib;
    expect(matchLibtorch(meta)).toEqual({ ok: true, dir: lib });
  });
});
