/** `animatorch submit`: puts renders on the farm's Redis queue; prints job ids; `--wait` follows them to the end. */
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { farmOptions } from '../farm-options';
import { InvalidParameterError } from '../../errors';
import { parseSeed, randomSeed } from '../../generator';
import { assertReachable, redisOptions } from '../../farm/connection';
import { createRenderQueue, type RenderJob } from '../../farm/queue';
import { requestFromRecipeFile, requestsFromConfig, type Recipe, type RenderRequest } from '../../farm/render-job';
import type { RenderArgs } from '../../render/render';
import { videoOptions } from '../video-options';

/** The video's flags are render's (`videoOptions`); the seeds stay strings until the job is built. */
export interface SubmitArgs
  extends Pick<RenderArgs, 'prompt' | 'negativePrompt' | 'model' | 'steps' | 'guidanceScale' | 'frames' | 'width' | 'height' | 'scheduler' | 'fps' | 'contextLength' | 'contextOverlap'> {
  redis: string;
  queue?: string;
  seed?: string[];
  out?: string;
  config?: string;
  recipe?: string;
  wait?: boolean;
}

export interface SubmitIO {
  /** Job ids, one a line. Default process.stdout. */
  stdout?: NodeJS.WritableStream;
  /** Progress and results with --wait. Default process.stderr. */
  log?: NodeJS.WritableStream & { isTTY?: boolean };
}

interface Item {
  input: Recipe | RenderRequest;
  output?: string;
}

/** Output name k of n: `--out` itself for one job, `<name>-<k>-<seed><ext>` for several. */
function outputName(out: string | undefined, k: number, n: number, seed: string): string | undefined {
  if (out === undefined || n === 1) return out;
  const ext = path.extname(out);
  return `${out.slice(0, out.length - ext.length)}-${k}-${seed}${ext}`;
}

async function itemsFrom(args: SubmitArgs): Promise<Item[]> {
  if ([args.config, args.recipe, args.prompt].filter((x) => x !== undefined).length !== 1)
    throw new InvalidParameterError('--prompt/--config/--recipe', 'exactly one of them');
  if (args.recipe) return [{ input: await requestFromRecipeFile(args.recipe), output: args.out }];
  const settings = { steps: args.steps, guidanceScale: args.guidanceScale, width: args.width, height: args.height, frames: args.frames, fps: args.fps };
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  if (args.config) {
    const requests = await requestsFromConfig(args.config, defined({ ...settings, scheduler: args.scheduler, model: args.model }));
    // flags are defaults under each entry's own keys, as for render --config
    const flags = defined({ contextLength: args.contextLength, contextOverlap: args.contextOverlap });
    return requests.map((r, k) => ({
      input: { ...flags, ...r, ...(r.model ? {} : args.model ? { model: args.model } : {}) },
      output: outputName(args.out, k, requests.length, String(r.seed)),
    }));
  }
  const seeds = (args.seed?.length ? args.seed : [randomSeed()]).map((s) => parseSeed(s, '--seed').toString());
  return seeds.map((seed, k) => ({
    input: defined({
      prompt: args.prompt!,
      negativePrompt: args.negativePrompt,
      seed,
      model: args.model,
      ...settings,
      scheduler: args.scheduler,
      contextLength: args.contextLength,
      contextOverlap: args.contextOverlap,
    }) as RenderRequest,
    output: outputName(args.out, k, seeds.length, seed),
  }));
}

/** Submits; with `wait`, resolves once every job has finished, to the number that failed. */
export async function submit(args: SubmitArgs, io: SubmitIO = {}): Promise<{ jobIds: string[]; failed: number }> {
  const stdout = io.stdout ?? process.stdout;
  const log = io.log ?? process.stderr;
  const items = await itemsFrom(args);
  await assertReachable(redisOptions(args.redis, '--redis')); // fail at once rather than wait for Redis
  const queue = createRenderQueue({ connection: args.redis, name: args.queue });
  try {
    if (args.wait) await queue.ready(); // listen before submitting, so that no event is missed
    const jobs: RenderJob[] = [];
    for (const it of items) jobs.push(await queue.submit(it.input, { output: it.output }));
    for (const j of jobs) stdout.write(`${j.id}\n`);
    if (!args.wait) return { jobIds: jobs.map((j) => j.id!), failed: 0 };

    const fraction = new Map<string, number>(jobs.map((j) => [j.id!, 0]));
    let done = 0;
    let failed = 0;
    const bar = () => {
      const f = [...fraction.values()].reduce((a, b) => a + b, 0) / jobs.length;
      const width = 30;
      const line = `[${'#'.repeat(Math.round(f * width)).padEnd(width, '-')}] ${(f * 100).toFixed(0).padStart(3)}%  ${done}/${jobs.length} done${failed ? `, ${failed} failed` : ''}`;
      if (log.isTTY) log.write(`\r${line}  `);
      return line;
    };
    queue.on('progress', (id, p) => {
      if (!fraction.has(id) || typeof p !== 'object') return;
      // Denoising is most of a render; decoding the rest.
      fraction.set(id, p.stage === 'denoise' ? 0.9 * (p.step / p.total) : 0.9 + 0.1 * (p.step / p.total));
      bar();
    });
    await Promise.all(
      jobs.map(async (j) => {
        try {
          const r = await queue.result(j);
          done++;
          fraction.set(j.id!, 1);
          const line = bar();
          log.write(`${log.isTTY ? '\n' : `${line}\n`}job ${j.id}: ${r.file}\n`);
        } catch (err) {
          done++;
          failed++;
          fraction.set(j.id!, 1);
          const line = bar();
          log.write(`${log.isTTY ? '\n' : `${line}\n`}job ${j.id}: ${(err as Error).message}\n`);
        }
      }),
    );
    return { jobIds: jobs.map((j) => j.id!), failed };
  } finally {
    await queue.close();
  }
}

export const SubmitCommand: CommandModule<object, SubmitArgs> = {
  command: 'submit',
  describe: 'Queue renders for the farm\'s workers; prints job ids',
  builder: (yargs: Argv<object>) =>
    farmOptions(videoOptions(yargs))
      .option('model', { alias: 'm', type: 'string', describe: 'model folder on the workers, model.yaml sha256 (8+ digits) or name (default: the demo model)' })
      .option('seed', { type: 'string', array: true, describe: 'seed (repeatable: one job each; default: one random seed, fixed now)' })
      .option('out', { alias: 'o', type: 'string', describe: 'output name inside the workers\' output folder (default <job id>.gif)' })
      .option('config', { type: 'string', describe: 'AnimateDiff-style prompt YAML: one job per prompt x seed' })
      .option('recipe', { type: 'string', describe: 'the .json recipe of an earlier render' })
      .option('wait', { type: 'boolean', describe: 'follow the jobs with a progress bar until they finish (exit 1 if any failed)' }) as unknown as Argv<SubmitArgs>,
  handler: async (args) => {
    const { failed } = await submit(args);
    if (failed) process.exitCode = 1;
  },
};
