// ControlNet: generate({ controlnet }) against diffusers' AnimateDiffControlNetPipeline on the tiny random model
// and random tiny ControlNets (weights mapped onto diffusers' models): test/fixtures/animatediff-controlnet.json,
// written by scripts/reference/animatediff_controlnet.py.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiffusersCase, generateAsReference, loadFixturePipeline, readDiffusersFixture, worstDifference } from './utils/diffusers-fixture';
import { InvalidParameterError } from '../lib/errors';
import type { AnimateDiffPipeline } from '../lib/pipelines/animatediff';
import type { ControlNetOptions } from '../lib/pipelines/controlnet';
import { controlnetKeep } from '../lib/pipelines/controlnet';
import { type ControlNet, loadControlNet, readControlNetManifest } from '../lib/pipelines/controlnet-model';
import { buildExportArgs, exportModel } from '../lib/model-export';
import { loadPipeline } from '../lib/pipelines/load-pipeline';
import { createGenerator } from '../lib/generator';
import { randn, tensor } from '../lib/tensor-factories';
import { repoRoot } from '../scripts/testing/exported-model';
import { exportedControlNet } from './utils/controlnet-fixture';
import { modelWithoutUnetInputs } from './utils/legacy-model';
import { python } from './utils/fixtures';

type Case = DiffusersCase & { guess_mode: boolean; controlnets: { seed: number; scale: number; guidance_start: number; guidance_end: number; pattern: number }[] };
const ref = readDiffusersFixture<Case>('animatediff-controlnet.json') as ReturnType<typeof readDiffusersFixture<Case>> & { guess_mode_cfg_fails: boolean };

/** The reference script's conditioning_frames(): uint8 [F, H, W, 3]. */
function conditioningFrames(pattern: number, f: number, h: number, w: number): Uint8Array {
  const out = new Uint8Array(f * h * w * 3);
  let i = 0;
  for (let k = 0; k < f; k++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) out[i++] = (29 * k + 7 * y + 11 * x + 60 * c + 90 * pattern + ((x * y) % 5) * 13) % 256;
  return out;
}

describe("ControlNet against diffusers' AnimateDiffControlNetPipeline", () => {
  let pipe: AnimateDiffPipeline;
  const nets = new Map<number, ControlNet>();
  const dirs = new Map<number, string>();
  const shape = [ref.num_frames, ref.height, ref.width, 3] as [number, number, number, 3];
  const frames = (pattern: number) => ({ frames: conditioningFrames(pattern, ref.num_frames, ref.height, ref.width), shape });
  beforeAll(async () => {
    pipe = await loadFixturePipeline(ref);
    for (const seed of [3, 4]) {
      dirs.set(seed, await exportedControlNet(seed));
      nets.set(seed, await loadControlNet(dirs.get(seed)!, { device: pipe.device }));
    }
  });
  afterAll(() => {
    pipe?.dispose();
    for (const n of nets.values()) n.dispose();
  });

  const controls = (c: Case): ControlNetOptions[] =>
    c.controlnets.map((n) => ({ model: nets.get(n.seed)!, frames: frames(n.pattern), scale: n.scale, guidanceStart: n.guidance_start, guidanceEnd: n.guidance_end, guessMode: c.guess_mode }));

  for (const [name, c] of Object.entries(ref.cases)) {
    it(`latents match diffusers (${name}, 1e-4 + 1e-4 relative)`, async () => {
      const r = await generateAsReference(pipe, ref, c, { controlnet: controls(c) });
      expect(r.shape).toEqual(c.shape);
      expect(await worstDifference(r, c, name)).toBeLessThan(1e-4);
    });
  }

  it('steers: scale 0 (or a ControlNet that is never on) renders what no ControlNet renders, scale 1 does not', async () => {
    const c = ref.cases['scale_1.0']!;
    const plain = await generateAsReference(pipe, ref, c);
    const zero = await generateAsReference(pipe, ref, c, { controlnet: [{ model: nets.get(3)!, frames: frames(0), scale: 0 }] });
    const one = await generateAsReference(pipe, ref, c, { controlnet: [{ model: nets.get(3)!, frames: frames(0) }] });
    const [a, b, d] = await Promise.all([plain, zero, one].map((r) => r.latents.toArray() as Promise<Float32Array>));
    expect(b).toEqual(a);
    expect(Math.max(...d!.map((v, i) => Math.abs(v - a![i]!)))).toBeGreaterThan(0.1);
    for (const r of [plain, zero, one]) r.latents.dispose();
  });

  it('loads a ControlNet folder given by path for the call, with the same result as a loaded one; frames as a Tensor too', async () => {
    const c = ref.cases['scale_1.0']!;
    const t = tensor(frames(0).frames, [...shape]);
    const r = await generateAsReference(pipe, ref, c, { controlnet: { model: dirs.get(3)!, frames: t } });
    expect(await worstDifference(r, c, 'by path')).toBeLessThan(1e-4);
    t.dispose();
  });

  it('guess mode under guidance gives the negative half no residuals (diffusers fails there)', async () => {
    expect(ref.guess_mode_cfg_fails).toBe(true);
    const c = ref.cases['scale_1.0']!;
    const plain = await generateAsReference(pipe, ref, c);
    const guess = await generateAsReference(pipe, ref, c, { controlnet: [{ model: nets.get(3)!, frames: frames(0), guessMode: true }] });
    const [a, b] = await Promise.all([plain, guess].map((r) => r.latents.toArray() as Promise<Float32Array>));
    expect(Math.max(...b!.map((v, i) => Math.abs(v - a![i]!)))).toBeGreaterThan(0.01);
    for (const r of [plain, guess]) r.latents.dispose();
  });

  it('slices the conditioning frames per context window: disjoint windows [0, 1], [2, 3] render frames 2, 3 as a 2-frame video of them', async () => {
    const c = ref.cases['two_controlnets']!;
    const latents = randn([1, 4, ref.num_frames, ref.height / 8, ref.width / 8], { generator: createGenerator(5) });
    const tail = latents.narrow(2, 2, 2).contiguous();
    const windowed = await generateAsReference(pipe, ref, c, { controlnet: controls(c), latents, contextLength: 2, contextOverlap: 0 });
    const sliced = (o: ControlNetOptions): ControlNetOptions => {
      const f = (o.frames as { frames: Uint8Array }).frames;
      const per = ref.height * ref.width * 3;
      return { ...o, frames: { frames: f.slice(2 * per, 4 * per), shape: [2, ref.height, ref.width, 3] } };
    };
    const short = await generateAsReference(pipe, ref, c, { controlnet: controls(c).map(sliced), latents: tail, numFrames: 2 });
    const got = windowed.latents.narrow(2, 2, 2).contiguous();
    const [a, b] = (await Promise.all([got.toArray(), short.latents.toArray()])) as Float32Array[];
    expect(Math.max(...a!.map((v, i) => Math.abs(v - b![i]!)))).toBeLessThan(1e-5);
    for (const t of [latents, tail, got, windowed.latents, short.latents]) t.dispose();
  });

  it('animatorch export --controlnet reads the original ControlNet 1.1 layout (.pth) and renders the same', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-cn-'));
    try {
      const pth = path.join(tmp, 'control_v11_tiny.pth');
      await python(`import sys, torch; sys.path.insert(0, ${JSON.stringify(path.join(repoRoot, 'scripts'))})
from export_controlnet import random_tiny_controlnet
from animatorch_export.controlnet_export import ours_to_ldm
net = random_tiny_controlnet(3)
torch.save({'control_model.' + k: v for k, v in ours_to_ldm(net.state_dict(), net.config).items()}, ${JSON.stringify(pth)})`);
      let log = '';
      const code = await exportModel({ controlnet: pth, out: path.join(tmp, 'cn') }, { onOutput: (s) => void (log += s) });
      expect(code, log).toBe(0);
      const c = ref.cases['scale_1.0']!;
      const r = await generateAsReference(pipe, ref, c, { controlnet: { model: path.join(tmp, 'cn'), frames: frames(0) } });
      expect(await worstDifference(r, c, 'exported from .pth')).toBeLessThan(1e-4);
      expect(() => buildExportArgs({ controlnet: pth, out: tmp, base: 'x' })).toThrow(/--base/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('controlnet_keep as diffusers computes it', () => {
    expect([0, 1, 2, 3, 4].map((i) => controlnetKeep(i, 5, 0.2, 0.7))).toEqual([0, 1, 1, 0, 0]);
    expect([0, 1, 2].map((i) => controlnetKeep(i, 3, 0, 1))).toEqual([1, 1, 1]);
  });

  it('reads controlnet.yaml', async () => {
    const m = await readControlNetManifest(dirs.get(3)!);
    expect(m).toMatchObject({ kind: 'controlnet', inChannels: 4, conditioningChannels: 3, crossAttentionDim: 32, residualChannels: [32, 32, 32, 64, 64] });
  });

  it('resizes frames of another size as diffusers resizes arrays (nearest): frames at twice the size render as their every other pixel', async () => {
    const c = ref.cases['scale_1.0']!;
    const [f, h, w] = [ref.num_frames, ref.height, ref.width];
    const small = frames(0).frames;
    // nearest from 2H x 2W to H x W reads source pixel (2y, 2x): put the frames there, other values around them
    const big = new Uint8Array(f * 2 * h * 2 * w * 3);
    for (let k = 0; k < f; k++)
      for (let y = 0; y < 2 * h; y++)
        for (let x = 0; x < 2 * w; x++)
          for (let ch = 0; ch < 3; ch++) {
            const at = ((k * 2 * h + y) * 2 * w + x) * 3 + ch;
            big[at] = y % 2 === 0 && x % 2 === 0 ? small[((k * h + y / 2) * w + x / 2) * 3 + ch]! : (37 * x + 53 * y + 71 * ch) % 256;
          }
    const r = await generateAsReference(pipe, ref, c, { controlnet: { model: nets.get(3)!, frames: { frames: big, shape: [f, 2 * h, 2 * w, 3] } } });
    expect(await worstDifference(r, c, 'resized')).toBeLessThan(1e-4);
  });

  it('rejects bad options by name, before any work', async () => {
    const c = ref.cases['scale_1.0']!;
    const bad: [Partial<ControlNetOptions> & Record<string, unknown>, RegExp][] = [
      [{ frames: frames(0) }, /controlnet\.model/],
      [{ model: nets.get(3)! }, /controlnet\.frames/],
      [{ model: nets.get(3)!, frames: { frames: new Uint8Array(3 * 8 * 8 * 3), shape: [3, 8, 8, 3] } }, /controlnet\.frames: expected 4 frames/],
      [{ model: nets.get(3)!, frames: frames(0), guidanceStart: 0.8, guidanceEnd: 0.5 }, /guidanceStart/],
      [{ model: nets.get(3)!, frames: frames(0), scael: 1 }, /scale/],
      [{ model: '/no/such/controlnet', frames: frames(0) }, /controlnet\.model/],
    ];
    for (const [o, re] of bad) await expect(generateAsReference(pipe, ref, c, { controlnet: o as ControlNetOptions })).rejects.toThrow(re);
    await expect(generateAsReference(pipe, ref, c, { controlnet: [{ frames: frames(0) } as unknown as ControlNetOptions] })).rejects.toBeInstanceOf(InvalidParameterError);
  });
});

describe('ControlNet with a model exported before ControlNet support', () => {
  it('is refused by name, before any work (its UNet takes no residuals)', async () => {
    const pipe = await loadPipeline(modelWithoutUnetInputs(path.join(repoRoot, 'models', 'demo')));
    try {
      expect(pipe.manifest.unet.inputs).not.toContain('down_block_additional_residuals');
      const frames = { frames: new Uint8Array(8 * 64 * 64 * 3), shape: [8, 64, 64, 3] };
      await expect(pipe.generate({ prompt: 'a red ball', width: 64, height: 64, numFrames: 8, controlnet: { model: '/x', frames } })).rejects.toThrow(/controlnet: expected a model whose UNet takes ControlNet residuals/);
    } finally {
      pipe.dispose();
    }
  });
});
