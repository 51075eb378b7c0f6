// Four projects: `unit` (*.test.ts) needs nothing installed or running; `tools` (*.tools.test.ts)
// runs the pinned tools `make tools` builds (helm, promtool, shellcheck) but starts nothing;
// `integration` (*.int.test.ts) gets a real NATS JetStream server and a real Kubernetes control
// plane (etcd, kube-apiserver, controller-manager, scheduler, kwok) from test/global-setup.js, or
// reuses a running dev stack when JETSCALE_TEST_ENV points at its env file; `real-node`
// (*.realnode.test.ts) runs on a stack with a real kubelet + containerd node (`make e2e-real-node`).
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
  ],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform,
  testEnvironment: 'node',
  // .dev holds the dev stack's etcd, whose *.snap files jest would otherwise call obsolete snapshots.
  modulePathIgnorePatterns: [
    '<rootDir>/dist/',
    '<rootDir>/.tools/',
    '<rootDir>/.dev/',
    '<rootDir>/.cache/',
    '<rootDir>/reports/',
  ],
};
export default {
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/**/*.test.ts'],
      testPathIgnorePatterns: [
        '/node_modules/',
        '\\.int\\.test\\.ts$',
        '\\.tools\\.test\\.ts$',
        '\\.realnode\\.test\\.ts$',
      ],
    },
    {
      ...common,
      displayName: 'tools',
      testMatch: ['<rootDir>/**/*.tools.test.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/**/*.int.test.ts'],
      // Fails a file that leaves sockets, servers or child processes running after it.
      testEnvironment: '<rootDir>/test/integration-environment.js',
      globalSetup: '<rootDir>/test/global-setup.js',
      globalTeardown: '<rootDir>/test/global-teardown.js',
      setupFilesAfterEnv: ['<rootDir>/test/integration-setup.ts'],
    },
    {
      // Real containers on a real kubelet + containerd node (root, Docker, containerd): `make e2e-real-node`.
      ...common,
      displayName: 'real-node',
      testMatch: ['<rootDir>/**/*.realnode.test.ts'],
      globalSetup: '<rootDir>/test/real-node-setup.js',
      globalTeardown: '<rootDir>/test/real-node-teardown.js',
      setupFilesAfterEnv: ['<rootDir>/test/integration-setup.ts'],
    },
  ],
};
