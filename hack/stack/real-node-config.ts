// The real node's configuration, as pure functions: what the host must have, and the containerd,
// CNI and kubelet configuration files. real-node.ts writes them and runs the processes.
//
// Why each non-default setting is there (found on a VM without CAP_SYS_RESOURCE, cgroup v1):
// - containerd restrict_oom_score_adj and kubelet oomScoreAdj 0: lowering oom_score_adj needs
//   CAP_SYS_RESOURCE; without them every sandbox fails with "can't get final child's PID from pipe".
// - The kubelet refuses a loopback node IP, so the node gets a private /32 on a bridge of its own,
//   and the stack (NATS, the API server, etcd) binds that address: pods reach it through their
//   default route to the host, without kube-proxy or hostNetwork.
// - No masquerade, no port mapping: pods talk to the node IP and the host talks to pod IPs.

export interface RealNodeNetwork {
  /** The node's address: a /32 on `nodeBridge`; the stack binds it too. */
  nodeIp: string;
  nodeBridge: string;
  /** The pods' /24 on `cniBridge` (the CNI bridge plugin creates it; its .1 is the gateway). */
  podSubnet: string;
  cniBridge: string;
}

export const defaultRealNodeNetwork: RealNodeNetwork = {
  nodeIp: '10.213.255.1',
  nodeBridge: 'jsnode0',
  podSubnet: '10.213.0.0/24',
  cniBridge: 'jscni0',
};

/** The label the node carries and the taint that keeps every pod that does not ask for it away. */
export const realNodeLabel = { key: 'jetscale.io/real-node', value: 'true' } as const;
export const realNodeTaint = { key: 'jetscale.io/real-node', value: 'true', effect: 'NoSchedule' } as const;

/** What a pod spec needs to land on the real node (nodeSelector + toleration). */
export function realNodePlacement(): {
  nodeSelector: Record<string, string>;
  tolerations: Array<{ key: string; operator: 'Equal'; value: string; effect: string }>;
} {
  return {
    nodeSelector: { [realNodeLabel.key]: realNodeLabel.value },
    tolerations: [
      { key: realNodeTaint.key, operator: 'Equal', value: realNodeTaint.value, effect: realNodeTaint.effect },
    ],
  };
}

export interface HostProbe {
  isRoot: boolean;
  /** Is this command on PATH? */
  hasCommand(name: string): boolean;
  exists(path: string): boolean;
}

export interface RealNodeRequirements {
  kubelet: string;
  pauseArchive: string;
  cniBinDir: string;
}

/** Everything the host lacks for a real node, each with the command that fixes it; [] = ready. */
export function missingPrerequisites(probe: HostProbe, req: RealNodeRequirements): string[] {
  const missing: string[] = [];
  if (!probe.isRoot)
    missing.push(
      'root: the kubelet and containerd manage cgroups, mounts and network namespaces (run as root)',
    );
  const apt: Array<[string, string]> = [
    ['containerd', 'containerd'],
    ['ctr', 'containerd'],
    ['runc', 'runc'],
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
    ['ip6tables', 'iptables'],
    ['docker', 'docker.io'],
  ];
  for (const [command, pkg] of apt)
    if (!probe.hasCommand(command)) missing.push(`${command}: apt-get install -y ${pkg}`);
  for (const plugin of ['bridge', 'host-local', 'loopback'])
    if (!probe.exists(`${req.cniBinDir}/${plugin}`))
      missing.push(`CNI plugin ${req.cniBinDir}/${plugin}: apt-get install -y containernetworking-plugins`);
  if (!probe.exists(req.kubelet)) missing.push(`kubelet (${req.kubelet}): make tools`);
  if (!probe.exists(req.pauseArchive)) missing.push(`pause image (${req.pauseArchive}): make tools`);
  return missing;
}

export interface ContainerdPaths {
  root: string;
  state: string;
  socket: string;
  cniConfDir: string;
  cniBinDir: string;
  sandboxImage: string;
}

const toml = (s: string): string => JSON.stringify(s);

/** containerd 1.6 (Debian bookworm) configuration: its own socket, state and CNI directories. */
export function containerdConfig(p: ContainerdPaths): string {
  return [
    'version = 2',
    `root = ${toml(p.root)}`,
    `state = ${toml(p.state)}`,
    '',
    '[grpc]',
    `  address = ${toml(p.socket)}`,
    '[ttrpc]',
    `  address = ${toml(`${p.socket}.ttrpc`)}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(`${p.root}/opt`)}`,
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = ${toml(p.sandboxImage)}`,
    '  restrict_oom_score_adj = true',
    // Pods' network namespaces under the state directory, so teardown finds (and unmounts) them.
    '  netns_mounts_under_state_dir = true',
    '  enable_selinux = false',
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    '    snapshotter = "overlayfs"',
    '    default_runtime_name = "runc"',
    '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '      runtime_type = "io.containerd.runc.v2"',
    '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    '        SystemdCgroup = false',
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    bin_dir = ${toml(p.cniBinDir)}`,
    `    conf_dir = ${toml(p.cniConfDir)}`,
    '',
  ].join('\n');
}

/** The pod network: one bridge, host-local addresses from the /24, a default route via the host. */
export function cniConfig(network: RealNodeNetwork, ipamDataDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'jetscale-real-node',
      plugins: [
        {
          type: 'bridge',
          bridge: network.cniBridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: network.podSubnet }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: ipamDataDir,
          },
        },
      ],
    },
    null,
    2,
  );
}

export interface KubeletSettings {
  nodeIp: string;
  port: number;
  healthzPort: number;
  containerdSocket: string;
  podLogsDir: string;
}

/** KubeletConfiguration: anonymous access on the node's private IP, cgroupfs, no
 *  oom_score_adj changes, loose eviction thresholds (a shared development machine), the taint. */
export function kubeletConfig(s: KubeletSettings): string {
  return [
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'kind: KubeletConfiguration',
    `address: ${s.nodeIp}`,
    `port: ${s.port}`,
    'readOnlyPort: 0',
    'healthzBindAddress: 127.0.0.1',
    `healthzPort: ${s.healthzPort}`,
    // The kubelet listens on the node's private IP only; the API server's `kubectl logs` and
    // `exec` come in without a client certificate the kubelet could check.
    'authentication:',
    '  anonymous: { enabled: true }',
    '  webhook: { enabled: false }',
    'authorization:',
    '  mode: AlwaysAllow',
    'cgroupDriver: cgroupfs',
    `containerRuntimeEndpoint: unix://${s.containerdSocket}`,
    `podLogsDir: ${s.podLogsDir}`,
    'oomScoreAdj: 0',
    'failSwapOn: false',
    'failCgroupV1: false',
    'hairpinMode: none',
    'serializeImagePulls: false',
    'maxPods: 60',
    'resolvConf: /etc/resolv.conf',
    'evictionHard:',
    '  memory.available: 50Mi',
    '  nodefs.available: 1%',
    '  imagefs.available: 1%',
    'imageGCHighThresholdPercent: 100',
    'imageGCLowThresholdPercent: 99',
    'registerWithTaints:',
    `  - { key: ${realNodeTaint.key}, value: "${realNodeTaint.value}", effect: ${realNodeTaint.effect} }`,
    '',
  ].join('\n');
}
