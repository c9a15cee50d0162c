/**
 * Chooses which compiled addon to load. libtorch has no stable C++ ABI across versions, and
 * its libraries are not ours to ship (hundreds of MB to GBs), so a prebuilt addon is only
 * usable beside the exact libtorch it was built against. Each prebuild therefore carries tags
 * in its file name (`animatorch.libtorch-1_13_0.cpu.napi.glibc.node`, node-gyp-build's
 * naming with two tags of ours) and a JSON sidecar saying which libtorch libraries it links
 * and where it found them. Order: a local build (npm install / npm rebuild compiled one
 * here), then the first prebuild whose libtorch is present; otherwise one Error says what was
 * found and what to do.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** What a prebuild was built against: written by scripts/prebuild.mjs as `<file>.json`. */
export interface PrebuildMeta {
  /** TORCH_VERSION of the headers it was compiled with, e.g. '1.13.0', '2.15.0'. */
  libtorch: string;
  /** 'cpu', or 'cu' + CUDA version digits ('cu128') for a CUDA libtorch. */
  flavour: string;
  cxx11Abi: boolean;
  /** The directory its RUNPATH names: where the dynamic linker looks for libtorch first. */
  libDir: string;
  /** libtorch's and c10's libraries it links (its DT_NEEDED entries), e.g. 'libtorch_cpu.so.1.13'. */
  needed: string[];
}

export interface AddonChoice {
  path: string;
  kind: 'local build' | 'prebuild';
  /** Why this one was chosen, for `animatorch doctor`. */
  reason: string;
  meta?: PrebuildMeta;
  /** Prebuilds passed over, each with the reason. */
  rejected: Array<{ file: string; why: string }>;
}

/** Where the dynamic linker finds libraries without a RUNPATH or LD_LIBRARY_PATH. */
export function systemLibDirs(arch = process.arch): string[] {
  const triplet = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[arch as 'x64' | 'arm64'];
  return [...(triplet ? [`/usr/lib/${triplet}`, `/lib/${triplet}`] : []), '/usr/local/lib', '/usr/lib', '/lib', '/usr/lib64'];
}

/**
 * The version of the libtorch whose libraries sit in `libDir`: a pip torch keeps it in
 * ../version.py, a libtorch zip in ../build-version, Debian in the library's file name.
 */
export function libtorchVersionAt(libDir: string): string | undefined {
  const up = path.dirname(libDir);
  const pyVersion = path.join(up, 'version.py');
  if (existsSync(pyVersion)) {
    const text = readFileSync(pyVersion, 'utf8');
    const m = /^__version__\s*=\s*['"]([^'"]+)['"]/m.exec(text);
    // PyPI's default CUDA wheel has no '+cu128' in its version; its `cuda = '12.8'` line says it.
    const cuda = /^cuda\s*(?::[^=]*)?=\s*['"](\d+)\.(\d+)/m.exec(text);
    if (m) return m[1]!.includes('+') || !cuda ? m[1] : `${m[1]}+cu${cuda[1]}${cuda[2]}`;
  }
  const buildVersion = path.join(up, 'build-version');
  if (existsSync(buildVersion)) return readFileSync(buildVersion, 'utf8').trim();
  let names: string[] = [];
  try {
    names = readdirSync(libDir);
  } catch {
    return undefined;
  }
  const versioned = names.map((n) => /^libtorch_cpu\.so\.(\d+\.\d+\.\d+)$/.exec(n)?.[1]).find(Boolean);
  return versioned;
}

/** The libtorch tags of a version string: '2.15.0+cu128' -> 2_15_0 / cu128; CPU unless CUDA is named or linked. */
export function libtorchTags(version: string, cuda: boolean): { version: string; flavour: string } {
  const [base, local] = version.split('+');
  const cu = /^cu\d+$/.test(local ?? '') ? local! : undefined;
  const numbers = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(base ?? version);
  return { version: numbers ? [numbers[1], numbers[2], numbers[3] ?? '0'].join('_') : (base ?? version), flavour: cuda ? (cu ?? 'cuda') : 'cpu' };
}

function ldLibraryPath(): string[] {
  return (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
}

/**
 * Whether the libtorch a prebuild needs is where the dynamic linker will look: its RUNPATH,
 * LD_LIBRARY_PATH, or the system's directories. With LIBTORCH set, only that one counts.
 */
export function matchLibtorch(meta: PrebuildMeta): { ok: true; dir: string } | { ok: false; why: string } {
  const wanted = process.env.LIBTORCH ? [path.join(process.env.LIBTORCH, 'lib')] : [meta.libDir, ...ldLibraryPath(), ...systemLibDirs()];
  const reachable = new Set([meta.libDir, ...ldLibraryPath(), ...systemLibDirs()].map((d) => path.resolve(d)));
  const label = `libtorch ${meta.libtorch} (${meta.flavour})`;
  for (const dir of [...new Set(wanted.map((d) => path.resolve(d)))]) {
    if (!meta.needed.every((lib) => existsSync(path.join(dir, lib)))) continue;
    const found = libtorchVersionAt(dir);
    // Versioned sonames (Debian's libtorch_cpu.so.1.13) already pin the version; unversioned ones (pip, zip) need the check.
    const tags = found && libtorchTags(found, meta.flavour !== 'cpu');
    if (tags && (tags.version !== libtorchTags(meta.libtorch, false).version || (found.includes('+') && tags.flavour !== meta.flavour)))
      return { ok: false, why: `built for ${label}; ${dir} holds libtorch ${found}` };
    if (!reachable.has(dir))
      return { ok: false, why: `built for ${label}, found in ${dir}, which the dynamic linker does not search (start node with LD_LIBRARY_PATH=${dir})` };
    return { ok: true, dir };
  }
  return { ok: false, why: `built for ${label}, which is not installed (${meta.needed[0] ?? 'libtorch'} is in none of ${process.env.LIBTORCH ? `LIBTORCH=${process.env.LIBTORCH}` : `${meta.libDir}, LD_LIBRARY_PATH, the system's library directories`})` };
}

/** Picks the addon to load from a package root; throws an Error that lists what was tried. */
export function chooseAddon(root: string): AddonChoice {
  const local = path.join(root, 'build', 'Release', 'animatorch.node');
  if (existsSync(local)) return { path: local, kind: 'local build', reason: 'compiled in this package by npm install / npm rebuild (build/Release), which takes precedence over prebuilds', rejected: [] };
  const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gyp = require('node-gyp-build') as { parseTags(file: string): object | undefined; matchTags(runtime: string, abi: string): (tags: object | undefined) => boolean };
  const runtimeMatches = gyp.matchTags('node', process.versions.modules);
  const rejected: AddonChoice['rejected'] = [];
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.node')).sort((a, b) => b.localeCompare(a, 'en', { numeric: true })) : [];
  for (const file of files) {
    if (!runtimeMatches(gyp.parseTags(file))) {
      rejected.push({ file, why: 'built for another runtime or C library' });
      continue;
    }
    const sidecar = path.join(dir, file.replace(/\.node$/, '.json'));
    if (!existsSync(sidecar)) {
      rejected.push({ file, why: `no ${path.basename(sidecar)} says which libtorch it needs` });
      continue;
    }
    const meta = JSON.parse(readFileSync(sidecar, 'utf8')) as PrebuildMeta;
    const match = matchLibtorch(meta);
    if (!match.ok) {
      rejected.push({ file, why: match.why });
      continue;
    }
    return { path: path.join(dir, file), kind: 'prebuild', reason: `prebuilt for libtorch ${meta.libtorch} (${meta.flavour}), found in ${match.dir}`, meta, rejected };
  }
  throw new Error(noAddonMessage(dir, files.length, rejected));
}

function noAddonMessage(dir: string, count: number, rejected: AddonChoice['rejected']): string {
  const lines = [`No native build was found for ${process.platform}-${process.arch}: nothing in build/Release, and ${count ? `none of the ${count} prebuild(s) in ${dir} fits this machine:` : `no prebuilds in ${dir}.`}`];
  for (const r of rejected) lines.push(`  ${r.file}: ${r.why}`);
  return lines.join('\n');
}
