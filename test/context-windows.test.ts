import { describe, expect, it } from 'vitest';
import {
  ContextFuser,
  contextWeights,
  contextWindows,
  gatherWindow,
  orderedHalving,
  resolveContextSettings,
} from '../lib/pipelines/context-windows';
import { arange, full, tensor } from '../lib/tensor-factories';

const covered = (windows: number[][], n: number): boolean => {
  const seen = new Set(windows.flat());
  return Array.from({ length: n }, (_, i) => i).every((i) => seen.has(i));
};

describe('contextWindows: uniform', () => {
  it('gives one window of all frames when the video fits the context', () => {
    expect(contextWindows(16)).toEqual([Array.from({ length: 16 }, (_, i) => i)]);
    expect(contextWindows(5, { contextLength: 8 })).toEqual([[0, 1, 2, 3, 4]]);
    expect(contextWindows(8, { contextLength: 8, contextSchedule: 'looped', step: 3 })).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
  });

  it('slides by contextLength - overlap and moves the last window back to the end', () => {
    const w = contextWindows(32, { contextLength: 16, contextOverlap: 4 });
    expect(w.map((x) => [x[0], x[x.length - 1]])).toEqual([
      [0, 15],
      [12, 27],
      [16, 31],
    ]);
    for (const x of w) {
      expect(x).toHaveLength(16);
      for (let i = 1; i < x.length; i++) expect(x[i]).toBe(x[i - 1]! + 1);
    }
  });

  it('covers every frame, with at least `overlap` frames shared by neighbours', () => {
    for (const [n, len, ov] of [
      [17, 16, 4],
      [33, 16, 4],
      [40, 8, 2],
      [100, 16, 0],
      [24, 12, 11],
    ] as const) {
      const w = contextWindows(n, { contextLength: len, contextOverlap: ov });
      expect(covered(w, n)).toBe(true);
      for (let i = 1; i < w.length; i++) {
        const shared = w[i]!.filter((f) => w[i - 1]!.includes(f)).length;
        expect(shared).toBeGreaterThanOrEqual(ov);
      }
      expect(w.every((x) => x.length === len && x.every((f) => f >= 0 && f < n))).toBe(true);
    }
  });

  it('defaults: length 16, overlap length / 4', () => {
    expect(resolveContextSettings()).toEqual({ contextLength: 16, contextOverlap: 4, contextSchedule: 'uniform' });
    expect(resolveContextSettings({ contextLength: 8 }).contextOverlap).toBe(2);
  });

  it('rejects bad settings, naming them', () => {
    expect(() => contextWindows(32, { contextLength: 0 })).toThrow(/contextLength/);
    expect(() => contextWindows(32, { contextLength: 8, contextOverlap: 8 })).toThrow(/contextOverlap/);
    expect(() => contextWindows(32, { contextSchedule: 'spiral' as never })).toThrow(/contextSchedule/);
    expect(() => contextWindows(0)).toThrow(/numFrames/);
  });
});

describe('contextWindows: looped', () => {
  it('orderedHalving is the bit-reversed fraction of the step', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(orderedHalving)).toEqual([0, 0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]);
  });

  it('wraps around the end of the video and closes the loop', () => {
    const w = contextWindows(32, { contextLength: 16, contextOverlap: 4, contextSchedule: 'looped', step: 0 });
    expect(w.map((x) => x[0])).toEqual([0, 12, 24]);
    expect(w[2]).toEqual([24, 25, 26, 27, 28, 29, 30, 31, 0, 1, 2, 3, 4, 5, 6, 7]);
    expect(covered(w, 32)).toBe(true);
    // the last window overlaps the first across the wrap
    expect(w[2]!.filter((f) => w[0]!.includes(f)).length).toBeGreaterThanOrEqual(4);
  });

  it('shifts the windows from step to step and still covers every frame', () => {
    const starts = [0, 1, 2, 3].map((step) => contextWindows(20, { contextLength: 8, contextOverlap: 2, contextSchedule: 'looped', step })[0]![0]);
    expect(starts).toEqual([0, 10, 5, 15]);
    for (let step = 0; step < 16; step++) {
      for (const n of [9, 20, 37]) {
        const w = contextWindows(n, { contextLength: 8, contextOverlap: 2, contextSchedule: 'looped', step });
        expect(covered(w, n)).toBe(true);
        expect(w.every((x) => x.length === 8 && new Set(x).size === 8)).toBe(true);
      }
    }
  });
});

describe('fusion weights', () => {
  it('pyramid rises to the middle and falls; flat is all ones', () => {
    expect(contextWeights(4)).toEqual([1, 2, 2, 1]);
    expect(contextWeights(5)).toEqual([1, 2, 3, 2, 1]);
    expect(contextWeights(16, 'pyramid')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(contextWeights(3, 'flat')).toEqual([1, 1, 1]);
    expect(contextWeights(1)).toEqual([1]);
    expect(() => contextWeights(4, 'gauss' as never)).toThrow(/fuseMethod/);
  });
});

describe('ContextFuser', () => {
  it('averages overlapping windows with their weights', async () => {
    // Each window predicts a constant: window k predicts k + 1 everywhere.
    const windows = contextWindows(10, { contextLength: 4, contextOverlap: 2 }); // [0-3] [2-5] [4-7] [6-9]
    const fuser = new ContextFuser(10, 'pyramid');
    windows.forEach((w, k) => {
      const p = full([1, 2, w.length, 1, 1], k + 1);
      fuser.add(w, p);
      p.dispose();
    });
    const out = fuser.result();
    expect(out.shape).toEqual([1, 2, 10, 1, 1]);
    const v = Array.from((await out.toArray()) as Float32Array).slice(0, 10);
    out.dispose();
    // expected by hand from pyramid weights [1, 2, 2, 1]
    const wts = [1, 2, 2, 1];
    const num = new Array(10).fill(0);
    const den = new Array(10).fill(0);
    windows.forEach((w, k) => w.forEach((f, i) => ((num[f] += wts[i]! * (k + 1)), (den[f] += wts[i]!))));
    v.forEach((x, f) => expect(x).toBeCloseTo(num[f] / den[f], 6));
  });

  it('returns the prediction unchanged where windows agree (flat and pyramid), including wrapped windows', async () => {
    const video = arange(0, 2 * 12 * 3).reshape([1, 2, 12, 3, 1]);
    for (const schedule of ['uniform', 'looped'] as const) {
      for (const fuse of ['flat', 'pyramid'] as const) {
        const fuser = new ContextFuser(12, fuse);
        for (const w of contextWindows(12, { contextLength: 5, contextOverlap: 2, contextSchedule: schedule, step: 1 })) {
          const part = gatherWindow(video, w);
          fuser.add(w, part);
          part.dispose();
        }
        const out = fuser.result();
        const a = await out.toArray();
        const b = await video.toArray();
        out.dispose();
        for (let i = 0; i < b.length; i++) expect(a[i]).toBeCloseTo(b[i] as number, 4);
      }
    }
    video.dispose();
  });

  it('gathers wrapped windows in window order', async () => {
    const video = tensor([0, 1, 2, 3, 4, 5], [1, 1, 6, 1, 1]);
    const g = gatherWindow(video, [4, 5, 0, 1]);
    expect(Array.from((await g.toArray()) as Float32Array)).toEqual([4, 5, 0, 1]);
  });

  it('reports uncovered frames and bad shapes', () => {
    const fuser = new ContextFuser(6);
    const p = full([1, 1, 3, 1, 1], 1);
    expect(() => fuser.add([0, 1], p)).toThrow(/prediction/);
    fuser.add([0, 1, 2], p);
    expect(() => fuser.result()).toThrow(/frame 3/);
    fuser.dispose();
  });
});
