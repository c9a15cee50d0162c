/**
 * Where the one object of a demo clip is (test/utils/clip-analyzer.ts reads its color and motion): the
 * centroid of its core on each frame, the pixels at least half as far from the background (the median
 * border color) as the farthest one, so blurred edges do not pull it; the mean of those over frames. And a
 * still to start from.
 */

/** Per-frame centroid of the object's core (pixel k at k; null on a frame with fewer than 4 core pixels). */
export function objectCentres(frames: Uint8Array, numFrames: number, height: number, width: number): ({ x: number; y: number } | null)[] {
  const out: ({ x: number; y: number } | null)[] = [];
  for (let f = 0; f < numFrames; f++) {
    const px = (y: number, x: number, c: number) => frames[((f * height + y) * width + x) * 3 + c]!;
    const bg = [0, 1, 2].map((c) => {
      const border: number[] = [];
      for (let x = 0; x < width; x++) border.push(px(0, x, c), px(height - 1, x, c));
      for (let y = 0; y < height; y++) border.push(px(y, 0, c), px(y, width - 1, c));
      return border.sort((a, b) => a - b)[border.length >> 1]!;
    });
    const dist = new Float32Array(height * width);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) dist[y * width + x]! += Math.abs(px(y, x, c) - bg[c]!);
    const cut = Math.max(0.3 * 255, 0.5 * dist.reduce((m, d) => Math.max(m, d), 0));
    let n = 0;
    let fx = 0;
    let fy = 0;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        if (dist[y * width + x]! > cut) {
          n++;
          fx += x;
          fy += y;
        }
    out.push(n < 4 ? null : { x: fx / n, y: fy / n });
  }
  return out;
}

/** The mean over frames of objectCentres(); null if any frame has no object. */
export function objectCentre(frames: Uint8Array, numFrames: number, height: number, width: number): { x: number; y: number } | null {
  const each = objectCentres(frames, numFrames, height, width);
  if (each.some((c) => c === null)) return null;
  return { x: each.reduce((s, c) => s + c!.x, 0) / numFrames, y: each.reduce((s, c) => s + c!.y, 0) / numFrames };
}

/** A still of a flat square of side `side` centred at (cx, cy): uint8 RGB [size, size, 3]. */
export function drawSquare(size: number, color: readonly number[], background: readonly number[], cx: number, cy: number, side: number): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) out.set(Math.abs(x + 0.5 - cx) <= side / 2 && Math.abs(y + 0.5 - cy) <= side / 2 ? color : background, (y * size + x) * 3);
  return out;
}
