import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, truncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspect } from '../lib/cli/commands/inspect';
import { classifyTensors } from '../lib/checkpoints/classify';
import { formatInspectResult, inspectPath } from '../lib/checkpoints/inspect';
import { scanPickle } from '../lib/checkpoints/pickle';
import type { TensorInfo } from '../lib/checkpoints/types';
import { python } from './utils/fixtures';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'animatorch-inspect-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I64: 8 };

/**
 * A valid .safetensors file with these tensors. The data region is left as a
 * hole (ftruncate), so real SD1.5 shapes cost no disk: inspect reads only the header.
 */
function writeSafetensors(file: string, tensors: Record<string, { dtype: string; shape: number[] }>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype]!;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(file, 'w');
  writeSync(fd, len);
  writeSync(fd, json);
  ftruncateSync(fd, 8 + json.length + offset);
  closeSync(fd);
}

/** AnimateDiff motion-module key names for every module of SD1.5 (v2 adds the mid block). */
function motionModuleTensors(version: 'v1' | 'v2' | 'v3', layout: 'animatediff' | 'diffusers' = 'animatediff'): Record<string, { dtype: string; shape: number[] }> {
  const out: Record<string, { dtype: string; shape: number[] }> = {};
  const peLen = version === 'v1' ? 24 : 32;
  const modules: Array<[string, number]> = [];
  [320, 640, 1280, 1280].forEach((c, i) => modules.push([`down_blocks.${i}.motion_modules.0`, c], [`down_blocks.${i}.motion_modules.1`, c]));
  [1280, 1280, 640, 320].forEach((c, i) => [0, 1, 2].forEach((j) => modules.push([`up_blocks.${i}.motion_modules.${j}`, c])));
  if (version === 'v2') modules.push(['mid_block.motion_modules.0', 1280]);
  for (const [prefix, c] of modules) {
    if (layout === 'animatediff') {
      const p = `${prefix}.temporal_transformer`;
      out[`${p}.norm.weight`] = { dtype: 'F16', shape: [c] };
      out[`${p}.norm.bias`] = { dtype: 'F16', shape: [c] };
      out[`${p}.proj_in.weight`] = { dtype: 'F16', shape: [c, c] };
      for (const a of [0, 1]) {
        out[`${p}.transformer_blocks.0.attention_blocks.${a}.to_q.weight`] = { dtype: 'F16', shape: [c, c] };
        out[`${p}.transformer_blocks.0.attention_blocks.${a}.pos_encoder.pe`] = { dtype: 'F16', shape: [1, peLen, c] };
      }
      out[`${p}.transformer_blocks.0.ff.net.0.proj.weight`] = { dtype: 'F16', shape: [8 * c, c] };
      out[`${p}.proj_out.weight`] = { dtype: 'F16', shape: [c, c] };
    } else {
      out[`${prefix}.proj_in.weight`] = { dtype: 'F32', shape: [c, c] };
      out[`${prefix}.transformer_blocks.0.attn1.to_q.weight`] = { dtype: 'F32', shape: [c, c] };
      out[`${prefix}.transformer_blocks.0.pos_embed.pe`] = { dtype: 'F32', shape: [1, peLen, c] };
    }
  }
  return out;
}

let mmV2: string;
let ckptDir: string;

beforeAll(async () => {
  mmV2 = path.join(tmp, 'mm_sd_v15_v2.safetensors');
  writeSafetensors(mmV2, motionModuleTensors('v2'), { format: 'pt' });
  // torch.save checkpoints, written by Python: a v1 motion module wrapped in state_dict (+ a non-tensor
  // animatediff_config), a MotionLoRA, a v3 adapter LoRA, and a zip whose data.pkl uses an opcode the scanner refuses.
  ckptDir = path.join(tmp, 'ckpt');
  mkdirSync(ckptDir);
  await python(`
import torch, zipfile, os
d = ${JSON.stringify(ckptDir)}
sd = {}
for i, c in enumerate([320, 640]):
    for j in range(2):
        p = f"down_blocks.{i}.motion_modules.{j}.temporal_transformer"
        sd[p + ".proj_in.weight"] = torch.zeros(c, c)
        sd[p + ".transformer_blocks.0.attention_blocks.0.pos_encoder.pe"] = torch.zeros(1, 24, c)
        sd[p + ".transformer_blocks.0.attention_blocks.0.to_q.weight"] = torch.nn.Parameter(torch.zeros(c, c, dtype=torch.float16))
torch.save({"state_dict": sd, "animatediff_config": {"use_inflated_groupnorm": False}, "global_step": 10}, os.path.join(d, "mm_sd_v15.ckpt"))
lora = {}
for i, c in enumerate([320, 640]):
    for j in range(2):
        for a in range(2):
            for q in ["to_q", "to_k", "to_v", "to_out"]:
                k = f"down_blocks.{i}.motion_modules.{j}.temporal_transformer.transformer_blocks.0.attention_blocks.{a}.processor.{q}_lora"
                lora[k + ".down.weight"] = torch.zeros(4, c)
                lora[k + ".up.weight"] = torch.zeros(c, 4)
lora["mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_q_lora.down.weight"] = torch.zeros(4, 1280)
lora["mid_block.motion_modules.0.temporal_transformer.transformer_blocks.0.attention_blocks.0.processor.to_q_lora.up.weight"] = torch.zeros(1280, 4)
torch.save(lora, os.path.join(d, "v2_lora_ZoomIn.ckpt"))
ad = {}
for q in ["to_q", "to_k"]:
    k = f"down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.{q}_lora"
    ad[k + ".down.weight"] = torch.zeros(64, 320, dtype=torch.float16)
    ad[k + ".up.weight"] = torch.zeros(320, 64, dtype=torch.float16)
torch.save(ad, os.path.join(d, "v3_sd15_adapter.ckpt"))
with zipfile.ZipFile(os.path.join(d, "weird.ckpt"), "w") as z:
    z.writestr("archive/data.pkl", bytes([0x80, 0x02, 0x82, 0x01, 0x2e]))
    z.writestr("archive/data/0", b"0000")
    z.writestr("archive/version", b"3\\n")
class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))
import pickle
with zipfile.ZipFile(os.path.join(d, "evil.ckpt"), "w") as z:
    z.writestr("archive/data.pkl", pickle.dumps({"state_dict": {"x": Evil()}}, protocol=2))
    z.writestr("archive/version", b"3\\n")
`);
}, 120_000);

describe('inspect: single files', () => {
  it('reads a safetensors motion module header: v2 (mid block), parameter count, dtypes, notes', async () => {
    const r = await inspectPath(mmV2);
    expect(r.format).toBe('safetensors');
    expect(r.components).toEqual([expect.objectContaining({ type: 'motion-module', motionVersion: 'v2', keyLayout: 'animatediff' })]);
    expect(r.components[0]!.description).toMatch(/v2: 21 modules, pe length 32/);
    expect(r.weights!.dtypes).toEqual({ float16: Object.keys(motionModuleTensors('v2')).length });
    const expected = Object.values(motionModuleTensors('v2')).reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
    expect(r.weights!.parameters).toBe(expected);
    expect(r.metadata).toEqual({ format: 'pt' });
    expect(r.notes.join('\n')).toMatch(/--motion-module/);
    expect(r.notes.join('\n')).toMatch(/MotionLoRA/);
    expect(r.warnings).toEqual([]);
  });

  it('tells v1 (pe 24) from v3 (pe 32, no mid block)', () => {
    const v1 = classifyTensors(motionModuleTensors('v1') as Record<string, TensorInfo>);
    expect(v1.components[0]).toMatchObject({ type: 'motion-module', motionVersion: 'v1' });
    expect(v1.notes.join('\n')).toMatch(/24 frames/);
    const v3 = classifyTensors(motionModuleTensors('v3') as Record<string, TensorInfo>);
    expect(v3.components[0]).toMatchObject({ type: 'motion-module', motionVersion: 'v3' });
    expect(v3.components[0]!.description).toMatch(/20 modules/);
    const diff = classifyTensors(motionModuleTensors('v3', 'diffusers') as Record<string, TensorInfo>);
    expect(diff.components[0]).toMatchObject({ type: 'motion-module', motionVersion: 'v3', keyLayout: 'diffusers' });
  });

  it('scans a torch.save .ckpt without executing it: unwraps state_dict, finds shapes and dtypes, v1 by pe length', async () => {
    const r = await inspectPath(path.join(ckptDir, 'mm_sd_v15.ckpt'));
    expect(r.format).toBe('torch-zip');
    expect(r.components[0]).toMatchObject({ type: 'motion-module', motionVersion: 'v1' });
    expect(r.weights!.tensors).toBe(12);
    expect(r.weights!.dtypes).toEqual({ float32: 8, float16: 4 });
    expect(r.weights!.parameters).toBe(2 * (320 * 320 * 2 + 24 * 320) + 2 * (640 * 640 * 2 + 24 * 640));
    expect(r.otherKeys).toEqual(['animatediff_config', 'global_step']);
    expect(r.notes[0]).toMatch(/'state_dict'/);
    expect(r.warnings.join('\n')).toMatch(/expected 20 \(v1\/v3\) or 21 \(v2\) motion modules/);
  });

  it('recognises a MotionLoRA (needs v2) and a v3 domain adapter LoRA', async () => {
    const ml = await inspectPath(path.join(ckptDir, 'v2_lora_ZoomIn.ckpt'));
    expect(ml.components[0]).toMatchObject({ type: 'motion-lora', keyLayout: 'animatediff' });
    expect(ml.components[0]!.description).toMatch(/33 LoRA pairs, rank 4/);
    expect(ml.notes.join('\n')).toMatch(/MotionLoRA needs a v2 motion module/);
    const ad = await inspectPath(path.join(ckptDir, 'v3_sd15_adapter.ckpt'));
    expect(ad.components[0]).toMatchObject({ type: 'adapter-lora' });
    expect(ad.components[0]!.description).toMatch(/v3 domain adapter: 2 LoRA pairs, rank 64/);
    expect(ad.weights!.dtypes).toEqual({ float16: 4 });
    expect(ad.notes.join('\n')).toMatch(/--adapter-lora/);
  });

  it('falls back to listing archive entries when data.pkl uses an opcode it will not interpret', async () => {
    const r = await inspectPath(path.join(ckptDir, 'weird.ckpt'));
    expect(r.format).toBe('torch-zip');
    expect(r.components).toEqual([]);
    expect(r.archiveEntries).toEqual(['archive/data.pkl', 'archive/data/0', 'archive/version']);
    expect(r.warnings[0]).toMatch(/could not be scanned without executing it \(unsupported pickle opcode 0x82/);
  });

  it('the pickle scanner builds inert values and never resolves globals', () => {
    // protocol 2: {'a': os.system('x')} as GLOBAL + REDUCE: recorded, not called
    const pkl = Buffer.concat([
      Buffer.from([0x80, 0x02, 0x7d, 0x58]),
      Buffer.from([1, 0, 0, 0]),
      Buffer.from('a'),
      Buffer.from('cos\nsystem\n', 'latin1'),
      Buffer.from([0x58, 1, 0, 0, 0]),
      Buffer.from('x'),
      Buffer.from([0x85, 0x52, 0x73, 0x2e]),
    ]);
    const v = scanPickle(pkl) as { entries: Array<[string, { fn: { module: string; name: string }; args: unknown[] }]> };
    expect(v.entries[0]![0]).toBe('a');
    expect(`${v.entries[0]![1].fn.module}.${v.entries[0]![1].fn.name}`).toBe('os.system');
    expect(v.entries[0]![1].args).toEqual(['x']);
    expect(() => scanPickle(Buffer.from([0x80, 0x02, 0x7d]))).toThrow(/truncated/);
  });

  it('recognises an SD1.5 LDM single file, a kohya LoRA, and warns about SD2/SDXL', async () => {
    const ldm = path.join(tmp, 'dreambooth.safetensors');
    writeSafetensors(ldm, {
      'model.diffusion_model.input_blocks.0.0.weight': { dtype: 'F16', shape: [320, 4, 3, 3] },
      'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': { dtype: 'F16', shape: [320, 768] },
      'first_stage_model.decoder.conv_in.weight': { dtype: 'F32', shape: [512, 4, 3, 3] },
      'cond_stage_model.transformer.text_model.embeddings.token_embedding.weight': { dtype: 'F16', shape: [49408, 768] },
      'cond_stage_model.transformer.text_model.embeddings.position_ids': { dtype: 'I64', shape: [1, 77] },
    });
    const r = await inspectPath(ldm);
    expect(r.components[0]).toMatchObject({ type: 'sd15-checkpoint', keyLayout: 'ldm', parts: ['unet', 'vae', 'text_encoder'] });
    expect(r.components[0]!.description).toMatch(/^SD1\.x single-file/);
    expect(r.notes.join('\n')).toMatch(/--base/);
    expect(r.weights!.dtypes).toEqual({ float16: 3, float32: 1, int64: 1 });

    const sd2 = classifyTensors({ 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight': { dtype: 'float16', shape: [320, 1024] } });
    expect(sd2.warnings.join('\n')).toMatch(/SD2\.x is not supported/);

    const kohya = path.join(tmp, 'style.safetensors');
    writeSafetensors(kohya, {
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': { dtype: 'F16', shape: [8, 320, 1, 1] },
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': { dtype: 'F16', shape: [320, 8, 1, 1] },
      'lora_unet_down_blocks_0_attentions_0_proj_in.alpha': { dtype: 'F16', shape: [] },
      'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight': { dtype: 'F16', shape: [8, 768] },
      'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight': { dtype: 'F16', shape: [3072, 8] },
    });
    const k = await inspectPath(kohya);
    expect(k.components[0]).toMatchObject({ type: 'image-lora', keyLayout: 'kohya' });
    expect(k.components[0]!.description).toMatch(/2 modules, rank 8, UNet \+ text encoder, with \.alpha entries/);
    expect(k.notes.join('\n')).toMatch(/--lora PATH\[:alpha\].*0\.8/);
  });

  it('reports a pickle that calls posix.system as unsafe, naming the callable, and does not describe it as a model', async () => {
    const r = await inspectPath(path.join(ckptDir, 'evil.ckpt'));
    expect(r.problem).toEqual({
      kind: 'unsafe',
      message: 'unsafe: its pickle would import and call posix.system when loaded (torch.load(weights_only=True) and the exporter refuse it); do not load it',
    });
    expect(r.components).toEqual([]);
    expect(r.notes).toEqual([]);
    // the real checkpoints above use only what weights_only allows
    for (const f of ['mm_sd_v15.ckpt', 'v2_lora_ZoomIn.ckpt', 'v3_sd15_adapter.ckpt']) expect((await inspectPath(path.join(ckptDir, f))).problem).toBeUndefined();
  });

  it('reports a safetensors file whose data_offsets run past the end (cut in half) as invalid', async () => {
    const file = path.join(tmp, 'cut.safetensors');
    writeSafetensors(file, { 'a.weight': { dtype: 'F32', shape: [256, 256] }, 'b.weight': { dtype: 'F32', shape: [256, 256] } });
    expect((await inspectPath(file)).problem).toBeUndefined();
    const size = readFileSync(file).length;
    truncateSync(file, Math.floor(size / 2));
    const r = await inspectPath(file);
    expect(r.problem?.kind).toBe('invalid');
    expect(r.problem?.message).toMatch(/tensor "a\.weight"'s data_offsets \[0, 262144\] run past the end of the data \(\d+ bytes; is the file cut short\?\)/);
    expect(r.weights).toBeUndefined();
    // offsets that claim more than the shape needs
    const lying = path.join(tmp, 'lying.safetensors');
    writeSafetensors(lying, { 'a.weight': { dtype: 'F16', shape: [4, 4] } });
    const buf = readFileSync(lying);
    writeFileSync(lying, Buffer.from(buf.toString('latin1').replace('"shape":[4,4]', '"shape":[4,8]'), 'latin1'));
    expect((await inspectPath(lying)).problem?.message).toMatch(/needs 64 bytes, its data_offsets \[0, 32\] hold 32/);
  });

  it('the command exits 1 naming each unreadable, corrupt or unsafe file, 0 only when all are valid', async () => {
    const cli = path.join(__dirname, '..', 'bin', 'animatorch.js');
    const good = path.join(ckptDir, 'v2_lora_ZoomIn.ckpt');
    const ok = spawnSync(process.execPath, [cli, 'inspect', good], { encoding: 'utf8' });
    expect(ok.status).toBe(0);
    const evil = path.join(ckptDir, 'evil.ckpt');
    const cut = path.join(tmp, 'cut.safetensors');
    const bad = spawnSync(process.execPath, [cli, 'inspect', good, evil, cut], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`${evil}  [UNSAFE]`);
    expect(bad.stderr.split('\n').filter(Boolean)).toEqual([
      `animatorch: ${evil}: unsafe: unsafe: its pickle would import and call posix.system when loaded (torch.load(weights_only=True) and the exporter refuse it); do not load it`,
      expect.stringMatching(new RegExp(`^animatorch: ${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid: cannot read the safetensors header: invalid safetensors file: `)),
    ]);
  });

  it('reports a legacy pickle, a non-checkpoint and a missing path', async () => {
    const legacy = path.join(tmp, 'old.bin');
    writeFileSync(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc]));
    expect((await inspectPath(legacy)).format).toBe('torch-legacy');
    const junk = path.join(tmp, 'junk.safetensors');
    writeFileSync(junk, 'hello world, not a header');
    expect((await inspectPath(junk)).warnings[0]).toMatch(/cannot read the safetensors header/);
    await expect(inspectPath(path.join(tmp, 'nope.ckpt'))).rejects.toThrow(/nope\.ckpt: no such file or folder/);
  });
});

describe('inspect: folders', () => {
  it('an animatorch model folder: name, motion module version, dtype, files (size checked)', async () => {
    const dir = path.join(tmp, 'model');
    mkdirSync(path.join(dir, 'unet'), { recursive: true });
    mkdirSync(path.join(dir, 'vae'), { recursive: true });
    writeFileSync(path.join(dir, 'unet', 'model.pt'), 'u'.repeat(10));
    writeFileSync(path.join(dir, 'vae', 'model.pt'), 'v'.repeat(5));
    writeFileSync(
      path.join(dir, 'model.yaml'),
      [
        'name: toon-v3',
        'dtype: float16',
        'sample_size: 64',
        'cross_attention_dim: 768',
        'motion_module: {version: v3, max_frames: 32}',
        'unet: {file: unet/model.pt}',
        'vae: {file: vae/model.pt, scaling_factor: 0.18215}',
        'scheduler: {_class_name: DDIMScheduler}',
        'files:',
        `  unet/model.pt: {sha256: ${'a'.repeat(64)}, bytes: 10}`,
        `  vae/model.pt: {sha256: ${'b'.repeat(64)}, bytes: 6}`,
      ].join('\n'),
    );
    const r = await inspectPath(dir);
    expect(r.format).toBe('animatorch-model');
    expect(r.metadata).toMatchObject({ name: 'toon-v3', dtype: 'float16', motionModuleVersion: 'v3', scheduler: 'DDIMScheduler' });
    expect(r.components[0]).toMatchObject({ type: 'unet-motion', motionVersion: 'v3' });
    expect(r.warnings).toEqual(['vae/model.pt: 5 bytes, model.yaml says 6 (truncated or replaced?)']);
    expect(r.verified).toBeUndefined();
    expect(formatInspectResult(r)).toMatch(/unet\/model\.pt {2}10 B {2}sha256 aaaaaaaaaaaaaaaa…/);

    // --verify hashes: the unet's recorded sha256 is right, the vae's size is already wrong.
    const yaml = readFileSync(path.join(dir, 'model.yaml'), 'utf8');
    const sha = createHash('sha256').update('u'.repeat(10)).digest('hex');
    writeFileSync(path.join(dir, 'model.yaml'), yaml.replace('a'.repeat(64), sha));
    const v = await inspectPath(dir, { verify: true });
    expect(v.verified).toBe(false);
    expect(v.warnings).toEqual(['vae/model.pt: 5 bytes, model.yaml says 6 (truncated or replaced?)']);
    writeFileSync(path.join(dir, 'vae', 'model.pt'), 'v'.repeat(6));
    const w = await inspectPath(dir, { verify: true });
    expect(w.verified).toBe(false);
    expect(w.warnings).toEqual([`vae/model.pt: sha256 ${createHash('sha256').update('v'.repeat(6)).digest('hex').slice(0, 12)}…, model.yaml says bbbbbbbbbbbb… (modified or corrupt)`]);
    writeFileSync(path.join(dir, 'model.yaml'), yaml.replace('a'.repeat(64), sha).replace('b'.repeat(64), createHash('sha256').update('v'.repeat(6)).digest('hex')));
    const ok = await inspectPath(dir, { verify: true });
    expect(ok.verified).toBe(true);
    expect(ok.warnings).toEqual([]);
    expect(ok.notes).toContain("Verified: all 2 files match model.yaml's sha256.");
  });

  it('a diffusers MotionAdapter folder and a diffusers pipeline folder', async () => {
    const ma = path.join(tmp, 'motion-adapter');
    mkdirSync(ma);
    writeFileSync(path.join(ma, 'config.json'), JSON.stringify({ _class_name: 'MotionAdapter', use_motion_mid_block: true, motion_max_seq_length: 32 }));
    writeSafetensors(path.join(ma, 'diffusion_pytorch_model.safetensors'), motionModuleTensors('v2', 'diffusers'));
    const r = await inspectPath(ma);
    expect(r.format).toBe('diffusers-model');
    expect(r.components).toEqual([expect.objectContaining({ type: 'motion-module', motionVersion: 'v2', keyLayout: 'diffusers' })]);
    expect(r.metadata).toMatchObject({ _class_name: 'MotionAdapter', use_motion_mid_block: true });
    expect(r.notes[0]).toMatch(/--motion-module FOLDER/);

    const pipe = path.join(tmp, 'sd15');
    for (const sub of ['unet', 'vae', 'text_encoder', 'scheduler', 'tokenizer']) mkdirSync(path.join(pipe, sub), { recursive: true });
    writeFileSync(
      path.join(pipe, 'model_index.json'),
      JSON.stringify({
        _class_name: 'StableDiffusionPipeline',
        _diffusers_version: '0.30.0',
        unet: ['diffusers', 'UNet2DConditionModel'],
        vae: ['diffusers', 'AutoencoderKL'],
        text_encoder: ['transformers', 'CLIPTextModel'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
        scheduler: ['diffusers', 'PNDMScheduler'],
        safety_checker: [null, null],
      }),
    );
    writeFileSync(path.join(pipe, 'unet', 'config.json'), JSON.stringify({ _class_name: 'UNet2DConditionModel', cross_attention_dim: 768, in_channels: 4 }));
    writeSafetensors(path.join(pipe, 'unet', 'diffusion_pytorch_model.safetensors'), {
      'conv_in.weight': { dtype: 'F32', shape: [320, 4, 3, 3] },
      'down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight': { dtype: 'F32', shape: [320, 768] },
    });
    writeFileSync(path.join(pipe, 'vae', 'config.json'), JSON.stringify({ _class_name: 'AutoencoderKL', latent_channels: 4 }));
    writeSafetensors(path.join(pipe, 'vae', 'diffusion_pytorch_model.safetensors'), {
      'encoder.conv_in.weight': { dtype: 'F32', shape: [128, 3, 3, 3] },
      'post_quant_conv.weight': { dtype: 'F32', shape: [4, 4, 1, 1] },
    });
    writeFileSync(path.join(pipe, 'text_encoder', 'config.json'), JSON.stringify({ architectures: ['CLIPTextModel'], hidden_size: 768 }));
    writeSafetensors(path.join(pipe, 'text_encoder', 'model.safetensors'), {
      'text_model.embeddings.token_embedding.weight': { dtype: 'F32', shape: [49408, 768] },
      ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`text_model.encoder.layers.${i}.self_attn.q_proj.weight`, { dtype: 'F32', shape: [768, 768] }])),
    });
    writeFileSync(path.join(pipe, 'scheduler', 'scheduler_config.json'), JSON.stringify({ _class_name: 'PNDMScheduler' }));
    const p = await inspectPath(pipe);
    expect(p.format).toBe('diffusers-pipeline');
    expect(p.metadata).toMatchObject({ _class_name: 'StableDiffusionPipeline', scheduler: 'PNDMScheduler' });
    expect(p.components.map((c) => c.type)).toEqual(['unet', 'vae', 'text-encoder']);
    expect(p.components[0]!.description).toMatch(/^unet: UNet2DConditionModel \(SD1\.x, 4 input channels\)/);
    expect(p.components[2]!.description).toMatch(/12 layers, width 768 \(SD1\.5 CLIP ViT-L\/14\)/);
    expect(p.notes[0]).toMatch(/--base FOLDER --motion-module/);
  });

  it('the inspect command prints text or JSON', async () => {
    const out: string[] = [];
    const [r] = await inspect({ paths: [mmV2], json: true }, { stdout: (t) => out.push(t) });
    expect(JSON.parse(out[0]!).components[0].motionVersion).toBe('v2');
    expect(r!.format).toBe('safetensors');
    out.length = 0;
    await inspect({ paths: [mmV2] }, { stdout: (t) => out.push(t) });
    expect(out[0]).toMatch(/is: AnimateDiff motion module v2: 21 modules, pe length 32 \[animatediff keys\]/);
    expect(out[0]).toMatch(/parameters: /);
  });
});
