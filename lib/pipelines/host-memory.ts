/**
 * The process's resident set, now and at its peak, with a resettable peak on Linux
 * (/proc/self/clear_refs "5" resets VmHWM), so that a benchmark can report each stage's own peak.
 * Elsewhere the peak is the process's peak so far (getrusage) and cannot be reset.
 */
import { readFileSync, writeFileSync } from 'node:fs';

function statusKiB(field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Bytes resident now. */
export function residentBytes(): number {
  const kib = statusKiB('VmRSS');
  return kib !== undefined ? kib * 1024 : process.memoryUsage().rss;
}

/** Peak resident bytes since the last resetPeakResident() (Linux), else since the process started. */
export function peakResidentBytes(): number {
  const kib = statusKiB('VmHWM');
  return kib !== undefined ? kib * 1024 : process.resourceUsage().maxRSS * 1024;
}

/** Starts a new peak window at the current resident set. False where the OS cannot (not Linux). */
export function resetPeakResident(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
