import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs the *.test.ts files that sit beside the code;
// `e2e` runs the cross-process tests in test/ (real sockets, TLS, processes).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{proto,identity,proxy,control-plane,injector,cli}/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
