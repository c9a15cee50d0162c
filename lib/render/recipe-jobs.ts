/** Jobs from a recipe of an earlier render (`render --recipe`): every option it recorded, checked as it is read. */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { InvalidParameterError } from '../errors';
import { type ResolvedFreeInit, resolveFreeInit } from '../pipelines/free-init';
import { CONFIG_KEYS, type Job } from './check-jobs';
import type { RecordedControlNet } from './controlnet-input';
import { initFromRecipe } from './init-media';
import { freeNoiseFromRecipe, motionScaleFromRecipe } from './motion-options';
import { readRecipe, type Recipe } from './recipe';

/** A render of several seeds writes one sidecar per video (out-0-42.gif.json): point there when out.gif.json is asked for. */
async function readRecipeOrExplain(file: string): Promise<Recipe> {
  if (existsSync(file)) return readRecipe(file);
  const m = /^(.*?)(\.[^./\\]+)?\.json$/.exec(path.basename(file));
  const dir = path.dirname(file);
  if (m) {
    const [, stem, ext = ''] = m;
    const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const sibling = new RegExp(`^${escape(stem!)}-\\d+-\\d+${escape(ext)}\\.json$`);
    const found = existsSync(dir) ? readdirSync(dir).filter((f) => sibling.test(f)).sort() : [];
    if (found.length)
      throw new InvalidParameterError('--recipe', `one recipe file; a render of several seeds writes one per video: ${found.map((f) => path.join(dir, f)).join(', ')}`, file);
  }
  return readRecipe(file);
}

/** `render --recipe FILE`: the one job that re-renders it (`model`: --model, else the recipe's, else the demo model). */
export async function jobsFromRecipe(file: string, args: { model?: string; out?: string }, demoModel: string): Promise<Job[]> {
  const r = await readRecipeOrExplain(file);
  const extra = r.extra ?? {};
  return [
    {
      prompt: r.prompt,
      negativePrompt: r.negativePrompt,
      seed: BigInt(r.seed),
      model: args.model ?? r.model.dir ?? demoModel,
      steps: r.steps,
      guidanceScale: r.guidanceScale,
      frames: r.frames,
      width: r.width,
      height: r.height,
      fps: r.fps,
      scheduler: r.scheduler,
      contextLength: typeof extra.contextLength === 'number' ? extra.contextLength : undefined,
      contextOverlap: typeof extra.contextOverlap === 'number' ? extra.contextOverlap : undefined,
      freeInit: recipeFreeInit(extra.freeInit, file),
      init: initFromRecipe(extra, file),
      ...(Array.isArray(extra.controlnet) && { controlnet: recipeControlNets(extra.controlnet, file) }),
      freeNoise: freeNoiseFromRecipe(extra.freeNoise, file),
      motionScale: motionScaleFromRecipe(extra.motionScale, file),
      out: args.out ?? file.replace(/\.json$/, ''),
      recipe: r,
      label: `recipe ${path.basename(file)}`,
      nameOf: (option) => `${file}: ${CONFIG_KEYS[option] ?? option}`,
    },
  ];
}

/** A recipe's extra.controlnet (the specs a --controlnet render recorded, with their inputs' sha256). */
function recipeControlNets(v: unknown[], file: string): RecordedControlNet[] {
  return v.map((c, i) => {
    const o = c as Partial<RecordedControlNet>;
    if (typeof o?.path !== 'string' || typeof o.input !== 'string' || typeof o.sha256 !== 'string')
      throw new InvalidParameterError(`${file}: extra.controlnet[${i}]`, '{ path, input, sha256, ... }', c);
    return o as RecordedControlNet;
  });
}

/** A recipe's extra.freeInit (written resolved by a FreeInit render), checked as generate() checks it. */
function recipeFreeInit(v: unknown, file: string): ResolvedFreeInit | undefined {
  try {
    return resolveFreeInit(v);
  } catch (err) {
    if (err instanceof InvalidParameterError) throw new InvalidParameterError(`${file}: extra.${err.parameter}`, err.expected, err.actual);
    throw err;
  }
}
