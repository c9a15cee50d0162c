/**
 * Text conditioning: encodePrompt (diffusers' encode_prompt), the only path from
 * text to embeddings, and the per-video conditioning generate() denoises with
 * (fixed prompts, or prompt-travel keyframes), negative prompts included.
 */
import { InvalidParameterError } from '../errors';
import type { ModelManifest } from '../model-manifest';
import { type Device, Tensor } from '../tensor';
import { cat, tensor } from '../tensor-factories';
import type { CLIPTokenizer } from '../tokenizers/clip';
import type { Module } from '../torchscript-module';
import { checkClipSkip, type CheckedInputs, checkNegativePrompt, type EncodePromptOptions, type GenerateOptions } from './animatediff-inputs';
import { isPromptMap, type Keyframe, parsePromptMap, type PromptMap } from './prompt-travel';

/** What encoding text needs of a pipeline. */
export interface TextEncoding {
  readonly manifest: ModelManifest;
  readonly device: Device;
  readonly textEncoder?: Pick<Module, 'forward'>;
  readonly tokenizer?: CLIPTokenizer;
}

export /** Text conditioning of one video: a fixed embedding or keyframes to travel between. */
interface Conditioning {
  /** [1, T, C] */
  cond?: Tensor;
  keyframes?: Keyframe<Tensor>[];
  /** [1, T, C], present when guidance is on. */
  uncond?: Tensor;
  /** [2, T, C] = [uncond, cond], precomputed for fixed prompts with guidance. */
  pair?: Tensor;
}

/**
 * Text embeddings, as diffusers' encode_prompt: `promptEmbeds` [P, 77, C] and,
 * with guidance, `negativePromptEmbeds` ('' unless given). The caller owns them.
 */
export async function encodePrompt(
  enc: TextEncoding,
  prompt: string | string[],
  options: EncodePromptOptions = {},
): Promise<{ promptEmbeds: Tensor; negativePromptEmbeds?: Tensor }> {
  const prompts = typeof prompt === 'string' ? [prompt] : prompt;
  if (!Array.isArray(prompts) || prompts.length === 0 || !prompts.every((p) => typeof p === 'string'))
    throw new InvalidParameterError('prompt', 'a string or a non-empty array of strings', prompt);
  const doCfg = options.doClassifierFreeGuidance ?? true;
  const negatives = checkNegativePrompt(options.negativePrompt, prompts.length);
  const clipSkip = options.clipSkip ?? 0;
  checkClipSkip(enc.manifest, clipSkip);
  const promptEmbeds = await encodeTexts(enc, prompts, clipSkip);
  if (!doCfg) return { promptEmbeds };
  try {
    let negativePromptEmbeds = await encodeTexts(enc, negatives, clipSkip);
    if (negatives.length === 1 && prompts.length > 1) {
      const expanded = negativePromptEmbeds.expand([prompts.length, ...negativePromptEmbeds.shape.slice(1)]).contiguous();
      negativePromptEmbeds.dispose();
      negativePromptEmbeds = expanded;
    }
    return { promptEmbeds, negativePromptEmbeds };
  } catch (err) {
    promptEmbeds.dispose();
    throw err;
  }
}

/** generate()'s negative prompt as a list ('' when none is given). Checked already by checkInputs. */
const negativePromptList = (v: GenerateOptions['negativePrompt']): string[] => (v === undefined ? [''] : typeof v === 'string' ? [v] : v);

/** 2. Text conditioning per video (one entry broadcasts to all). */
export async function prepareConditioning(enc: TextEncoding, o: GenerateOptions, args: CheckedInputs): Promise<Conditioning[]> {
  // Every text goes through encodePrompt, so generate() and encodePrompt() cannot disagree.
  const encode = async (texts: string[]): Promise<Tensor> => (await encodePrompt(enc, texts, { doClassifierFreeGuidance: false, clipSkip: args.clipSkip })).promptEmbeds;
  const owned: Tensor[] = [];
  const own = (t: Tensor): Tensor => (owned.push(t), t);
  try {
    let conds: Conditioning[];
    let negative: Tensor | undefined; // [1 or N, T, C]
    if (args.doCfg) {
      if (o.negativePromptEmbeds) negative = o.negativePromptEmbeds;
      else negative = own(await encode(negativePromptList(o.negativePrompt)));
    }
    const rowOf = (t: Tensor, i: number): Tensor => own(t.shape[0] === 1 ? t.clone() : t.narrow(0, i, 1).clone());

    if (isPromptMap(o.prompt) || (o.promptEmbeds !== undefined && !(o.promptEmbeds instanceof Tensor))) {
      // Prompt travel: one conditioning, keyframes encoded together.
      let keyframes: Keyframe<Tensor>[];
      if (o.promptEmbeds !== undefined) {
        const map = o.promptEmbeds as Record<string, Tensor>;
        keyframes = Object.keys(map)
          .map((k) => ({ frame: Number(k), value: own(map[k]!.clone()) }))
          .sort((a, b) => a.frame - b.frame);
      } else {
        const parsed = parsePromptMap(o.prompt as PromptMap, args.numFrames);
        const embeds = own(await encode(parsed.map((k) => k.value)));
        keyframes = parsed.map((k, i) => ({ frame: k.frame, value: own(embeds.narrow(0, i, 1).clone()) }));
      }
      conds = [{ keyframes, uncond: negative && rowOf(negative, 0) }];
    } else {
      let positive: Tensor;
      if (o.promptEmbeds instanceof Tensor) positive = o.promptEmbeds;
      else {
        const prompts = typeof o.prompt === 'string' ? [o.prompt] : (o.prompt as string[]);
        positive = own(await encode(prompts));
      }
      const n = Math.max(positive.shape[0]!, negative?.shape[0] ?? 1);
      conds = Array.from({ length: n }, (_, i) => {
        const cond = rowOf(positive, i);
        const uncond = negative && rowOf(negative, i);
        return { cond, uncond, pair: uncond && own(cat([uncond, cond], 0)) };
      });
    }
    // Keep only what the conditionings reference.
    const used = new Set<Tensor>();
    for (const c of conds) for (const t of [c.cond, c.uncond, c.pair, ...(c.keyframes ?? []).map((k) => k.value)]) if (t) used.add(t);
    for (const t of owned) if (!used.has(t)) t.dispose();
    return conds;
  } catch (err) {
    for (const t of owned) t.dispose();
    throw err;
  }
}

export function disposeConditioning(conds: Conditioning[]): void {
  const seen = new Set<Tensor>();
  for (const c of conds) for (const t of [c.cond, c.uncond, c.pair, ...(c.keyframes ?? []).map((k) => k.value)]) if (t && !seen.has(t)) (seen.add(t), t.dispose());
}

async function encodeTexts(enc: TextEncoding, texts: string[], clipSkip: number): Promise<Tensor> {
  if (!enc.textEncoder || !enc.tokenizer)
    throw new InvalidParameterError('prompt', `promptEmbeds: model '${enc.manifest.name}' has no text encoder (exported without one)`, texts);
  // One text per call: a prompt's embedding then does not depend on the other prompts in the list
  // (batched BLAS kernels differ in the last bits), so a video is the same alone or in a batch.
  const rows: Tensor[] = [];
  try {
    for (const text of texts) rows.push(await encodeText(enc, text, clipSkip));
    return rows.length === 1 ? rows.pop()! : cat(rows, 0);
  } finally {
    for (const r of rows) r.dispose();
  }
}

async function encodeText(enc: TextEncoding, text: string, clipSkip: number): Promise<Tensor> {
  const maxLength = enc.manifest.textMaxLength;
  const { inputIds } = enc.tokenizer!.encodeForModel(text, { maxLength });
  const ids = tensor(inputIds.flat(), [1, maxLength], { dtype: 'int64', device: enc.device });
  try {
    const out = await enc.textEncoder!.forward(ids, clipSkip);
    if (!(out instanceof Tensor)) throw new Error('text_encoder: expected forward to return a Tensor');
    if (out.ndim !== 3 || out.shape[2] !== enc.manifest.crossAttentionDim) {
      const shape = out.shape;
      out.dispose();
      throw new Error(`text_encoder: expected [B, T, ${enc.manifest.crossAttentionDim}] embeddings, got [${shape.join(', ')}]`);
    }
    return out;
  } finally {
    ids.dispose();
  }
}
