/**
 * The consumer side of the render farm: a BullMQ Worker whose processor runs in
 * this process. The denoising runs on the addon's torch thread, off the event
 * loop, so BullMQ's lock-renewal timer keeps firing through long steps; the
 * loaded pipeline stays in memory from one job to the next.
 */
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { UnrecoverableError, Worker, type Job, type KeepJobs } from 'bullmq';
import { cuda, setNumThreads } from '../device';
import { AbortError } from '../errors';
import type { AnimateDiffPipeline } from '../pipelines/animatediff';
import { loadPipeline } from '../pipelines/load-pipeline';
import { assertDevice } from '../tensor';
import { bullConnection, createRedisClient, describeRedis, redisOptions, type FarmConnection } from './connection';
import { DEFAULT_MODELS_DIR, describeModels, scanModels, type KnownModel } from './models';
import { CANCELLED_PREFIX, cancelChannel, cancelKey, DEFAULT_QUEUE_NAME } from './protocol';
import { isPermanentError, prepareJob, renderPrepared, type RenderJobData, type RenderResult } from './render-job';

export interface RenderWorkerOptions {
  connection: FarmConnection;
  /** Folders holding model folders, or model folders (default: the package's models/, the demo model). */
  models?: string | string[];
  /** 'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N'. */
  device?: string;
  /** Jobs at once (default 1: one per device). */
  concurrency?: number;
  /** Output directory shared by the workers, e.g. a network mount (default ./renders). */
  outDir?: string;
  /** CPU threads for libtorch (process-wide; default torch's). */
  threads?: number;
  /** Queue name (default 'animatorch-render'). */
  queue?: string;
  /** Name stored on the jobs this worker takes (default host:pid). */
  name?: string;
  /** BullMQ's job lock, ms (default 30000); renewed every half of it while a job runs. */
  lockDuration?: number;
  /** How often this worker looks for stalled jobs (locks that lapsed: a dead worker), ms (default 30000). */
  stalledInterval?: number;
  /** Used when a job was submitted without its own (the queue sets them). */
  removeOnComplete?: KeepJobs;
  removeOnFail?: KeepJobs;
  /** One line per event (default: stderr with a time stamp). */
  log?: (line: string) => void;
}

const connectionErrors = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EPIPE|Connection is closed|connect/i;

export class RenderWorker {
  readonly worker: Worker<RenderJobData, RenderResult>;
  readonly device: string;
  private readonly pipelines = new Map<string, Promise<AnimateDiffPipeline>>();
  /** Subscribed to the cancel channel (only pub/sub commands there); also tells outages. */
  private readonly subscriber: Redis;
  /** For the cancel keys. */
  private readonly commands: Redis;
  private models: Promise<KnownModel[]>;
  private redisDown = false;
  private readonly log: (line: string) => void;

  constructor(private readonly options: RenderWorkerOptions) {
    const connection = redisOptions(options.connection);
    const where = describeRedis(connection);
    this.log = options.log ?? ((line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
    this.device = options.device === undefined || options.device === 'auto' ? (cuda.isAvailable() ? 'cuda' : 'cpu') : options.device;
    assertDevice('device', this.device);
    if (options.threads !== undefined) setNumThreads(options.threads);
    const dirs = options.models === undefined ? [DEFAULT_MODELS_DIR] : Array.isArray(options.models) ? options.models : [options.models];
    this.models = scanModels(dirs);
    this.models.catch(() => undefined);
    const name = options.name ?? `${hostname()}:${process.pid}`;

    // Three params: BullMQ then passes the AbortSignal that Worker.cancelJob fires.
    const processor = (job: Job<RenderJobData, RenderResult>, _token: string | undefined, signal: AbortSignal | undefined) => this.process(job, signal);
    this.worker = new Worker<RenderJobData, RenderResult>(options.queue ?? DEFAULT_QUEUE_NAME, processor, {
      connection: bullConnection(connection),
      name,
      concurrency: options.concurrency ?? 1,
      lockDuration: options.lockDuration ?? 30_000,
      stalledInterval: options.stalledInterval ?? 30_000,
      removeOnComplete: options.removeOnComplete ?? { count: 1000, age: 7 * 24 * 3600 },
      removeOnFail: options.removeOnFail ?? { count: 1000, age: 7 * 24 * 3600 },
    });

    // Redis outages: one line when the connection goes, one when it is back; BullMQ and ioredis retry meanwhile.
    this.subscriber = createRedisClient(connection);
    this.commands = createRedisClient(connection);
    this.commands.on('error', () => undefined);
    const lost = (err: Error) => {
      if (this.redisDown) return;
      this.redisDown = true;
      this.log(`redis: cannot reach ${where} (${err.message}); jobs wait, retrying until it is back`);
    };
    this.subscriber.on('error', lost);
    // A short outage can end in a reconnect without any error event.
    this.subscriber.on('reconnecting', () => lost(new Error('connection closed')));
    this.subscriber.on('ready', () => {
      if (this.redisDown) this.log(`redis: reconnected to ${where}`);
      this.redisDown = false;
    });
    this.worker.on('error', (err) => {
      if (connectionErrors.test(err.message)) lost(err);
      else if (err.message.startsWith('could not renew lock')) return; // logged once by lockRenewalFailed
      else this.log(`worker error: ${err.message}`);
    });
    void this.subscriber.subscribe(cancelChannel(this.worker)).catch(() => undefined);
    this.subscriber.on('message', (_channel, message) => {
      const { jobId, reason } = JSON.parse(message) as { jobId: string; reason: string };
      if (this.worker.cancelJob(jobId, reason)) this.log(`job ${jobId}: cancelling (${reason})`);
    });

    this.worker.on('lockRenewalFailed', (ids) => this.log(`job(s) ${ids.join(', ')}: could not renew the lock; another worker may take the job over`));
    this.worker.on('active', (job) => this.log(`job ${job.id}: started (start ${job.attemptsStarted}${job.attemptsMade ? `, after ${job.attemptsMade} failed` : ''})`));
    this.worker.on('completed', (job, result) => this.log(`job ${job.id}: wrote ${result.file} in ${(result.renderMs / 1000).toFixed(1)} s`));
    this.worker.on('failed', (job, err) => {
      if (!job) return;
      const retry = !(err instanceof UnrecoverableError) && job.attemptsMade < (job.opts.attempts ?? 1);
      this.log(`job ${job.id}: ${err.message.startsWith(CANCELLED_PREFIX) ? err.message : `failed: ${err.message}${retry ? ` (try ${job.attemptsMade} of ${job.opts.attempts}; retrying with backoff)` : ''}`}`);
    });
    void this.models.then(
      (known) => this.log(`worker ${name} on ${this.device}: queue ${this.worker.name} at ${where}; models: ${describeModels(known)}; output: ${this.outDir}`),
      (err: Error) => this.log(`worker ${name}: cannot read the models: ${err.message}`),
    );
  }

  get outDir(): string {
    return this.options.outDir ?? 'renders';
  }

  private pipeline(dir: string): Promise<AnimateDiffPipeline> {
    let p = this.pipelines.get(dir);
    if (!p) {
      p = loadPipeline(dir, { device: this.device });
      this.pipelines.set(dir, p);
      p.catch(() => this.pipelines.delete(dir)); // a failed load is retried by the next try
    }
    return p;
  }

  private async process(job: Job<RenderJobData, RenderResult>, signal: AbortSignal | undefined): Promise<RenderResult> {
    const start = performance.now();
    const key = cancelKey(this.worker, job.id!);
    const cancelled = (reason: unknown) => new UnrecoverableError(`${CANCELLED_PREFIX}${typeof reason === 'string' ? reason : 'by request'}`);
    const early = await this.commands.get(key).catch(() => null);
    if (early !== null) throw cancelled(early);
    let prepared;
    try {
      prepared = await prepareJob(job.data, job.id!, await this.models);
    } catch (err) {
      if (isPermanentError(err)) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
    try {
      const pipeline = await this.pipeline(prepared.model.dir);
      if (signal?.aborted) throw new AbortError('cancelled', { cause: signal.reason });
      const out = await renderPrepared(pipeline, prepared, {
        outDir: this.outDir,
        device: this.device,
        signal,
        // Numbers only; not awaited, so a slow or absent Redis never holds up the render.
        onProgress: (p) => void job.updateProgress({ ...p }).catch(() => undefined),
      });
      return { ...out, worker: this.worker.opts.name ?? '', renderMs: Math.round(performance.now() - start) };
    } catch (err) {
      if (err instanceof AbortError && signal?.aborted) {
        if (this.device.startsWith('cuda')) cuda.emptyCache();
        await this.commands.del(key).catch(() => undefined);
        throw cancelled(signal.reason);
      }
      if (isPermanentError(err)) throw new UnrecoverableError((err as Error).message);
      throw err;
    }
  }

  /** Resolves once connected to Redis and the models are read. */
  async ready(): Promise<KnownModel[]> {
    await this.worker.waitUntilReady();
    return this.models;
  }

  /** Stops taking jobs; waits for running ones unless `force` (their locks then lapse and another worker takes them). */
  async close(force = false): Promise<void> {
    await this.worker.close(force);
    await Promise.all([this.subscriber.quit().catch(() => undefined), this.commands.quit().catch(() => undefined)]);
    for (const p of this.pipelines.values()) await p.then((pl) => pl.dispose()).catch(() => undefined);
    this.pipelines.clear();
  }
}

/** Starts a render worker on the queue; it runs until close(). */
export function runRenderWorker(options: RenderWorkerOptions): RenderWorker {
  return new RenderWorker(options);
}
