// `animatorch render` end to end on a tiny random model: files, recipes,
// re-rendering from a recipe, YAML configs, abort and bad arguments.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { AbortError, getNumThreads, setNumThreads } from '../lib';
import { render, type RenderArgs } from '../lib/render/render';
import { exportedModel, repoRoot } from './utils/fixtures';

const run = promisify(execFile);
let model: string;
let out: string;
const quiet = { log: { write: () => true } as unknown as NodeJS.WritableStream };
const small = { steps: 2, frames: 4, width: 64, height: 64 } satisfies Partial<RenderArgs>;
/** The RenderArgs a few CLI flags stand for. */
const argsOf = (flags: readonly string[]): Partial<RenderArgs> => {
  const key = { '--steps': 'steps', '--frames': 'frames', '--guidance-scale': 'guidanceScale', '-W': 'width', '--scheduler': 'scheduler' } as const;
  const name = key[flags[0] as keyof typeof key];
  return { [name]: name === 'scheduler' ? flags[1] : Number(flags[1]) };
};
const gifPixels = async (file: string) => sharp(file, { pages: -1 }).raw().toBuffer();

beforeAll(async () => {
  model = await exportedModel('tiny-v2', 0);
  out = mkdtempSync(path.join(os.tmpdir(), 'animatorch-render-'));
});

describe('render', () => {
  it('writes one GIF per seed with an exact 64-bit seed in its recipe, and re-renders from that recipe', async () => {
    const seeds = ['7', '10589116295929063558'];
    const done = await render({ ...small, model, prompt: 'a red circle moving right', seed: seeds, out: path.join(out, 'v.gif') }, quiet);
    expect(done.map((d) => path.basename(d.file))).toEqual(['v-0-7.gif', 'v-1-10589116295929063558.gif']);
    for (const d of done) {
      expect(existsSync(d.file)).toBe(true);
      const sidecar = JSON.parse(readFileSync(`${d.file}.json`, 'utf8'));
      expect(sidecar.seed).toBe(d.recipe.seed);
      expect(sidecar).toMatchObject({ prompt: 'a red circle moving right', steps: 2, frames: 4, width: 64, height: 64, scheduler: { className: 'DDIMScheduler' } });
      expect(sidecar.model.files['unet/model.pt'].sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(done[1]!.recipe.seed).toBe('10589116295929063558');
    const [info] = [await sharp(done[0]!.file, { pages: -1 }).metadata()];
    expect(info.pages).toBe(4);

    const again = await render({ recipe: `${done[1]!.file}.json`, out: path.join(out, 'again.gif') }, quiet);
    expect(again[0]!.recipe.seed).toBe('10589116295929063558');
    expect((await gifPixels(again[0]!.file)).equals(await gifPixels(done[1]!.file))).toBe(true);
    expect((await gifPixels(done[0]!.file)).equals(await gifPixels(done[1]!.file))).toBe(false);
  });

  it('--recipe: points to the per-seed sidecars, never overwrites without --force, warns about every difference', async () => {
    const dir = path.join(out, 'recipes');
    const done = await render({ ...small, steps: 1, model, prompt: 'a dot', seed: ['7', '8'], out: path.join(dir, 'v.gif') }, quiet);
    const names = done.map((d) => `${d.file}.json`);
    await expect(render({ recipe: path.join(dir, 'v.gif.json') }, quiet)).rejects.toThrow(
      `--recipe: expected one recipe file; a render of several seeds writes one per video: ${names.join(', ')}, got "${path.join(dir, 'v.gif.json')}"`,
    );
    const before = await gifPixels(done[0]!.file);
    await expect(render({ recipe: names[0]! }, quiet)).rejects.toThrow(`--out: expected a path that does not exist yet (${done[0]!.file} exists; --force overwrites it)`);
    const [again] = await render({ recipe: names[0]!, force: true }, quiet);
    expect(again!.file).toBe(done[0]!.file);
    expect((await gifPixels(again!.file)).equals(before)).toBe(true);

    const changed = JSON.parse(readFileSync(names[1]!, 'utf8'));
    changed.versions.libtorch = '9.9.9';
    changed.extra.device = 'cuda';
    changed.model.files['unet/model.pt'].sha256 = '0'.repeat(64);
    const edited = path.join(dir, 'edited.json');
    writeFileSync(edited, JSON.stringify(changed));
    const logged: string[] = [];
    await render({ recipe: edited, out: path.join(dir, 'edited.gif') }, { log: { write: (t: string) => logged.push(t) > 0 } as unknown as NodeJS.WritableStream });
    const warnings = logged.join('').split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(/^warning: recipe edited\.json: model file unet\/model\.pt: sha256 [0-9a-f]{12}… differs from the recipe's 000000000000…; the frames may differ$/);
    expect(warnings[1]).toMatch(/^warning: recipe edited\.json: libtorch: the recipe has 9\.9\.9, this render \S+; the frames may differ$/);
    expect(warnings[2]).toBe('warning: recipe edited.json: device: the recipe has cuda, this render cpu; the frames may differ');
  });

  it('renders every prompt of an AnimateDiff-style YAML config and a sample grid', async () => {
    const config = path.join(out, 'prompts.yaml');
    writeFileSync(
      config,
      [
        'Demo:',
        `  model: ${JSON.stringify(model)}`,
        '  steps: 2',
        '  guidance_scale: 7.5',
        '  W: 64',
        '  H: 64',
        '  L: 4',
        '  seed: [1, 2]',
        '  prompt:',
        '    - "a red circle moving right"',
        '    - "a blue square moving up"',
        '  n_prompt:',
        '    - "blurry"',
      ].join('\n'),
    );
    const dir = path.join(out, 'samples');
    const done = await render({ config, out: dir }, quiet);
    expect(done).toHaveLength(2);
    expect(readdirSync(dir).sort()).toEqual(['0-a-red-circle-moving-right.gif', '0-a-red-circle-moving-right.gif.json', '1-a-blue-square-moving-up.gif', '1-a-blue-square-moving-up.gif.json', 'sample.gif']);
    expect(done.map((d) => d.recipe.seed)).toEqual(['1', '2']);
    expect(done[1]!.recipe.negativePrompt).toBe('blurry');
  });

  it('renders a config entry with free_init, records it in the recipe and re-renders the same frames from it', async () => {
    const config = path.join(out, 'free-init.yaml');
    writeFileSync(config, ['FreeInit:', `  model: ${JSON.stringify(model)}`, '  steps: 2', '  W: 64', '  H: 64', '  L: 4', '  seed: 5', '  prompt: ["a red circle moving right"]', '  free_init: { iterations: 2, method: gaussian }'].join('\n'));
    const dir = path.join(out, 'free-init');
    const logged: string[] = [];
    const [done] = await render({ config, out: dir }, { log: { write: (t: string) => logged.push(t) > 0 } as unknown as NodeJS.WritableStream });
    expect(done!.recipe.extra?.freeInit).toEqual({ iterations: 2, method: 'gaussian', order: 4, spatialStopFrequency: 0.25, temporalStopFrequency: 0.25, fastSampling: false });
    expect(logged.join('')).toMatch(/FreeInit 2\/2 denoise 2\/2/);
    const plain = await render({ ...small, model, prompt: 'a red circle moving right', seed: ['5'], out: path.join(dir, 'plain.gif') }, quiet);
    expect((await gifPixels(plain[0]!.file)).equals(await gifPixels(done!.file))).toBe(false);
    const again = await render({ recipe: `${done!.file}.json`, out: path.join(dir, 'again.gif') }, quiet);
    expect((await gifPixels(again[0]!.file)).equals(await gifPixels(done!.file))).toBe(true);
  });

  it('checks every path of every config entry before any work, listing all missing ones; --model overrides them', async () => {
    const config = path.join(out, 'animatediff-style.yaml');
    writeFileSync(
      config,
      [
        'ToonYou:',
        '  dreambooth_path: "models/DreamBooth_LoRA/toonyou_beta3.safetensors"',
        '  motion_module: ["models/Motion_Module/mm_sd_v15_v2.ckpt"]',
        '  seed: [1]',
        '  steps: 1',
        '  prompt: ["a dot"]',
        'Lyriel:',
        '  path: "models/DreamBooth_LoRA/lyriel_v16.safetensors"',
        `  motion_module: [${JSON.stringify(path.join(out, 'nowhere', 'mm.ckpt'))}]`,
        '  lora_model_path: "models/lora/missing.safetensors"',
        '  seed: [2]',
        '  steps: 1',
        '  prompt: ["a square"]',
      ].join('\n'),
    );
    const logged: string[] = [];
    const log = { write: (t: string) => logged.push(t) > 0 } as unknown as NodeJS.WritableStream;
    const err = await render({ config, out: path.join(out, 'never') }, { log }).catch((e) => e);
    expect(err.message).toBe(
      [
        `${config}: 5 paths do not exist (nothing was exported or rendered; --model MODEL renders every entry with one exported model instead):`,
        `  entry "ToonYou": path / dreambooth_path: ${path.resolve('models/DreamBooth_LoRA/toonyou_beta3.safetensors')}`,
        `  entry "ToonYou": motion_module: ${path.resolve('models/Motion_Module/mm_sd_v15_v2.ckpt')}`,
        `  entry "Lyriel": path / dreambooth_path: ${path.resolve('models/DreamBooth_LoRA/lyriel_v16.safetensors')}`,
        `  entry "Lyriel": motion_module: ${path.join(out, 'nowhere', 'mm.ckpt')}`,
        `  entry "Lyriel": lora_model_path: ${path.resolve('models/lora/missing.safetensors')}`,
      ].join('\n'),
    );
    expect(logged.join('')).not.toMatch(/export/);
    // --model replaces every entry's model, with its model.yaml defaults
    const done = await render({ config, model, frames: 2, width: 64, height: 64, out: path.join(out, 'overridden') }, { log });
    expect(done.map((d) => d.recipe.model.dir)).toEqual([model, model]);
    expect(logged.join('')).toContain(`note: ${config}: entry "ToonYou": --model ${model} replaces its model (and any motion module or LoRA it names)`);
  });

  it("fills what a config leaves out from the flags, then the model's model.yaml defaults", async () => {
    const config = path.join(out, 'demo-prompts.yaml');
    writeFileSync(config, '- prompt: ["a red circle moving right"]\n  seed: 3\n');
    const [done] = await render({ config, steps: 2, out: path.join(out, 'demo-samples') }, quiet);
    // the bundled demo model's defaults: 64x64, 8 frames, guidance 6 (AnimateDiff's would be 512x512, 16, 7.5)
    expect(done!.recipe).toMatchObject({ model: { name: 'animatorch-demo' }, steps: 2, width: 64, height: 64, frames: 8, guidanceScale: 6 });
  });

  it('stops on abort and leaves no file behind', async () => {
    const ctrl = new AbortController();
    const target = path.join(out, 'aborted.gif');
    const p = render({ ...small, steps: 6, model, prompt: 'x', seed: ['1'], out: target }, { ...quiet, signal: ctrl.signal });
    setTimeout(() => ctrl.abort(), 50);
    await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(readdirSync(out).filter((f) => f.startsWith('aborted'))).toEqual([]);
  });

  it('rejects bad arguments before doing any work', async () => {
    await expect(render({ model, prompt: 'x', out: path.join(out, 'x.avi') }, quiet)).rejects.toThrow(/^--out: expected a \.gif, \.webp or \.mp4 file, or a folder \(no extension\) for PNG frames; '\.avi' is not a known format/);
    await expect(render({ model, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/--prompt: expected a prompt/);
    await expect(render({ model, prompt: 'x', seed: [2 ** 60], out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/--seed/);
    await expect(render({ model, prompt: 'x', device: 'gpu', out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/--device/);
    await expect(render({ model, prompt: 'x', threads: 0, out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow('--threads: expected an integer >= 1, got 0');
    await expect(render({ ...small, model: path.join(out, 'nowhere'), prompt: 'x', out: path.join(out, 'x.gif') }, quiet)).rejects.toThrow(/model\.yaml/);
  });

  it('finds a bad --out before loading anything, naming --out and not a temp file', async () => {
    const logged: string[] = [];
    const log = { write: (t: string) => logged.push(t) > 0 } as unknown as NodeJS.WritableStream;
    const aFile = path.join(out, 'a-file');
    writeFileSync(aFile, 'x');
    await expect(render({ ...small, model, prompt: 'x', out: path.join(aFile, 'sub', 'v.gif') }, { log })).rejects.toThrow(`--out: expected a path in a folder, but ${aFile} is a file`);
    await expect(render({ ...small, model, prompt: 'x', out: aFile }, { log })).rejects.toThrow(`--out: expected a folder for PNG frames, but ${aFile} is a file`);
    const aFolder = path.join(out, 'folder.gif');
    mkdirSync(aFolder);
    await expect(render({ ...small, model, prompt: 'x', out: aFolder }, { log })).rejects.toThrow(`--out: expected a gif file, but ${aFolder} is a folder`);
    // /proc takes no new files, even from root (permission bits would not stop root)
    const err = await render({ ...small, model, prompt: 'x', out: '/proc/animatorch-out/v.gif' }, { log }).catch((e) => e);
    expect(err.message).toMatch(/^--out: expected a writable location, but files cannot be created in \/proc \(E[A-Z]+\)/);
    expect(err.message).not.toMatch(/\.tmp/);
    expect(logged.join('')).not.toMatch(/loading/);
  });

  it('stops on SIGTERM as on Ctrl-C: a clear message, nothing written, exit code 143', async () => {
    const dir = path.join(out, 'sigterm');
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'animatorch.js'), 'render', '--model', model, '--prompt', 'x', '--seed', '1', '--steps', '500', '-W', '64', '-H', '64', '--frames', '4', '--out', path.join(dir, 'v.gif')]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (/denoise 1\//.test(stderr) && !child.killed) child.kill('SIGTERM');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toMatch(/denoise 1\//);
    expect(stderr).not.toMatch(/denoise 500\/500/);
    expect(stderr).toMatch(/animatorch: terminated \(SIGTERM\); nothing was written\n$/);
    expect(code).toBe(143);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
  });

  it('sets the CPU threads with --threads', async () => {
    const before = getNumThreads();
    try {
      await render({ ...small, model, prompt: 'x', seed: ['1'], threads: 2, out: path.join(out, 'threads.gif') }, quiet);
      expect(getNumThreads()).toBe(2);
    } finally {
      setNumThreads(before);
    }
  });

  it("renders with the bundled demo model by default (the README's quick start)", async () => {
    const file = path.join(out, 'demo.gif');
    const [done] = await render({ prompt: 'a red circle moving right', seed: ['1'], steps: 4, out: file }, quiet);
    expect(done!.recipe.model.name).toBe('animatorch-demo');
    const meta = await sharp(file, { pages: -1 }).metadata();
    expect(meta.width).toBe(done!.recipe.width);
    expect(meta.pages).toBe(done!.recipe.frames);
  });

  it('runs as a command: exit code 0 and a file, or 1 and a one-line reason', async () => {
    const cli = path.join(repoRoot, 'bin', 'animatorch.js');
    const file = path.join(out, 'cli.webp');
    await run(process.execPath, [cli, 'render', '--model', model, '--prompt', 'a dot', '--steps', '1', '--frames', '2', '-W', '64', '-H', '64', '--seed', '3', '--out', file]);
    expect(existsSync(file)).toBe(true);
    const err = await run(process.execPath, [cli, 'render', '--model', model, '--prompt', 'x', '--steps', '0', '--out', path.join(out, 'y.gif')]).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toBe('animatorch: --steps: expected an integer >= 1, got 0\n');
    const unknown = await run(process.execPath, [cli, 'render', '--bogus']).catch((e) => e);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^animatorch: Unknown argument: bogus\n/);
  });

  it('prints an error once, naming the flag, before loading; the stack only with --verbose or DEBUG=animatorch', async () => {
    const cli = path.join(repoRoot, 'bin', 'animatorch.js');
    const bad = ['render', '--model', model, '--prompt', 'x', '--fps', '0', '--out', path.join(out, 'never.gif')];
    const plain = await run(process.execPath, [cli, ...bad]).catch((e) => e);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toBe('animatorch: --fps: expected a number > 0, got 0\n'); // no "loading ..." line: nothing loaded
    const verbose = await run(process.execPath, [cli, ...bad, '--verbose']).catch((e) => e);
    expect(verbose.stderr).toMatch(/^animatorch: --fps: expected a number > 0, got 0\nInvalidParameterError: --fps: [^\n]*\n\s+at /);
    expect(verbose.stderr.match(/expected a number > 0/g)).toHaveLength(2); // the message, then the stack's first line
    const debug = await run(process.execPath, [cli, ...bad], { env: { ...process.env, DEBUG: 'animatorch' } }).catch((e) => e);
    expect(debug.stderr).toBe(verbose.stderr);
    for (const [flags, message] of [
      [['--steps', '0'], '--steps: expected an integer >= 1, got 0'],
      [['--frames', '0'], '--frames: expected an integer >= 1, got 0'],
      [['--guidance-scale', '-1'], '--guidance-scale: expected a number >= 0, got -1'],
      [['-W', '65'], '--width: expected a multiple of 8, got 65'],
      [['--scheduler', 'Nope'], '--scheduler: expected one of'],
    ] as const) {
      const err = await render({ model, prompt: 'x', ...small, ...argsOf(flags), out: path.join(out, 'never.gif') }, quiet).catch((e) => e);
      expect(err.message).toContain(message);
    }
    expect(existsSync(path.join(out, 'never.gif'))).toBe(false);
  });

  it('suggests the command a misspelled one meant, in one message', async () => {
    const err = await run(process.execPath, [path.join(repoRoot, 'bin', 'animatorch.js'), 'rendr']).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toBe("animatorch: unknown command 'rendr'. Did you mean render?\nRun 'animatorch --help' (or 'animatorch <command> --help') for usage.\n");
  });

  it('takes --seed -1 as a random seed, as prompt configs do', async () => {
    const a = await render({ ...small, steps: 1, model, prompt: 'x', seed: ['-1'], out: path.join(out, 'random-a.gif') }, quiet);
    const b = await render({ ...small, steps: 1, model, prompt: 'x', seed: [-1], out: path.join(out, 'random-b.gif') }, quiet);
    for (const r of [a[0]!, b[0]!]) expect(BigInt(r.recipe.seed)).toBeLessThan(1n << 63n);
    expect(a[0]!.recipe.seed).not.toBe(b[0]!.recipe.seed);
  });
});
