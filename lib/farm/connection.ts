/**
 * Redis connection settings for the render farm: a `redis://` URL or ioredis
 * options, turned into the options every BullMQ object and our own clients use.
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { InvalidParameterError } from '../errors';

/** A `redis://[user:password@]host[:port][/db]` URL, or ioredis options. */
export type FarmConnection = string | RedisOptions;

/** Resolved options. maxRetriesPerRequest is null: BullMQ's blocking commands must wait through outages, not fail. */
export function redisOptions(connection: FarmConnection, name = 'connection'): RedisOptions {
  if (typeof connection !== 'string') return { ...connection, maxRetriesPerRequest: null };
  let url: URL;
  try {
    url = new URL(connection);
  } catch {
    throw new InvalidParameterError(name, `a redis://host:port URL, got ${JSON.stringify(connection)}`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new InvalidParameterError(name, `a redis:// or rediss:// URL, got ${JSON.stringify(connection)}`);
  const db = url.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new InvalidParameterError(name, `a database number after the port, got ${JSON.stringify(url.pathname)}`);
  return {
    host: url.hostname || '127.0.0.1',
    port: url.port ? Number(url.port) : 6379,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** host:port for log lines (never the password). */
export function describeRedis(options: RedisOptions): string {
  return `redis://${options.host ?? '127.0.0.1'}:${options.port ?? 6379}${options.db ? `/${options.db}` : ''}`;
}

/** A client of our own (cancellation channel); same settings as BullMQ's. */
export function createRedisClient(options: RedisOptions): Redis {
  return new Redis(options);
}

/** The same options typed for BullMQ (its RedisOptions type is its own, the values are ioredis's). */
export const bullConnection = (options: RedisOptions): ConnectionOptions => options as unknown as ConnectionOptions;

/** Rejects with a clear error when Redis does not answer: commands fail fast where a worker would wait. */
export async function assertReachable(options: RedisOptions, timeoutMs = 5000): Promise<void> {
  const client = new Redis({ ...options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  let cause: Error | undefined; // the socket's error (ECONNREFUSED...), not ioredis' "Connection is closed."
  client.on('error', (err: Error) => (cause ??= err));
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    throw new Error(`cannot reach ${describeRedis(options)} (${(cause ?? (err as Error)).message || 'no answer'}); is redis-server running?`);
  } finally {
    client.disconnect();
  }
}
