/**
 * The package as an app developer gets it: `npm pack`, then `npm install <tarball>` into a
 * scratch app with cmake, g++ and make replaced by traps, so a compile would fail the test.
 * Run by `npm run test:package` (after `npm run prebuilds`), in CI.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-package-'));
const app = path.join(tmp, 'app');
const traps = path.join(tmp, 'no-compilers');
const trapLog = path.join(tmp, 'compiler-calls.log');
const TOOLS = ['cmake', 'make', 'ninja', 'gcc', 'g++', 'cc', 'c++'];
// The traps come first on PATH, so any build step runs one of them instead of the real tool.
const env = { ...process.env, PATH: `${traps}${path.delimiter}${process.env.PATH}`, npm_config_audit: 'false', npm_config_fund: 'false' };
let tarball = '';

// Asynchronous, so vitest's worker keeps answering its runner through minutes of npm.
async function run(cmd: string, args: string[], cwd: string): Promise<{ stdout: string }> {
  return promisify(execFile)(cmd, args, { cwd, env, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 * 2 ** 20 });
}

function seconds(since: bigint): string {
  return (Number(process.hrtime.bigint() - since) / 1e9).toFixed(1);
}

beforeAll(async () => {
  const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (!existsSync(prebuilds) || !readdirSync(prebuilds).some((f) => f.endsWith('.node')))
    throw new Error(`no prebuild in ${prebuilds}: run \`npm run prebuilds\` first (npm run test:package does)`);
  mkdirSync(traps);
  for (const tool of TOOLS) {
    const trap = path.join(traps, tool);
    writeFileSync(trap, `#!/bin/sh\necho "${tool} $*" >> '${trapLog}'\necho "${tool} is hidden by the package test" >&2\nexit 127\n`);
    chmodSync(trap, 0o755);
  }
  let t = process.hrtime.bigint();
  const { stdout: packed } = await run('npm', ['pack', '--silent', '--pack-destination', tmp], root);
  tarball = path.join(tmp, packed.trim().split('\n').pop()!);
  console.log(`npm pack: ${path.basename(tarball)}, ${(statSync(tarball).size / 2 ** 20).toFixed(1)} MiB, ${seconds(t)} s`);

  // npm fetches the package's npm dependencies into its cache once (a throwaway app), so the
  // install under test runs --offline: it can download nothing at all.
  const warm = path.join(tmp, 'warm');
  mkdirSync(warm);
  writeFileSync(path.join(warm, 'package.json'), '{"name":"warm","version":"1.0.0","private":true}');
  await run('npm', ['install', '--ignore-scripts', tarball], warm);

  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), '{"name":"scratch-app","version":"1.0.0","private":true}');
  t = process.hrtime.bigint();
  const install = await run('npm', ['install', '--offline', '--foreground-scripts', tarball], app);
  console.log(`npm install --offline <tarball>: ${seconds(t)} s\n${install.stdout.split('\n').filter((l) => l.includes('animatorch:')).join('\n')}`);
}, 600_000);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the packed package in a scratch app, without a compiler', () => {
  it('packs dist/, the prebuild and its sidecar, the assets and the demo model, and nothing of build/', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of ['package/dist/index.js', 'package/dist/index.mjs', 'package/dist/index.d.ts', 'package/dist/cli/cli.js', 'package/assets/clip/bpe_simple_vocab_16e6.txt.gz', 'package/models/demo/model.yaml', 'package/models/demo/unet/model.pt'])
      expect(listing).toContain(f);
    expect(listing.some((f) => /^package\/prebuilds\/linux-x64\/animatorch\.libtorch-[\d_]+\.cpu\.napi\.glibc\.node$/.test(f))).toBe(true);
    expect(listing.some((f) => /^package\/prebuilds\/linux-x64\/animatorch\..*\.json$/.test(f))).toBe(true);
    expect(listing.some((f) => f.startsWith('package/build/'))).toBe(false);
  });

  it('installed without calling a compiler, and chose the prebuild', async () => {
    expect(existsSync(trapLog) ? readFileSync(trapLog, 'utf8') : '').toBe('');
    const installed = path.join(app, 'node_modules', 'animatorch');
    expect(existsSync(path.join(installed, 'build'))).toBe(false);
    const doctor = (await run('npx', ['animatorch', 'doctor'], app)).stdout;
    expect(doctor).toMatch(/\[ok {2}\] addon file: prebuild prebuilds\/linux-x64\/animatorch\.libtorch-[\d_]+\.cpu\.napi\.glibc\.node: prebuilt for libtorch/);
  });

  it('renders with the demo model through npx', async () => {
    await run('npx', ['animatorch', 'render', '--prompt', 'a red circle moving right', '--seed', '7', '--out', 'demo.gif'], app);
    const meta = await sharp(path.join(app, 'demo.gif'), { pages: -1 }).metadata();
    expect(meta.pages).toBe(8);
    expect([meta.width, meta.pageHeight]).toEqual([64, 64]);
    const { data } = await sharp(path.join(app, 'demo.gif'), { page: 0 }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let red = 0;
    for (let i = 0; i < data.length; i += 3) if (data[i]! > 150 && data[i + 1]! < 100 && data[i + 2]! < 100) red++;
    expect(red).toBeGreaterThan(20); // the demo model draws the red circle it was asked for
  });

  it('imports through ESM and through CommonJS, sharing one addon', async () => {
    const esm = (await run(process.execPath, ['--input-type=module', '-e', "import { addonInfo, tensor } from 'animatorch'; const t = tensor(new Float32Array([1, 2]), [2]); console.log(addonInfo().kind, (await t.mul(3).toArray()).join(','));"], app)).stdout;
    expect(esm.trim()).toBe('prebuild 3,6');
    const cjs = (await run(process.execPath, ['-e', "const a = require('animatorch'); a.tensor(new Float32Array([4]), [1]).add(1).toArray().then((v) => console.log(a.addonInfo().kind, v[0]));"], app)).stdout;
    expect(cjs.trim()).toBe('prebuild 5');
  });

  it('type-checks an app that uses loadPipeline and generate with tsc --noEmit --strict', async () => {
    writeFileSync(
      path.join(app, 'app.ts'),
      [
        "import { loadPipeline, writeVideo } from 'animatorch';",
        'export async function main(): Promise<number> {',
        "  const pipe = await loadPipeline('node_modules/animatorch/models/demo', { device: 'cpu' });",
        "  const video = await pipe.generate({ prompt: 'a red circle moving right', seed: '10589116295929063558', numInferenceSteps: 2 });",
        "  await writeVideo(video.frames, video.shape, video.fps, 'out.gif');",
        '  pipe.dispose();',
        '  return video.shape[0];',
        '}',
        '',
      ].join('\n'),
    );
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'), 'app.ts'], app);
    // and the checker is real: a wrong option name fails
    writeFileSync(path.join(app, 'bad.ts'), "import { loadPipeline } from 'animatorch';\nvoid loadPipeline('m', { device: 'cpu', dtipe: 'float16' });\n");
    const bad = await run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'), 'bad.ts'], app).then(
      () => ({ failed: false, stdout: '' }),
      (err: { stdout: string }) => ({ failed: true, stdout: err.stdout }),
    );
    expect(bad.failed).toBe(true);
    expect(bad.stdout).toMatch(/dtipe/);
  });
});
