/** Names shared by the farm's producers and workers (beyond BullMQ's own keys). */

export const DEFAULT_QUEUE_NAME = 'animatorch-render';

/** A cancelled job fails with a reason starting with this (and is never retried). */
export const CANCELLED_PREFIX = 'cancelled: ';

interface QueueKeys {
  qualifiedName: string;
}

/** Pub/sub channel on which cancel(jobId) reaches the worker running the job. */
export const cancelChannel = (q: QueueKeys): string => `${q.qualifiedName}:animatorch:cancel`;

/** Set by cancel(jobId) for a day: a worker checks it when it starts a job. */
export const cancelKey = (q: QueueKeys, jobId: string): string => `${q.qualifiedName}:animatorch:cancel:${jobId}`;
