import { defineConfig } from 'vitest/config';

// Four projects: `unit` runs the *.test.ts files that sit beside the code;
// `e2e` runs the cross-process tests in test/ (real sockets, TLS, processes);
// `mesh` runs the tests that start a whole local mesh (a dozen processes
// each), one file at a time so that they do not starve each other;
// `cluster` runs test/cluster/ against a real kube-apiserver + etcd (see
// test/cluster/README.md): one file at a time, since each starts its own
// control plane, with room for its start-up and apiserver restarts.
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
          exclude: ['test/cluster/**', 'test/mesh/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'mesh',
          include: ['test/mesh/**/*.test.ts'],
          testTimeout: 90_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
