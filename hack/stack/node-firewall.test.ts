import { apiServerPortOf, FIREWALL_CHAIN, firewallRules } from './node-firewall.js';
import { defaultRealNodeNetwork } from './real-node-config.js';

describe('the real node firewall', () => {
  const net = defaultRealNodeNetwork;

  it('lets loopback and the pod bridge (from the pod subnet) through, and drops the rest to the node IP', () => {
    const { ipv4, ipv6 } = firewallRules(net);
    expect(ipv4).toEqual([
      ['-A', FIREWALL_CHAIN, '-i', 'lo', '-j', 'RETURN'],
      ['-A', FIREWALL_CHAIN, '-i', net.cniBridge, '-s', net.podSubnet, '-j', 'RETURN'],
      ['-A', FIREWALL_CHAIN, '-d', `${net.nodeIp}/32`, '-j', 'DROP'],
    ]);
    expect(ipv6).toEqual([['-A', FIREWALL_CHAIN, '-i', 'lo', '-j', 'RETURN']]);
  });

  it("drops the API server's port from anywhere else, on IPv4 and IPv6 (its wildcard socket is dual-stack)", () => {
    const { ipv4, ipv6 } = firewallRules(net, 41234);
    const drop = ['-A', FIREWALL_CHAIN, '-p', 'tcp', '--dport', '41234', '-j', 'DROP'];
    expect(ipv4.at(-1)).toEqual(drop);
    expect(ipv6.at(-1)).toEqual(drop);
    // The exceptions come first: a rule list is read top to bottom.
    expect(ipv4.findIndex((r) => r.includes('lo'))).toBeLessThan(ipv4.findIndex((r) => r.includes('41234')));
  });

  it('refuses a port that is not a TCP port', () => {
    expect(() => firewallRules(net, 0)).toThrow(/not a TCP port/);
    expect(() => firewallRules(net, 70000)).toThrow(/not a TCP port/);
  });

  it("reads the API server's port from its URL", () => {
    expect(apiServerPortOf('https://127.0.0.1:36443')).toBe(36443);
    expect(apiServerPortOf('https://10.213.255.1')).toBe(443);
    expect(() => apiServerPortOf('http://127.0.0.1:8080')).toThrow(/not https/);
  });
});
