// The README's TypeScript examples compile under tsc --strict against the library's own types
// (`animatorch` resolved to lib/index.ts), so an API change that breaks them fails here.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './utils/fixtures';

/** Every ```ts block of a Markdown text. */
function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

function typeCheck(blocks: string[]): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'animatorch-readme-'));
  const files = blocks.map((code, i) => {
    const file = path.join(dir, `block-${i}.mts`); // ESM, as an app with top-level await
    writeFileSync(file, `${code}\nexport {};\n`); // each block is its own module (top-level await)
    return file;
  });
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'Node16',
        moduleResolution: 'Node16',
        lib: ['ES2022', 'ESNext.Disposable'],
        types: ['node'],
        typeRoots: [path.join(repoRoot, 'node_modules', '@types')],
        skipLibCheck: true,
        paths: { animatorch: [path.join(repoRoot, 'lib', 'index.ts')] },
      },
      files,
    }),
  );
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("README's TypeScript examples", () => {
  const blocks = tsBlocks(readFileSync(path.join(repoRoot, 'README.md'), 'utf8'));

  it('type-check under tsc --strict (and the check is real: a wrong property beside them fails)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(blocks.join('\n')).toContain('pipe.generate(');
    // One tsc run (it compiles the library): the README's blocks, then a copy of the first with a typo.
    const r = typeCheck([...blocks, `${blocks[0]!}\nconsole.log(video.framez);\n`]);
    expect(r.status).not.toBe(0);
    const errors = r.output.split('\n').filter((l) => /error TS/.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`block-${blocks.length}\\.mts\\(\\d+,\\d+\\): error TS\\d+: Property 'framez' does not exist`));
  }, 120_000);
});
