// inspect recognises ControlNets (original 1.0/1.1 layout, diffusers names, exported folders) and SparseCtrl.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyTensors } from '../lib/checkpoints/classify';
import { inspectPath } from '../lib/checkpoints/inspect';
import type { TensorInfo } from '../lib/checkpoints/types';
import { python, repoRoot } from './utils/fixtures';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-cn-inspect-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The tiny random ControlNet saved by Python in the original layout (.pth, as ControlNet 1.0 with SD keys) and with diffusers names. */
async function writeFiles(): Promise<{ pth: string; diffusers: string; exported: string }> {
  const scripts = path.join(repoRoot, 'scripts');
  const out = { pth: path.join(tmp, 'control_sd15_tiny.pth'), diffusers: path.join(tmp, 'diffusion_pytorch_model.safetensors'), exported: path.join(tmp, 'exported') };
  await python(`import sys, torch; sys.path.insert(0, ${JSON.stringify(scripts)})
from export_controlnet import random_tiny_controlnet
from animatorch_export.controlnet_export import ours_to_ldm, export_controlnet
from animatorch_export import safetensors_io as st
net = random_tiny_controlnet(3)
ldm = {'control_model.' + k: v for k, v in ours_to_ldm(net.state_dict(), net.config).items()}
ldm['model.diffusion_model.input_blocks.0.0.weight'] = torch.zeros(32, 4, 3, 3)
torch.save({'state_dict': ldm}, ${JSON.stringify(out.pth)})
st.save_file(dict(net.state_dict()), ${JSON.stringify(out.diffusers)})
export_controlnet(net, ${JSON.stringify(out.exported)})`);
  return out;
}

describe('inspect: ControlNets', () => {
  it('recognises the original layout, diffusers names and an exported folder', async () => {
    const f = await writeFiles();
    const pth = await inspectPath(f.pth);
    expect(pth.components.map((c) => [c.type, c.keyLayout])).toEqual([['controlnet', 'ldm']]);
    expect(pth.notes.join(' ')).toMatch(/export --controlnet/);
    expect(pth.notes.join(' ')).toMatch(/whole Stable Diffusion model/);
    expect(pth.problem).toBeUndefined();
    const st = await inspectPath(f.diffusers);
    expect(st.components.map((c) => [c.type, c.keyLayout])).toEqual([['controlnet', 'diffusers']]);
    expect(st.components[0]!.description).toMatch(/3 conditioning channels/);
    const folder = await inspectPath(f.exported);
    expect(folder.format).toBe('animatorch-controlnet');
    expect(folder.components[0]!.type).toBe('controlnet');
  });

  it('recognises SparseCtrl RGB (simplified embedding) and scribble key layouts', () => {
    const t = (shape: number[]): TensorInfo => ({ dtype: 'F16', shape });
    const common = {
      'conv_in.weight': t([320, 4, 3, 3]),
      'controlnet_down_blocks.0.weight': t([320, 320, 1, 1]),
      'down_blocks.0.motion_modules.0.temporal_transformer.proj_in.weight': t([320, 320]),
      'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight': t([320, 768]),
    };
    const rgb = classifyTensors({ ...common, 'controlnet_cond_embedding.weight': t([320, 5, 3, 3]) });
    expect(rgb.components[0]).toMatchObject({ type: 'sparsectrl', keyLayout: 'animatediff' });
    expect(rgb.components[0]!.description).toMatch(/RGB.*5 conditioning channels/);
    const scribble = classifyTensors({ ...common, 'controlnet_cond_embedding.conv_in.weight': t([16, 4, 3, 3]), 'controlnet_cond_embedding.blocks.0.weight': t([16, 16, 3, 3]) });
    expect(scribble.components[0]!.description).toMatch(/scribble.*4 conditioning channels/);
    // a plain UNet is still a UNet
    expect(classifyTensors({ 'conv_in.weight': t([320, 4, 3, 3]), 'down_blocks.0.resnets.0.conv1.weight': t([320, 320, 3, 3]) }).components[0]!.type).toBe('unet');
  });

  it('recognises a real-layout SparseCtrl .ckpt, a diffusers SparseControlNetModel file and an exported SparseCtrl folder', async () => {
    const scripts = path.join(repoRoot, 'scripts');
    const ckpt = path.join(tmp, 'v3_sd15_sparsectrl_rgb_tiny.ckpt');
    const diff = path.join(tmp, 'sparse-diffusers.safetensors');
    const exported = path.join(tmp, 'sparse-exported');
    await python(`import sys, torch; sys.path.insert(0, ${JSON.stringify(scripts)})
from export_controlnet import random_tiny_sparsectrl
from animatorch_export.controlnet_export import export_controlnet
from animatorch_export.convert_diffusers import motion_ours_to_diffusers, split_unet_motion
from animatorch_export import safetensors_io as st
net = random_tiny_sparsectrl('scribble', 2)
torch.save({'state_dict': dict(net.state_dict())}, ${JSON.stringify(ckpt)})
spatial, motion = split_unet_motion(net.state_dict())
st.save_file({**spatial, **motion_ours_to_diffusers(motion)}, ${JSON.stringify(diff)})
export_controlnet(random_tiny_sparsectrl('rgb', 2), ${JSON.stringify(exported)})`);
    const a = await inspectPath(ckpt);
    expect(a.components.map((c) => [c.type, c.keyLayout])).toEqual([['sparsectrl', 'animatediff']]);
    expect(a.components[0]!.description).toMatch(/scribble.*4 conditioning channels/);
    expect(a.notes.join(' ')).toMatch(/export --controlnet PATH/);
    expect(a.problem).toBeUndefined();
    const b = await inspectPath(diff);
    expect(b.components.map((c) => [c.type, c.keyLayout])).toEqual([['sparsectrl', 'diffusers']]);
    const folder = await inspectPath(exported);
    expect(folder.components.map((c) => c.type)).toEqual(['sparsectrl']);
    expect(folder.components[0]!.description).toMatch(/SparseCtrl .*RGB/);
    expect(folder.metadata).toMatchObject({ condition: 'latents', maxFrames: 32 });
  });
});
