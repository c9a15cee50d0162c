// The CLI explains itself: every flag of every command has a description, each command's --help has
// examples, and bench reports peak memory beside its timings.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { bench } from '../lib/cli/commands/bench';
import { exportedModel, repoRoot } from './utils/fixtures';

const run = promisify(execFile);
const cli = path.join(repoRoot, 'bin', 'animatorch.js');

/** The flags of a yargs --help text whose line has no description (only the type in brackets). */
function undescribed(help: string): string[] {
  return help
    .split('\n')
    .map((line) => /^\s+(?:-\w, )?(--[\w-]+)\s*(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && (m[2] === '' || m[2]!.startsWith('[')))
    .map((m) => m[1]!);
}

describe('CLI help', () => {
  it.each(['render', 'export', 'inspect', 'bench', 'doctor'])('%s --help describes every flag and has examples', async (command) => {
    const { stdout } = await run(process.execPath, [cli, command, '--help']);
    expect(stdout).toMatch(/^Options:$/m);
    expect(undescribed(stdout)).toEqual([]);
    expect(stdout).toMatch(new RegExp(`^Examples:\\n  animatorch ${command}`, 'm'));
  });

  it('render --help documents video-to-video and image-to-video, with examples', async () => {
    const { stdout } = await run(process.execPath, [cli, 'render', '--help']);
    const text = stdout.replace(/\s+/g, ' ');
    expect(text).toMatch(/--init-video video-to-video: a \.gif, \.webp, \.png, a video file \(\.mp4, .*read with ffmpeg\) or a folder of frames/);
    expect(text).toMatch(/--init-image image-to-video: a still/);
    expect(text).toMatch(/--strength with --init-video \/ --init-image: how far it is re-noised, 0\.\.1 \(1 = from noise; default 0\.8\)/);
    expect(text).toMatch(/--anchor-first-frame with --init-image: keep the first frame on the image/);
    expect(text).toMatch(/video-to-video: restyle an existing/);
    expect(text).toMatch(/image-to-video: animate a still/);
  });

  it('the top-level --help has examples', async () => {
    const { stdout } = await run(process.execPath, [cli, '--help']);
    expect(stdout).toMatch(/^Examples:\n  animatorch render --prompt/m);
  });

  it('bench reports peak memory per stage and for the run', async () => {
    const model = await exportedModel('tiny-v2', 0);
    const lines: string[] = [];
    const r = await bench({ model, width: 64, height: 64, frames: 2, iterations: 1, warmup: 0 }, { stdout: (t) => void lines.push(t) });
    expect(r.memory).toBe('process-peak-rss');
    expect(r.stages.map((s) => s.stage)).toEqual(['load', 'text-encoder', 'unet-step', 'vae-decode']);
    const rss = process.memoryUsage().rss;
    for (const s of r.stages) expect(s.peakBytes).toBeGreaterThan(50e6); // node + libtorch alone
    expect(Math.max(...r.stages.map((s) => s.peakBytes))).toBeGreaterThanOrEqual(rss * 0.5);
    const table = lines.join('\n');
    expect(table).toMatch(/^stage\s+mean ms\s+min ms\s+runs\s+peak RSS MiB\s+RSS after MiB$/m);
    expect(table).toMatch(/^vae-decode\s+[\d.]+\s+[\d.]+\s+1\s+\d+\s+\d+$/m);
    expect(table).toMatch(/^memory: after load \d+ MiB, peak in denoise \d+ MiB, peak in decode \d+ MiB \(process resident set\)$/m);
    expect(table).toMatch(/peak memory \d+ MiB$/);
  });

  it('bench --keep-modules stage runs each stage with only its model loaded', async () => {
    const model = await exportedModel('tiny-v2', 0);
    const r = await bench({ model, width: 64, height: 64, frames: 2, iterations: 1, warmup: 0, keepModules: 'stage' }, { stdout: () => {} });
    expect(r.keepModules).toBe('stage');
    expect(r.stages.map((s) => s.stage)).toEqual(['load', 'text-encoder', 'unet-step', 'vae-decode']);
    for (const s of r.stages) expect(s.times.length).toBe(1);
  });
});
