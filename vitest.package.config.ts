import { defineConfig } from 'vitest/config';

// `npm run test:package`: the packed tarball installed into a scratch app (slow: npm pack and
// two installs), run by CI after `npm run prebuilds`; kept out of `npm test`.
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    testTimeout: 300_000,
    hookTimeout: 600_000,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results-package.json' },
  },
});
