import { defineConfig } from 'vitest/config';

// Three projects: `unit` runs the *.test.ts files that sit beside the code;
// `e2e` runs the cross-process tests in test/ (real sockets, TLS, processes);
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
          exclude: ['test/cluster/**'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
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
