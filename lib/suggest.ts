/** "Did you mean" suggestions for misspelled option names. */
import { InvalidParameterError } from './errors';

/** Levenshtein distance, case-insensitive (numInferenceStep vs numInferenceSteps: 1). */
function distance(a: string, b: string): number {
  a = a.toLowerCase();
  b = b.toLowerCase();
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** The closest candidate within a third of the name's length (at least 2 edits), if any. */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const c of candidates) {
    const d = distance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best;
}

/** Throws for the first key of `options` not in `known`, suggesting the closest known one. */
export function assertKnownKeys(what: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = closestName(key, known);
    const err = new InvalidParameterError(key, `one of ${what}'s options`);
    err.message = `${key}: unknown option of ${what}; ${near ? `did you mean '${near}'?` : `known options: ${known.join(', ')}`}`;
    throw err;
  }
}
