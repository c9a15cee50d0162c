/**
 * The producer side of the render farm: a BullMQ Queue to submit recipes to,
 * QueueEvents for progress/completed/failed, and cancellation of running jobs.
 */
import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { Queue, QueueEvents, type Job, type JobsOptions, type KeepJobs } from 'bullmq';
import { assertReachable, bullConnection, createRedisClient, redisOptions, type FarmConnection } from './connection';
import { CANCELLED_PREFIX, cancelChannel, cancelKey, DEFAULT_QUEUE_NAME } from './protocol';
import { toJobData, type Recipe, type RenderJobData, type RenderProgress, type RenderRequest, type RenderResult } from './render-job';

export interface RenderQueueOptions {
  connection: FarmConnection;
  /** Queue name (default 'animatorch-render'); workers must use the same. */
  name?: string;
  /** Tries per job, counting the first (default 3); bad jobs fail once regardless. */
  attempts?: number;
  /** Exponential backoff's first delay between tries, ms (default 5000: 5 s, 10 s, ...). */
  backoffMs?: number;
  /** Finished jobs kept in Redis (default: the last 1000 and at most 7 days). */
  removeOnComplete?: KeepJobs;
  removeOnFail?: KeepJobs;
  /** Approximate cap of the events stream (default 1000 events). */
  eventsMaxLen?: number;
}

export interface SubmitOptions {
  /** Output path relative to the workers' output directory (default `<jobId>.gif`). */
  output?: string;
  /** BullMQ job options (priority, jobId, delay...) over the queue's. */
  job?: JobsOptions;
}

export type RenderJob = Job<RenderJobData, RenderResult>;
export type CancelOutcome = 'removed' | 'cancelling' | 'finished' | 'missing';

export interface RenderQueueEvents {
  progress: [jobId: string, progress: RenderProgress];
  completed: [jobId: string, result: RenderResult];
  failed: [jobId: string, reason: string];
  cancelled: [jobId: string, reason: string];
}

export const isCancelledReason = (reason: string | undefined): boolean => !!reason?.startsWith(CANCELLED_PREFIX);

export class RenderQueue extends EventEmitter<RenderQueueEvents> {
  readonly queue: Queue<RenderJobData, RenderResult>;
  readonly events: QueueEvents;
  private readonly publisher: Redis;

  private readonly connection;

  constructor(options: RenderQueueOptions) {
    super();
    const connection = redisOptions(options.connection);
    this.connection = connection;
    const name = options.name ?? DEFAULT_QUEUE_NAME;
    this.queue = new Queue<RenderJobData, RenderResult>(name, {
      connection: bullConnection(connection),
      streams: { events: { maxLen: options.eventsMaxLen ?? 1000 } },
      defaultJobOptions: {
        attempts: options.attempts ?? 3,
        backoff: { type: 'exponential', delay: options.backoffMs ?? 5000 },
        removeOnComplete: options.removeOnComplete ?? { count: 1000, age: 7 * 24 * 3600 },
        removeOnFail: options.removeOnFail ?? { count: 1000, age: 7 * 24 * 3600 },
      },
    });
    this.events = new QueueEvents(name, { connection: bullConnection(connection) });
    this.publisher = createRedisClient(connection);
    // BullMQ emits connection errors here; callers see them as 'error' only if they listen.
    this.queue.on('error', () => undefined);
    this.events.on('error', () => undefined);
    this.publisher.on('error', () => undefined);
    this.events.on('progress', ({ jobId, data }) => this.emit('progress', jobId, data as unknown as RenderProgress));
    this.events.on('completed', ({ jobId, returnvalue }) => this.emit('completed', jobId, returnvalue as unknown as RenderResult));
    this.events.on('failed', ({ jobId, failedReason }) => this.emit(isCancelledReason(failedReason) ? 'cancelled' : 'failed', jobId, failedReason));
  }

  get name(): string {
    return this.queue.name;
  }

  /** Resolves once the queue and its event listener are connected (their events start now); rejects at once when Redis does not answer. */
  async ready(): Promise<void> {
    await assertReachable(this.connection);
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  /** Adds a render: a recipe (as `render --recipe` reads) or { prompt, seed?, model?, ... }. */
  async submit(recipeOrOptions: Recipe | RenderRequest, options: SubmitOptions = {}): Promise<RenderJob> {
    return this.queue.add('render', toJobData(recipeOrOptions, options.output), options.job);
  }

  getJob(jobId: string): Promise<RenderJob | undefined> {
    return this.queue.getJob(jobId);
  }

  /**
   * Cancels a job: a waiting one is removed; a running one is aborted at its next
   * step through the pipeline's AbortSignal and fails once as cancelled (no retry).
   */
  async cancel(jobId: string, reason = 'by request'): Promise<CancelOutcome> {
    const job = await this.getJob(jobId);
    if (!job) return 'missing';
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') return 'finished';
    if (state !== 'active') {
      try {
        await job.remove();
        return 'removed';
      } catch {
        // Taken by a worker meanwhile (locked): cancel it as a running job.
      }
    }
    // The key covers a worker that picks the job up after the message went out.
    await this.publisher.set(cancelKey(this.queue, jobId), reason, 'EX', 24 * 3600);
    await this.publisher.publish(cancelChannel(this.queue), JSON.stringify({ jobId, reason }));
    return 'cancelling';
  }

  /** The job's result once it has finished; rejects with its failure reason. */
  async result(job: RenderJob): Promise<RenderResult> {
    return job.waitUntilFinished(this.events);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close(), this.publisher.quit()]);
  }
}

/** A render queue on Redis; `await queue.ready()` before relying on its events. */
export function createRenderQueue(options: RenderQueueOptions): RenderQueue {
  return new RenderQueue(options);
}
