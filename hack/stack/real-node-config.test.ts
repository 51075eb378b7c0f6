// The real node's configuration files and prerequisites check, without starting anything.
import {
  cniConfig,
  containerdConfig,
  defaultRealNodeNetwork,
  kubeletConfig,
  missingPrerequisites,
  realNodePlacement,
  realNodeTaint,
} from './real-node-config.js';

const req = { kubelet: '/t/bin/kubelet', pauseArchive: '/t/images/pause.tar', cniBinDir: '/usr/lib/cni' };

describe('real node prerequisites', () => {
  it('are met on a host with everything', () => {
    expect(missingPrerequisites({ isRoot: true, hasCommand: () => true, exists: () => true }, req)).toEqual(
      [],
    );
  });

  it('name every missing piece with the command that installs it', () => {
    const missing = missingPrerequisites(
      {
        isRoot: false,
        hasCommand: (c) => c === 'ip',
        exists: (p) => p === '/usr/lib/cni/loopback',
      },
      req,
    );
    const text = missing.join('\n');
    expect(text).toContain('root');
    expect(text).toContain('containerd: apt-get install -y containerd');
    expect(text).toContain('runc: apt-get install -y runc');
    expect(text).toContain('docker: apt-get install -y docker.io');
    expect(text).toContain('/usr/lib/cni/bridge: apt-get install -y containernetworking-plugins');
    expect(text).not.toContain('/usr/lib/cni/loopback');
    expect(text).toContain('kubelet (/t/bin/kubelet): make tools');
    expect(text).toContain('pause image (/t/images/pause.tar): make tools');
    expect(text).not.toContain('ip:');
  });
});

describe('containerd configuration', () => {
  const toml = containerdConfig({
    root: '/s/root',
    state: '/s/state',
    socket: '/s/containerd.sock',
    cniConfDir: '/s/net.d',
    cniBinDir: '/usr/lib/cni',
    sandboxImage: 'jetscale/pause:v1.34.4',
  });

  it('keeps to its own socket, state and CNI directories (beside the Docker daemon’s containerd)', () => {
    expect(toml).toContain('root = "/s/root"');
    expect(toml).toContain('state = "/s/state"');
    expect(toml).toMatch(/\[grpc\]\n {2}address = "\/s\/containerd.sock"/);
    expect(toml).toContain('conf_dir = "/s/net.d"');
    expect(toml).toContain('sandbox_image = "jetscale/pause:v1.34.4"');
    expect(toml).toContain('netns_mounts_under_state_dir = true');
  });

  it('does not lower oom_score_adj (no CAP_SYS_RESOURCE in the VM) and uses cgroupfs like the kubelet', () => {
    expect(toml).toContain('restrict_oom_score_adj = true');
    expect(toml).toContain('SystemdCgroup = false');
  });
});

describe('kubelet configuration', () => {
  const yaml = kubeletConfig({
    nodeIp: '10.213.255.1',
    port: 41000,
    healthzPort: 41001,
    containerdSocket: '/s/containerd.sock',
    podLogsDir: '/s/pod-logs',
  });

  it('registers tainted, talks to its containerd, leaves oom_score_adj alone', () => {
    expect(yaml).toContain('containerRuntimeEndpoint: unix:///s/containerd.sock');
    expect(yaml).toContain('oomScoreAdj: 0');
    expect(yaml).toContain('cgroupDriver: cgroupfs');
    expect(yaml).toContain(`key: ${realNodeTaint.key}, value: "true", effect: NoSchedule`);
    expect(yaml).toContain('address: 10.213.255.1');
    expect(yaml).toContain('podLogsDir: /s/pod-logs');
  });
});

describe('pod network', () => {
  it('is a bridge without masquerade on the pod /24, its address state kept with the node', () => {
    const conf = JSON.parse(cniConfig(defaultRealNodeNetwork, '/s/ipam')) as {
      plugins: Array<{
        type: string;
        bridge: string;
        ipMasq: boolean;
        ipam: { ranges: unknown; dataDir: string };
      }>;
    };
    const bridge = conf.plugins[0];
    expect(bridge?.type).toBe('bridge');
    expect(bridge?.bridge).toBe(defaultRealNodeNetwork.cniBridge);
    expect(bridge?.ipMasq).toBe(false);
    expect(bridge?.ipam.ranges).toEqual([[{ subnet: defaultRealNodeNetwork.podSubnet }]]);
    expect(bridge?.ipam.dataDir).toBe('/s/ipam');
  });

  it('places pods that ask for the real node on it (selector + toleration of its taint)', () => {
    const placement = realNodePlacement();
    expect(placement.nodeSelector).toEqual({ 'jetscale.io/real-node': 'true' });
    expect(placement.tolerations).toEqual([
      { key: 'jetscale.io/real-node', operator: 'Equal', value: 'true', effect: 'NoSchedule' },
    ]);
  });
});
