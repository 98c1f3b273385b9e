// Container images for the real test node (kubelet + containerd 1.6), built
// from this machine's files without docker, buildkit or any registry, and
// imported into containerd with `ctr images import`.
//
//   const images = await buildNodeImages();            // cached: ms when nothing changed
//   await importNodeImages(images, { address: '/run/weft-node/containerd.sock' });
//
// The images (all linux/amd64, one layer each):
//
//   weft.dev/weft:test    What deploy/Dockerfile's image holds, assembled from
//                         this machine instead of node:24-slim + apt + npm ci:
//     - /usr/local/bin/node: the Node 24 the project runs on (the real path of
//       node_modules/.bin/node), plus every library `ldd` lists for it, at the
//       same absolute paths (the dynamic loader /lib64/ld-linux-x86-64.so.2
//       and the symlinks on the way: /lib -> usr/lib, /lib64 -> usr/lib64 on a
//       merged-/usr host; any directory the image needs that is a symlink on
//       the host is a symlink in the image too). No ld.so.cache: the loader
//       finds them in its default multiarch directories.
//     - /weft: the compiled build (`buildDist()`: dist/, i.e. tsc's .js plus
//       package.json, proto/mesh.proto, cli/demo, cli/bin), package-lock.json
//       and the production node_modules: every package-lock.json package that
//       is not `dev` and is installed (what `npm ci --omit=dev` installs, the
//       same set as `npm ls --omit=dev --all --parseable`), each copied
//       without its nested node_modules (those are packages of their own).
//       koffi's native addon needs nothing beyond Node's libraries.
//     - iptables for weft-init: /usr/sbin/xtables-nft-multi (iptables,
//       iptables-save, iptables-restore, ip6tables*, iptables-nft*,
//       ip6tables-nft*) and /usr/sbin/xtables-legacy-multi (iptables-legacy*,
//       ip6tables-legacy*), their libraries, /usr/lib/x86_64-linux-gnu/xtables
//       (the match and target extensions) and those extensions' libraries.
//     - busybox (busybox-static's /bin/busybox) with the BUSYBOX_APPLETS links:
//       a shell for `sh -c`, debugging tools, `env` for the scripts' `#!/usr/bin/env node`
//       and `dirname` for cli/bin/weft-demo.
//     - /usr/local/bin/weft -> /weft/cli/main.js and /usr/local/bin/weft-init ->
//       /weft/injector/init-main.js (as the Dockerfile), and
//       /usr/local/bin/weft-demo, a wrapper that execs /weft/cli/bin/weft-demo
//       (a symlink would not do: that script finds demo-app.js from its $0),
//       so the demo manifests' `command: [weft-demo, server]` runs.
//     - /etc/passwd and /etc/group (root, weft 2102, nobody 65534), /etc/hosts
//       (localhost only: the kubelet mounts the pod's over it),
//       /etc/nsswitch.conf (`hosts: files dns`; glibc >= 2.34 has files and
//       dns built in), /etc/ssl/certs/ca-certificates.crt (when the host has
//       it), /etc/protocols and /etc/services (when the host has them), /tmp
//       (1777), /run (iptables-legacy's lock file), /root.
//     Config: Env PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin,
//     WorkingDir /weft, Cmd ["node"], User "" (root; the manifests set each
//     container's user). Pods pick their component by command, e.g.
//     `node --max-semi-space-size=2 /weft/proxy/main.js`,
//     `node /weft/injector/init-main.js`, `node /weft/control-plane/main.js`,
//     `weft-demo server` (proto/entry-points.ts).
//
//   weft.dev/busybox:test  busybox with the same applet links, /tmp, /root,
//     /etc/passwd, /etc/group and /etc/hosts: for Jobs and plain pods
//     (`sh -c 'exit 0'`). Config: the same PATH, Cmd ["sh"].
//
//   weft.dev/pause:test    the static pause binary the provisioning builds
//     (${WEFT_K8S_CACHE}/bin/pause) at /pause, Entrypoint ["/pause"]: the
//     sandbox image (containerd's `sandbox_image`, the kubelet's
//     --pod-infra-container-image).
//
// Archive format: `docker save`'s, which `ctr images import` reads (docker.v1.2):
// a tar holding
//   manifest.json        [{ Config: '<config sha256>.json', RepoTags: [ref], Layers: ['<layer sha256>/layer.tar'] }]
//   <config sha256>.json { architecture: 'amd64', os: 'linux', config: { Env, Cmd, Entrypoint, WorkingDir, User },
//                          rootfs: { type: 'layers', diff_ids: ['sha256:<layer sha256>'] }, created: epoch, history }
//   <layer sha256>/layer.tar  the root filesystem, uncompressed
// The root filesystem is staged in a temporary directory (files copied, with
// reflinks where the filesystem has them) and packed by GNU tar with
// --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu, so
// the same inputs give the same bytes, layer digest and image ID; symlinks are
// stored as symlinks (absolute targets resolve inside the container).
//
// Cache: archives live in `cacheDir` (default ${WEFT_K8S_CACHE:-/var/cache/weft-k8s}/images)
// as <name>-<key>.tar, the key a hash of the inputs: RECIPE, the host files'
// path, size and mtime (node, its and iptables' libraries, the xtables
// extensions, busybox, pause, the CA bundle), package-lock.json, and the
// content of the sources dist/ is compiled from (tsconfig.build.json's folders
// without tests and testdata, the tsconfig files, package.json), so a cache
// hit needs no tsc run: a call with nothing changed returns in milliseconds.
// A miss runs `npm run build`'s buildDist() itself (deploy/dist-build.ts, not
// the harness's once-per-process one, whose dist/ may predate the sources just
// hashed). The key is taken before building: sources edited during a build
// can only make the archive newer than its key (a wasted rebuild later, never
// a stale image). An archive is written under a temporary name and renamed
// into place; writing one removes the older archives of the same image.
// Bump RECIPE when what goes into an image changes.
//
// Import: `ctr --address A --namespace k8s.io images import <archive>` (ctr
// 1.6; no --all-platforms needed, the image is the host's platform) stores
// the blobs, makes the image (docker schema 2 manifest, uncompressed layer)
// and unpacks it for the default snapshotter (overlayfs), or `snapshotter`.
// The CRI plugin sees images of the k8s.io namespace; the tag is not
// `latest`, so pods' default imagePullPolicy (IfNotPresent) never pulls.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildDist } from '../../deploy/dist-build.ts';

const execFileP = promisify(execFile);

/** One image archive, ready for `ctr images import`. */
export interface NodeImage {
  /** The image reference, e.g. weft.dev/weft:test (the archive's RepoTags). */
  ref: string;
  /** Absolute path of the `docker save` format tar. */
  archive: string;
  /** The archive's size. */
  bytes: number;
}

export interface BuildNodeImagesOptions {
  /** Where archives are kept; default ${WEFT_K8S_CACHE:-/var/cache/weft-k8s}/images. */
  cacheDir?: string;
}

export interface CtrTarget {
  /** The ctr binary; default `ctr` on PATH. */
  bin?: string;
  /** containerd's socket. */
  address: string;
  /** containerd namespace; default k8s.io (the CRI plugin's). */
  namespace?: string;
  /** Unpack for this snapshotter; default containerd's default (overlayfs). */
  snapshotter?: string;
}

export const WEFT_IMAGE = 'weft.dev/weft:test';
export const BUSYBOX_IMAGE = 'weft.dev/busybox:test';
export const PAUSE_IMAGE = 'weft.dev/pause:test';

/** Bump when what goes into an image changes (it is part of every cache key). */
export const RECIPE = 2;

export const K8S_CACHE = process.env['WEFT_K8S_CACHE'] || '/var/cache/weft-k8s';
export const DEFAULT_IMAGE_CACHE_DIR = join(K8S_CACHE, 'images');

/** busybox applets linked in /bin of the weft and busybox images. */
export const BUSYBOX_APPLETS: readonly string[] = [
  'sh', 'ls', 'cat', 'sleep', 'nc', 'wget', 'echo', 'env', 'ps', 'true', 'false',
  'dirname', 'basename', 'id', 'hostname', 'grep', 'head', 'tail', 'mkdir', 'rm', 'cp', 'mv', 'test', 'uname', 'kill',
];

/** iptables command names: each a symlink to the multi binary in the same folder. */
export const IPTABLES_COMMANDS: Readonly<Record<'xtables-nft-multi' | 'xtables-legacy-multi', readonly string[]>> = {
  'xtables-nft-multi': [
    'iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore',
    'iptables-nft', 'iptables-nft-save', 'iptables-nft-restore', 'ip6tables-nft', 'ip6tables-nft-save', 'ip6tables-nft-restore',
  ],
  'xtables-legacy-multi': [
    'iptables-legacy', 'iptables-legacy-save', 'iptables-legacy-restore',
    'ip6tables-legacy', 'ip6tables-legacy-save', 'ip6tables-legacy-restore',
  ],
};

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUSYBOX = '/bin/busybox';
const SBIN = '/usr/sbin';
const XTABLES_DIR = '/usr/lib/x86_64-linux-gnu/xtables';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const IMAGE_PATH = 'PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const TAR_DETERMINISM = ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '--format=gnu'];

// ---------------------------------------------------------------------------
// Root filesystem model: image paths -> what goes there, then staged to disk.

type Entry =
  | { kind: 'dir'; mode: number }
  | { kind: 'file'; source: string; mode?: number }
  | { kind: 'text'; data: string; mode: number }
  | { kind: 'link'; target: string }
  /** A host folder copied whole (symlinks verbatim), minus its direct child `node_modules` when `skipNodeModules`. */
  | { kind: 'tree'; source: string; skipNodeModules: boolean };

function sameEntry(a: Entry, b: Entry): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

class Rootfs {
  readonly entries = new Map<string, Entry>();

  /**
   * The image path `path` names once its directories' symlinks are followed.
   * A directory missing from the image is created: as the host's symlink when
   * the host has one there (so /bin, /lib, /lib64 follow the host's layout),
   * else as a directory.
   */
  resolve(path: string, depth = 0): string {
    if (depth > 40) throw new Error(`node-images: too many symlinks resolving ${path}`);
    let cur = '/';
    for (const part of path.split('/').filter(Boolean)) {
      const next = posix.join(cur, part);
      let e = this.entries.get(next);
      if (e === undefined) {
        const host = lstatIfAny(next);
        e = host?.isSymbolicLink() ? { kind: 'link', target: readlinkSync(next) } : { kind: 'dir', mode: 0o755 };
        this.entries.set(next, e);
      }
      if (e.kind === 'link') {
        cur = this.resolve(posix.isAbsolute(e.target) ? e.target : posix.join(cur, e.target), depth + 1);
      } else if (e.kind === 'dir' || e.kind === 'tree') {
        cur = next;
      } else {
        throw new Error(`node-images: ${next} is a file, not a directory (resolving ${path})`);
      }
    }
    return cur;
  }

  /** Puts `entry` at image path `path` (its parent resolved); returns where it went. */
  put(path: string, entry: Entry): string {
    const at = posix.join(this.resolve(posix.dirname(path)), posix.basename(path));
    const had = this.entries.get(at);
    if (had !== undefined && !sameEntry(had, entry)) {
      throw new Error(`node-images: ${at} is already ${JSON.stringify(had)}, cannot make it ${JSON.stringify(entry)}`);
    }
    this.entries.set(at, entry);
    return at;
  }

  dir(path: string, mode = 0o755): void {
    this.put(path, { kind: 'dir', mode });
  }

  /** The host file or symlink at `hostPath`, at the same path in the image (symlinks followed and mirrored). */
  mirror(hostPath: string, depth = 0): void {
    if (depth > 40) throw new Error(`node-images: too many symlinks mirroring ${hostPath}`);
    const st = lstatSync(hostPath);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(hostPath);
      this.put(hostPath, { kind: 'link', target });
      this.mirror(isAbsolute(target) ? target : join(dirname(hostPath), target), depth + 1);
    } else if (st.isFile()) {
      this.put(hostPath, { kind: 'file', source: hostPath });
    } else {
      throw new Error(`node-images: ${hostPath} is neither a file nor a symlink`);
    }
  }

  /** Every library `ldd` lists for `files` (one ldd run), mirrored. */
  async libraries(files: readonly string[], skipUnloadable = false): Promise<void> {
    for (const lib of await lddLibraries(files, skipUnloadable)) this.mirror(lib);
  }

  busybox(): void {
    this.mirror(BUSYBOX);
    for (const applet of BUSYBOX_APPLETS) this.put(`/bin/${applet}`, { kind: 'link', target: 'busybox' });
    // `#!/usr/bin/env node` (cli/main.js, injector/init-main.js): /usr/bin/env
    // is /bin/env on a merged-/usr host; elsewhere a link of its own.
    if (this.resolve('/usr/bin') !== this.resolve('/bin')) this.put('/usr/bin/env', { kind: 'link', target: BUSYBOX });
    this.resolve('/sbin');
  }

  basics(): void {
    this.dir('/tmp', 0o1777);
    this.dir('/root', 0o700);
    this.put('/etc/passwd', {
      kind: 'text', mode: 0o644,
      data: 'root:x:0:0:root:/root:/bin/sh\nweft:x:2102:2102:weft:/tmp:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
    });
    this.put('/etc/group', { kind: 'text', mode: 0o644, data: 'root:x:0:\nweft:x:2102:\nnogroup:x:65534:\n' });
    // The kubelet and containerd mount their own over it; this one serves `ctr run` and chroot.
    this.put('/etc/hosts', { kind: 'text', mode: 0o644, data: '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' });
  }

  /** Writes the tree under `stage` (which must be empty). */
  async stage(stage: string): Promise<void> {
    const paths = [...this.entries.keys()].sort();
    const dirModes: [string, number][] = [];
    for (const path of paths) {
      const e = this.entries.get(path)!;
      const to = join(stage, path);
      switch (e.kind) {
        case 'dir':
          await mkdir(to, { recursive: true });
          dirModes.push([to, e.mode]);
          break;
        case 'file':
          await copyFile(e.source, to, fsConstants.COPYFILE_FICLONE);
          await chmod(to, e.mode ?? statSync(e.source).mode & 0o7777);
          break;
        case 'text':
          await writeFile(to, e.data, { mode: e.mode });
          await chmod(to, e.mode);
          break;
        case 'link':
          await symlink(e.target, to);
          break;
        case 'tree': {
          const skip = join(e.source, 'node_modules');
          await cp(e.source, to, {
            recursive: true, verbatimSymlinks: true, mode: fsConstants.COPYFILE_FICLONE,
            filter: (src) => !e.skipNodeModules || src !== skip,
          });
          break;
        }
      }
    }
    // Modes last: a 0700 or 1777 directory still takes its children.
    for (const [to, mode] of dirModes) await chmod(to, mode);
  }
}

function lstatIfAny(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Absolute paths of the shared libraries `ldd` lists for `files` (incl. the
 * loader), in one ldd run. A file with a library ldd cannot find is an error,
 * unless `skipUnloadable`: then that file is left out (e.g. an addon's musl
 * build, which this glibc Node would never load).
 */
async function lddLibraries(files: readonly string[], skipUnloadable = false): Promise<string[]> {
  if (files.length === 0) return [];
  let out: string;
  try {
    ({ stdout: out } = await execFileP('ldd', [...files], { maxBuffer: 16 << 20 }));
  } catch (err) {
    // ldd exits 1 when a file is not dynamic ("not a dynamic executable" on stderr); stdout still lists the rest.
    const e = err as { stdout?: string; stderr?: string };
    if (typeof e.stdout !== 'string' || e.stdout === '') throw new Error(`node-images: ldd ${files.join(' ')} failed: ${e.stderr ?? String(err)}`);
    out = e.stdout;
  }
  // With several files, each file's lines follow a `<file>:` header.
  const sections: { file: string; lines: string[] }[] = files.length === 1 ? [{ file: files[0]!, lines: [] }] : [];
  for (const line of out.split('\n')) {
    const header = files.length > 1 ? /^(\S.*):$/.exec(line) : null;
    if (header?.[1] !== undefined) sections.push({ file: header[1], lines: [] });
    else sections.at(-1)?.lines.push(line);
  }
  const libs = new Set<string>();
  for (const { file, lines } of sections) {
    const missing = lines.filter((l) => /=>\s*not found/.test(l));
    if (missing.length > 0) {
      if (skipUnloadable) continue;
      throw new Error(`node-images: ldd ${file}: ${missing.map((l) => l.trim()).join('; ')}`);
    }
    for (const line of lines) {
      const m = /=>\s*(\/\S+)\s+\(0x/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
      if (m?.[1] !== undefined) libs.add(m[1]);
    }
  }
  return [...libs].sort();
}

// ---------------------------------------------------------------------------
// Inputs and cache keys.

function fileStat(path: string): string {
  const st = statSync(path);
  return `${path}:${st.size}:${st.mtimeMs}`;
}

function fileStatIfAny(path: string): string {
  return existsSync(path) ? fileStat(path) : `${path}:absent`;
}

function hashFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The Node binary the project runs on. */
function nodeBinary(): string {
  return realpathSync(join(REPO_ROOT, 'node_modules', '.bin', 'node'));
}

/** Folders tsc compiles (tsconfig.build.json's include patterns, first segment). */
function buildSourceDirs(): string[] {
  const cfg = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include?: string[] };
  return [...new Set((cfg.include ?? []).map((p) => p.split('/')[0]!).filter((d) => d !== '' && !d.includes('*')))].sort();
}

/** Hash of what dist/ is built from: the compiled folders (without tests), tsconfigs, package.json and the lock. */
function distSourcesHash(): string {
  const h = createHash('sha256');
  const add = (rel: string): void => {
    h.update(`${rel}\0`).update(readFileSync(join(REPO_ROOT, rel))).update('\0');
  };
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) add(f);
  const walk = (rel: string): void => {
    for (const d of readdirSync(join(REPO_ROOT, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const child = posix.join(rel, d.name);
      if (d.isDirectory()) {
        if (d.name !== 'testdata' && d.name !== 'node_modules' && d.name !== '.weft') walk(child);
      } else if (d.isFile() && !d.name.endsWith('.test.ts')) {
        add(child);
      }
    }
  };
  for (const dir of buildSourceDirs()) walk(dir);
  return h.digest('hex');
}

/** package-lock.json's production packages that are installed: ['node_modules/a', 'node_modules/a/node_modules/b', ...]. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
    packages?: Record<string, { dev?: boolean; link?: boolean }>;
  };
  const out: string[] = [];
  for (const [key, pkg] of Object.entries(lock.packages ?? {})) {
    if (key === '' || pkg.dev === true || !key.startsWith('node_modules/')) continue;
    if (pkg.link === true) throw new Error(`node-images: ${key} is a linked package; not supported`);
    if (existsSync(join(REPO_ROOT, key, 'package.json'))) out.push(key);
  }
  return out.sort();
}

function keyOf(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 20);
}

// ---------------------------------------------------------------------------
// The three images.

interface ImageConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
}

interface Recipe {
  ref: string;
  /** Archive file prefix: <name>-<key>.tar. */
  name: string;
  key: () => Promise<string>;
  rootfs: () => Promise<Rootfs>;
  config: ImageConfig;
}

function weftRecipe(): Recipe {
  const iptablesBins = Object.keys(IPTABLES_COMMANDS).map((b) => join(SBIN, b));
  const extensions = (): string[] => readdirSync(XTABLES_DIR).filter((f) => f.endsWith('.so')).sort().map((f) => join(XTABLES_DIR, f));
  return {
    ref: WEFT_IMAGE,
    name: 'weft',
    config: { Env: [IMAGE_PATH], Cmd: ['node'], WorkingDir: '/weft', User: '' },
    key: async () => {
      const node = nodeBinary();
      const libs = await lddLibraries([node, ...iptablesBins]);
      return keyOf({
        RECIPE, ref: WEFT_IMAGE,
        host: [node, ...libs, ...iptablesBins, ...extensions(), BUSYBOX].map(fileStat),
        ca: fileStatIfAny(CA_BUNDLE), etc: ['/etc/protocols', '/etc/services'].map(fileStatIfAny),
        sources: distSourcesHash(), lock: hashFile(join(REPO_ROOT, 'package-lock.json')),
      });
    },
    rootfs: async () => {
      const dist = await buildDist();
      const node = nodeBinary();
      const fs = new Rootfs();
      fs.basics();
      fs.dir('/run');
      fs.busybox();

      // Node and its libraries, and those of the native addons in node_modules
      // (koffi's needs nothing more; its musl build, which cannot load here, is skipped).
      const packages = productionPackages();
      const addons = packages.flatMap((p) => findFiles(join(REPO_ROOT, p), '.node', 3));
      fs.put('/usr/local/bin/node', { kind: 'file', source: node, mode: 0o755 });
      await fs.libraries([node]);
      await fs.libraries(addons, true);

      // iptables.
      for (const [multi, names] of Object.entries(IPTABLES_COMMANDS)) {
        fs.mirror(join(SBIN, multi));
        for (const name of names) fs.put(join(SBIN, name), { kind: 'link', target: multi });
      }
      const exts = extensions();
      for (const so of exts) fs.mirror(so);
      await fs.libraries([...iptablesBins, ...exts]);

      // /weft: dist/, package-lock.json, production node_modules.
      for (const d of readdirSync(dist, { withFileTypes: true })) {
        const src = join(dist, d.name);
        fs.put(`/weft/${d.name}`, d.isDirectory() ? { kind: 'tree', source: src, skipNodeModules: false } : { kind: 'file', source: src });
      }
      fs.put('/weft/package-lock.json', { kind: 'file', source: join(REPO_ROOT, 'package-lock.json') });
      fs.dir('/weft/node_modules');
      for (const p of packages) fs.put(`/weft/${p}`, { kind: 'tree', source: join(REPO_ROOT, p), skipNodeModules: true });

      // Commands on PATH (deploy/Dockerfile's links, the demo's launcher).
      fs.put('/usr/local/bin/weft', { kind: 'link', target: '/weft/cli/main.js' });
      fs.put('/usr/local/bin/weft-init', { kind: 'link', target: '/weft/injector/init-main.js' });
      fs.put('/usr/local/bin/weft-demo', { kind: 'text', mode: 0o755, data: '#!/bin/sh\nexec /weft/cli/bin/weft-demo "$@"\n' });

      fs.put('/etc/nsswitch.conf', { kind: 'text', mode: 0o644, data: 'passwd: files\ngroup: files\nhosts: files dns\n' });
      for (const f of [CA_BUNDLE, '/etc/protocols', '/etc/services']) {
        if (existsSync(f)) fs.put(f, { kind: 'file', source: realpathSync(f), mode: 0o644 });
      }
      return fs;
    },
  };
}

function busyboxRecipe(): Recipe {
  return {
    ref: BUSYBOX_IMAGE,
    name: 'busybox',
    config: { Env: [IMAGE_PATH], Cmd: ['sh'], User: '' },
    key: () => Promise.resolve(keyOf({ RECIPE, ref: BUSYBOX_IMAGE, busybox: fileStat(BUSYBOX) })),
    rootfs: () => {
      const fs = new Rootfs();
      fs.basics();
      fs.busybox();
      return Promise.resolve(fs);
    },
  };
}

function pauseRecipe(): Recipe {
  const pause = join(K8S_CACHE, 'bin', 'pause');
  const present = (): string => {
    if (!existsSync(pause)) throw new Error(`node-images: no ${pause}: run \`npm run cluster:provision\` (it builds the pause binary)`);
    return pause;
  };
  return {
    ref: PAUSE_IMAGE,
    name: 'pause',
    config: { Env: [IMAGE_PATH], Entrypoint: ['/pause'], User: '' },
    key: () => Promise.resolve(keyOf({ RECIPE, ref: PAUSE_IMAGE, pause: fileStat(present()) })),
    rootfs: () => {
      const fs = new Rootfs();
      fs.put('/pause', { kind: 'file', source: present(), mode: 0o755 });
      return Promise.resolve(fs);
    },
  };
}

function findFiles(dir: string, suffix: string, maxDepth: number): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory() && e.name !== 'node_modules' && depth < maxDepth) walk(p, depth + 1);
      else if (e.isFile() && e.name.endsWith(suffix)) out.push(p);
    }
  };
  walk(dir, 0);
  return out;
}

// ---------------------------------------------------------------------------
// Archive.

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function tar(args: string[]): Promise<void> {
  try {
    await execFileP('tar', args, { maxBuffer: 16 << 20 });
  } catch (err) {
    const e = err as { stderr?: string };
    throw new Error(`node-images: tar ${args.join(' ')} failed: ${e.stderr ?? String(err)}`);
  }
}

/** Builds `recipe`'s archive at `archive` (via a temp dir in `cacheDir`). */
async function writeArchive(recipe: Recipe, cacheDir: string, archive: string): Promise<void> {
  const work = await mkdtemp(join(cacheDir, `.tmp-${recipe.name}-${process.pid}-`));
  try {
    const stage = join(work, 'rootfs');
    const out = join(work, 'out');
    await mkdir(stage);
    await mkdir(out);
    await (await recipe.rootfs()).stage(stage);

    const layerTmp = join(out, 'layer.tar');
    const top = (await readdir(stage)).sort();
    await tar(['--create', '--file', layerTmp, '--directory', stage, ...TAR_DETERMINISM, '--', ...top]);
    const layer = await sha256File(layerTmp);
    await mkdir(join(out, layer));
    await rename(layerTmp, join(out, layer, 'layer.tar'));

    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: recipe.config,
      rootfs: { type: 'layers', diff_ids: [`sha256:${layer}`] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: `weft test/cluster/node-images.ts recipe ${RECIPE}` }],
    });
    const configHex = createHash('sha256').update(config).digest('hex');
    await writeFile(join(out, `${configHex}.json`), config);
    await writeFile(join(out, 'manifest.json'), JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [recipe.ref], Layers: [`${layer}/layer.tar`] }]));

    const tmpArchive = join(work, 'image.tar');
    await tar(['--create', '--file', tmpArchive, '--directory', out, ...TAR_DETERMINISM, '--', 'manifest.json', `${configHex}.json`, layer]);
    await rename(tmpArchive, archive);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Removes temp dirs that dead builds left in `cacheDir`. */
async function sweepTemps(cacheDir: string): Promise<void> {
  for (const name of await readdir(cacheDir)) {
    const pid = /^\.tmp-[a-z]+-(\d+)-/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      await rm(join(cacheDir, name), { recursive: true, force: true });
    }
  }
}

/**
 * Builds (or finds in the cache) the three node images' `docker save`
 * archives: weft.dev/weft:test, weft.dev/busybox:test, weft.dev/pause:test.
 * Builds dist/ (tsc) only when the weft image is not cached. Needs GNU tar and
 * ldd; the pause image needs the provisioned pause binary.
 */
export async function buildNodeImages(opts: BuildNodeImagesOptions = {}): Promise<NodeImage[]> {
  const cacheDir = opts.cacheDir ?? DEFAULT_IMAGE_CACHE_DIR;
  await mkdir(cacheDir, { recursive: true });
  await sweepTemps(cacheDir);
  const images: NodeImage[] = [];
  // One after the other: tar and the copies are I/O, and the machine is shared.
  for (const recipe of [weftRecipe(), busyboxRecipe(), pauseRecipe()]) {
    const file = `${recipe.name}-${await recipe.key()}.tar`;
    const archive = join(cacheDir, file);
    if (!existsSync(archive)) {
      await writeArchive(recipe, cacheDir, archive);
      for (const other of await readdir(cacheDir)) {
        if (other !== file && other.startsWith(`${recipe.name}-`) && other.endsWith('.tar')) await rm(join(cacheDir, other), { force: true });
      }
    }
    images.push({ ref: recipe.ref, archive, bytes: (await stat(archive)).size });
  }
  return images;
}

/**
 * `ctr images import`s each archive into containerd (namespace k8s.io by
 * default, where the CRI plugin, hence the kubelet, sees them), unpacked for
 * the snapshotter, then checks each ref is listed. Errors carry ctr's output.
 */
export async function importNodeImages(images: NodeImage[], ctr: CtrTarget): Promise<void> {
  const bin = ctr.bin ?? 'ctr';
  const base = ['--address', ctr.address, '--namespace', ctr.namespace ?? 'k8s.io'];
  const run = async (args: string[]): Promise<string> => {
    try {
      const { stdout } = await execFileP(bin, [...base, ...args], { maxBuffer: 16 << 20, timeout: 600_000 });
      return stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; code?: unknown; signal?: unknown };
      throw new Error(
        `node-images: ${bin} ${[...base, ...args].join(' ')} failed (${String(e.signal ?? e.code)}):\n${e.stdout ?? ''}${e.stderr ?? String(err)}`,
      );
    }
  };
  for (const image of images) {
    await run(['images', 'import', ...(ctr.snapshotter !== undefined ? ['--snapshotter', ctr.snapshotter] : []), image.archive]);
  }
  const listed = new Set((await run(['images', 'ls', '--quiet'])).split('\n').map((l) => l.trim()));
  const missing = images.filter((i) => !listed.has(i.ref) && !listed.has(`docker.io/${i.ref}`)).map((i) => i.ref);
  if (missing.length > 0) throw new Error(`node-images: after import, ctr images ls lacks ${missing.join(', ')}:\n${[...listed].join('\n')}`);
}
