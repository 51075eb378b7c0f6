// The real node's firewall. With a real node, the API server must answer the node's pods, which
// reach the host only at the node IP; kwokctl passes one --bind-address to the API server, and its
// controller-manager, scheduler and kwok reach it on 127.0.0.1, so it binds the wildcard address
// (IPv4 and IPv6) — on every interface of the host, reachable from its network. NATS and the
// kubelet bind the node IP only, but a host with IP forwarding on (Docker turns it on) accepts a
// packet for any of its addresses on any interface, so a neighbour with a route to the node IP
// reaches them too. This chain, hooked first into INPUT, keeps all of it to the host itself and the
// node's pods: loopback and the pod bridge (from the pod subnet) pass; anything else to the node IP
// or to the API server's port is dropped. Rules are pure functions (tested); apply/remove run
// iptables and ip6tables. The chain is removed with the node's network (make dev-down).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { RealNodeNetwork } from './real-node-config.js';

const run = promisify(execFile);

export const FIREWALL_CHAIN = 'JETSCALE-NODE';

export interface FirewallRules {
  /** iptables argument lists, in order, for the chain (without `-t filter`). */
  ipv4: string[][];
  ipv6: string[][];
}

/**
 * The chain's rules: `apiServerPort` is the API server's port (its wildcard socket); undefined
 * before the control plane is up (then only the node IP is guarded).
 */
export function firewallRules(network: RealNodeNetwork, apiServerPort?: number): FirewallRules {
  const chain = FIREWALL_CHAIN;
  const ipv4: string[][] = [
    ['-A', chain, '-i', 'lo', '-j', 'RETURN'],
    ['-A', chain, '-i', network.cniBridge, '-s', network.podSubnet, '-j', 'RETURN'],
    ['-A', chain, '-d', `${network.nodeIp}/32`, '-j', 'DROP'],
  ];
  const ipv6: string[][] = [['-A', chain, '-i', 'lo', '-j', 'RETURN']];
  if (apiServerPort !== undefined) {
    if (!Number.isInteger(apiServerPort) || apiServerPort < 1 || apiServerPort > 65535)
      throw new Error(`API server port ${apiServerPort} is not a TCP port`);
    const port = ['-p', 'tcp', '--dport', String(apiServerPort), '-j', 'DROP'];
    ipv4.push(['-A', chain, ...port]);
    ipv6.push(['-A', chain, ...port]);
  }
  return { ipv4, ipv6 };
}

/** The port of an https://host:port API server URL (443 when none is given). */
export function apiServerPortOf(serverUrl: string): number {
  const url = new URL(serverUrl);
  if (url.protocol !== 'https:') throw new Error(`API server URL ${serverUrl} is not https`);
  return url.port === '' ? 443 : Number(url.port);
}

async function tables(command: 'iptables' | 'ip6tables', ...args: string[]): Promise<void> {
  await run(command, ['-w', '5', ...args]);
}

/** Creates (or resets) the chain with these rules and hooks it first into INPUT, for IPv4 and IPv6. */
export async function applyFirewall(rules: FirewallRules): Promise<void> {
  for (const [command, list] of [
    ['iptables', rules.ipv4],
    ['ip6tables', rules.ipv6],
  ] as const) {
    await tables(command, '-N', FIREWALL_CHAIN).catch(() => undefined); // exists already: reset below
    await tables(command, '-F', FIREWALL_CHAIN);
    for (const rule of list) await tables(command, ...rule);
    const hooked = await tables(command, '-C', 'INPUT', '-j', FIREWALL_CHAIN).then(
      () => true,
      () => false,
    );
    if (!hooked) await tables(command, '-I', 'INPUT', '1', '-j', FIREWALL_CHAIN);
  }
}

/** Unhooks and deletes the chain; an absent one is fine. */
export async function removeFirewall(): Promise<void> {
  for (const command of ['iptables', 'ip6tables'] as const) {
    while (
      await tables(command, '-D', 'INPUT', '-j', FIREWALL_CHAIN).then(
        () => true,
        () => false,
      )
    );
    await tables(command, '-F', FIREWALL_CHAIN).catch(() => undefined);
    await tables(command, '-X', FIREWALL_CHAIN).catch(() => undefined);
  }
}
