// The real node's configuration files, as pure functions of its paths and
// addresses: containerd's config.toml, the kubelet's KubeletConfiguration,
// the CNI bridge conflist, and the node's network plan. real-node.ts writes
// them and starts the processes. The facts behind each setting are in
// ../shared/real-node.md (summarised in test/cluster/README.md).

/** The one real node's network: a bridge on a /24 of 198.18.0.0/15, the host at .1. */
export const NODE_NETWORK = {
  bridge: 'weftnode0',
  /** Pods get addresses from this subnet (host-local IPAM). */
  podCidr: '198.18.240.0/24',
  /** The host side of the bridge: the node's InternalIP, the pods' gateway, DNS and the apiserver's forwarder. */
  hostIp: '198.18.240.1',
  prefixLength: 24,
} as const;

export const NODE_NAME = 'weft-node';
export const CLUSTER_DOMAIN = 'cluster.local';

export interface ContainerdPaths {
  root: string;
  state: string;
  address: string;
  cniConfDir: string;
  sandboxImage: string;
}

/** containerd 1.6 config (version 2): own root, state and socket; CRI with cgroupfs runc, no OOM-score lowering, no AppArmor. */
export function containerdConfig(p: ContainerdPaths): string {
  const q = (s: string): string => JSON.stringify(s);
  return [
    'version = 2',
    `root = ${q(p.root)}`,
    `state = ${q(p.state)}`,
    // Snapshotters and services the node does not use: fewer warnings and less start-up work.
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
    '',
    '[grpc]',
    `  address = ${q(p.address)}`,
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(`${p.root}/opt`)}`,
    '',
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = ${q(p.sandboxImage)}`,
    // Root here lacks CAP_SYS_RESOURCE: the kubelet's oom_score_adj -998 for
    // sandboxes would kill runc ("can't get final child's PID from pipe").
    '  restrict_oom_score_adj = true',
    '  disable_apparmor = true',
    '  enable_selinux = false',
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    '    snapshotter = "overlayfs"',
    '    default_runtime_name = "runc"',
    '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
    '      runtime_type = "io.containerd.runc.v2"',
    '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
    '        SystemdCgroup = false',
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    '    bin_dir = "/usr/lib/cni"',
    `    conf_dir = ${q(p.cniConfDir)}`,
    '    max_conf_num = 1',
    '',
  ].join('\n');
}

/** The CNI network: a bridge with the host as gateway, no masquerading (nothing leaves the machine), hairpin for a pod calling itself through a ClusterIP. */
export function cniConflist(ipamDataDir: string): string {
  return `${JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'weft-test-node',
      plugins: [
        {
          type: 'bridge',
          bridge: NODE_NETWORK.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: ipamDataDir,
            ranges: [[{ subnet: NODE_NETWORK.podCidr, gateway: NODE_NETWORK.hostIp }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletConfigInput {
  port: number;
  healthzPort: number;
  clientCaFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  resolvConf: string;
}

/** KubeletConfiguration (v1beta1) for the test node. */
export function kubeletConfig(k: KubeletConfigInput): string {
  return `${JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: NODE_NETWORK.hostIp,
      port: k.port,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: k.healthzPort,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: k.clientCaFile },
      },
      authorization: { mode: 'Webhook' },
      tlsCertFile: k.tlsCertFile,
      tlsPrivateKeyFile: k.tlsKeyFile,
      cgroupDriver: 'cgroupfs',
      failSwapOn: false,
      // Pods resolve Service names with the harness's DNS on the bridge;
      // never the host's resolver (a 10/8 address).
      clusterDNS: [NODE_NETWORK.hostIp],
      clusterDomain: CLUSTER_DOMAIN,
      resolvConf: k.resolvConf,
      // Local images cannot be pulled again: never collect them.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: { 'memory.available': '1Mi', 'nodefs.available': '1%', 'imagefs.available': '1%', 'nodefs.inodesFree': '1%' },
      makeIPTablesUtilChains: false,
      nodeStatusUpdateFrequency: '2s',
      nodeStatusReportFrequency: '10s',
      syncFrequency: '5s',
      fileCheckFrequency: '5s',
      serializeImagePulls: false,
      containerLogMaxSize: '5Mi',
      containerLogMaxFiles: 2,
    },
    null,
    2,
  )}\n`;
}

/** A kubeconfig (JSON) for a client certificate. */
export function clientKubeconfig(server: string, caPem: string, certPem: string, keyPem: string, user: string): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'weft-test', cluster: { server, 'certificate-authority-data': b64(caPem) } }],
      users: [{ name: user, user: { 'client-certificate-data': b64(certPem), 'client-key-data': b64(keyPem) } }],
      contexts: [{ name: 'weft-test', context: { cluster: 'weft-test', user } }],
      'current-context': 'weft-test',
    },
    null,
    2,
  )}\n`;
}
