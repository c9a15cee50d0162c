import { defineConfig } from 'vitest/config';

// One fork at a time: libtorch already uses every core, and each worker pays
// the ~350 ms / 200 MB cost of loading libtorch once.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/package/**', '**/node_modules/**'],
    pool: 'forks',
    poolOptions: { forks: { singleFork: true, execArgv: ['--expose-gc'] } },
    testTimeout: 120_000,
    // CI also writes a JSON report, which .ci/run sums into its closing line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
    hookTimeout: 300_000,
  },
});
