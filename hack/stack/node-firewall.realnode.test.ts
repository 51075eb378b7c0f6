// The real node's firewall on a real host (`make e2e-real-node`): the API server binds the wildcard
// address and NATS the node IP, and a machine on another network must reach neither. A Docker
// container on Docker's own bridge stands in for that machine: its packets enter the host on
// docker0, as a neighbour's would on the host's network card. A port the test opens on the host
// proves the container reaches the host at all, so a refused connection is the firewall's doing.
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { testStack } from '../../test/env.js';
import { defaultRealNodeNetwork } from './real-node-config.js';

const run = promisify(execFile);
const imageTag = process.env.JETSCALE_IMAGE_TAG ?? 'test';

/** Tries each host:port from a container on Docker's bridge; returns "open" or the error code per target. */
async function connectFromDockerBridge(targets: string[]): Promise<Record<string, string>> {
  const script = `
const net = require('node:net');
const targets = ${JSON.stringify(targets)};
Promise.all(targets.map((t) => new Promise((resolve) => {
  const [host, port] = t.split(':');
  const s = net.connect({ host, port: Number(port), timeout: 4000 });
  s.once('connect', () => { s.destroy(); resolve([t, 'open']); });
  s.once('timeout', () => { s.destroy(); resolve([t, 'timeout']); });
  s.once('error', (e) => resolve([t, e.code || e.message]));
}))).then((r) => console.log(JSON.stringify(Object.fromEntries(r))));`;
  const { stdout } = await run(
    'docker',
    [
      'run',
      '--rm',
      '--network',
      'bridge',
      '--entrypoint',
      'node',
      `jetscale/workloads:${imageTag}`,
      '-e',
      script,
    ],
    { timeout: 60_000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string>;
}

describe('the real node firewall', () => {
  it('keeps the API server and the node IP from other networks, while the host stays reachable', async () => {
    const stack = testStack();
    const kubeconfig = (await run('cat', [stack.kubeconfigPath])).stdout;
    const apiPort = new URL(/^\s*server:\s*(\S+)/m.exec(kubeconfig)?.[1] ?? '').port;
    const natsPort = new URL(stack.natsUrl).port;
    const docker0 = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(
      (await run('ip', ['-4', '-o', 'addr', 'show', 'docker0'])).stdout,
    )?.[1];
    expect(docker0).toBeDefined();
    const control = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => control.listen(0, '0.0.0.0', resolve));
    const controlPort = (control.address() as net.AddressInfo).port;
    try {
      const result = await connectFromDockerBridge([
        `${docker0}:${controlPort}`,
        `${docker0}:${apiPort}`,
        `${defaultRealNodeNetwork.nodeIp}:${apiPort}`,
        `${defaultRealNodeNetwork.nodeIp}:${natsPort}`,
      ]);
      expect(result[`${docker0}:${controlPort}`]).toBe('open');
      expect(result[`${docker0}:${apiPort}`]).toBe('timeout');
      expect(result[`${defaultRealNodeNetwork.nodeIp}:${apiPort}`]).toBe('timeout');
      expect(result[`${defaultRealNodeNetwork.nodeIp}:${natsPort}`]).toBe('timeout');
    } finally {
      control.close();
    }
  }, 120_000);
});
