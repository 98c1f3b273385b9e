#!/usr/bin/env bash
# Provisions what the cluster tests (test/cluster/) run against:
#   - etcd                      Debian's etcd-server (/usr/bin/etcd)
#   - kubectl                   Debian's kubernetes-client (1.20.2), in $CACHE/bin
#   - kube-apiserver,           built from Debian's `kubernetes` source package
#     kube-controller-manager,  (bookworm, 1.20.2, Go deps vendored), in $CACHE/bin
#     kubelet, kube-proxy,
#     kube-scheduler
#   - pause                     the pod sandbox's binary, Kubernetes'
#                               build/pause/linux/pause.c compiled static, in $CACHE/bin
#   - the real node's runtime   Debian's containerd, runc, containernetworking-plugins
#                               (bridge, host-local), busybox-static (a test image),
#                               iptables, conntrack; their services are kept from starting
#
# Idempotent: a stamp in $CACHE/bin records what was built; a later run that
# finds it (and the packages) returns at once. The cache lives outside the repo:
# $WEFT_K8S_CACHE, default /var/cache/weft-k8s. Needs root (or sudo) for apt.
#
# Build notes (see shared DESIGN.md, "Facts measured on this machine"):
#   - the vendored github.com/modern-go/reflect2 v1.0.1 crashes the running
#     apiserver under Go >= 1.18 ("fatal error: fault" in mapiterinit); it is
#     replaced by Debian's golang-github-modern-go-reflect2-dev (1.0.2);
#   - the build runs in GOPATH layout as Debian's debian/rules does, with Go
#     1.19 first on PATH; it needs rsync. About 5 minutes on 2 cores.
#
# Environment: WEFT_K8S_CACHE (cache dir), WEFT_K8S_REBUILD=1 (ignore the stamp).
set -euo pipefail

CACHE=${WEFT_K8S_CACHE:-/var/cache/weft-k8s}
BIN_DIR="${CACHE}/bin"
SRC_DIR="${CACHE}/src"
STAMP="${BIN_DIR}/.provisioned"
GO_ROOT=/usr/lib/go-1.19
REFLECT2_SRC=/usr/share/gocode/src/github.com/modern-go/reflect2
# Bump when the recipe changes so that old caches are rebuilt.
RECIPE=4
BINARIES=(kube-apiserver kube-controller-manager kubelet kube-proxy kube-scheduler)

now() { date +%s.%N; }
since() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1fs", e - s }'; }
START=$(now)
log() { printf '==> [cluster:provision] %s\n' "$*"; }
die() {
  printf '!!! [cluster:provision] FAILED: %s\n' "$*" >&2
  exit 1
}
trap 'status=$?; if [ "${status}" -ne 0 ]; then log "failed (exit ${status}) after $(since "${START}")"; fi' EXIT

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "need root (or sudo) for apt-get"
  SUDO=(sudo)
fi
apt_get() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }

# Debian package -> a path that proves it is installed.
PACKAGES=(
  "etcd-server:/usr/bin/etcd"
  "golang-1.19-go:${GO_ROOT}/bin/go"
  "golang-github-modern-go-reflect2-dev:${REFLECT2_SRC}/reflect2.go"
  "rsync:/usr/bin/rsync"
  "make:/usr/bin/make"
  "dpkg-dev:/usr/bin/dpkg-source"
  "xz-utils:/usr/bin/xz"
  "openssl:/usr/bin/openssl"
  "containerd:/usr/bin/containerd"
  "runc:/usr/sbin/runc"
  "containernetworking-plugins:/usr/lib/cni/bridge"
  "busybox-static:/bin/busybox"
  "iptables:/usr/sbin/iptables"
  "conntrack:/usr/sbin/conntrack"
  "gcc:/usr/bin/gcc"
  "libc6-dev:/usr/include/signal.h"
  "util-linux:/usr/bin/nsenter"
)

missing_packages() {
  local entry
  for entry in "${PACKAGES[@]}"; do
    [ -e "${entry#*:}" ] || printf '%s\n' "${entry%%:*}"
  done
}

stamp_content() {
  printf 'recipe=%s\nsource=%s\n' "${RECIPE}" "$(cat "${SRC_DIR}/.version" 2>/dev/null || echo '?')"
}

all_built() {
  local b
  [ -f "${STAMP}" ] || return 1
  for b in "${BINARIES[@]}" kubectl pause; do
    [ -x "${BIN_DIR}/${b}" ] || return 1
  done
  grep -qx "recipe=${RECIPE}" "${STAMP}"
}

# --- fast path -----------------------------------------------------------------

if [ "${WEFT_K8S_REBUILD:-}" != 1 ] && all_built && [ -z "$(missing_packages)" ]; then
  log "already provisioned in ${BIN_DIR} ($(tr '\n' ' ' <"${STAMP}")); nothing to do ($(since "${START}"))"
  exit 0
fi

# --- 1. Debian packages --------------------------------------------------------

APT_UPDATED=0
apt_update_once() {
  if [ "${APT_UPDATED}" -eq 0 ]; then
    log "apt-get update"
    apt_get update -q
    APT_UPDATED=1
  fi
}

mapfile -t MISSING < <(missing_packages | sort -u)
if [ "${#MISSING[@]}" -gt 0 ]; then
  t=$(now)
  log "installing Debian packages: ${MISSING[*]}"
  apt_update_once
  # Keep etcd-server's and containerd's own services from starting (the
  # harness starts its own etcd on free loopback ports and its own containerd
  # with its own paths). Only when the machine has no policy itself.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "${policy}" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "${policy}" >/dev/null
    "${SUDO[@]}" chmod +x "${policy}"
    own_policy=1
  fi
  status=0
  apt_get install -y -q --no-install-recommends "${MISSING[@]}" || status=$?
  [ "${own_policy}" -eq 0 ] || "${SUDO[@]}" rm -f "${policy}"
  [ "${status}" -eq 0 ] || die "apt-get install failed (exit ${status}): ${MISSING[*]}"
  [ -z "$(missing_packages)" ] || die "still missing after apt-get install: $(missing_packages | tr '\n' ' ')"
  log "packages installed in $(since "${t}")"
else
  log "Debian packages present: $(for e in "${PACKAGES[@]}"; do printf '%s ' "${e%%:*}"; done)"
fi

"${SUDO[@]}" mkdir -p "${BIN_DIR}" "${SRC_DIR}"
"${SUDO[@]}" chown "$(id -u):$(id -g)" "${CACHE}" "${BIN_DIR}" "${SRC_DIR}"

# --- 2. kubectl from Debian's kubernetes-client ---------------------------------

# Extracted from the .deb into the cache rather than installed: on machines
# where another package (e.g. Google Cloud SDK's `kubectl`) owns
# /usr/bin/kubectl, dpkg would refuse to overwrite it, and the tests want the
# client that matches the 1.20 apiserver anyway.
if [ ! -x "${BIN_DIR}/kubectl" ] || [ "${WEFT_K8S_REBUILD:-}" = 1 ]; then
  t=$(now)
  if dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null | grep -q 'ok installed'; then
    log "kubectl: copying /usr/bin/kubectl of the installed kubernetes-client"
    cp /usr/bin/kubectl "${BIN_DIR}/kubectl.tmp"
  else
    log "kubectl: apt-get download kubernetes-client, extracting its kubectl"
    apt_update_once
    tmp=$(mktemp -d)
    (cd "${tmp}" && apt-get download -q kubernetes-client)
    dpkg-deb -x "${tmp}"/kubernetes-client_*.deb "${tmp}/root"
    cp "${tmp}/root/usr/bin/kubectl" "${BIN_DIR}/kubectl.tmp"
    rm -rf "${tmp}"
  fi
  chmod 755 "${BIN_DIR}/kubectl.tmp"
  mv "${BIN_DIR}/kubectl.tmp" "${BIN_DIR}/kubectl"
  log "kubectl: $("${BIN_DIR}/kubectl" version --client --short 2>/dev/null || true) in $(since "${t}")"
fi

# --- 3. deb-src line and the kubernetes source package --------------------------

has_bookworm_deb_src() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "${f}" ] || continue
    grep -Eq '^[[:space:]]*deb-src[[:space:]].*[[:space:]]bookworm([[:space:]]|$)' "${f}" && return 0
  done
  # deb822 .sources files: a stanza whose Types include deb-src and Suites bookworm.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "${f}" ] || continue
    awk 'BEGIN { RS = ""; found = 0 }
      /(^|\n)Types:[^\n]*deb-src/ && /(^|\n)Suites:[^\n]*[[:space:]]bookworm([[:space:]]|\n|$)/ &&
        !/(^|\n)Enabled:[[:space:]]*no/ { found = 1 }
      END { exit !found }' "${f}" && return 0
  done
  return 1
}

find_source_tree() {
  local d
  for d in "${SRC_DIR}"/kubernetes-1.20*/; do
    [ -f "${d}/Makefile" ] && [ -d "${d}/vendor" ] && { printf '%s\n' "${d%/}"; return 0; }
  done
  return 1
}

if ! TREE=$(find_source_tree); then
  t=$(now)
  if ! has_bookworm_deb_src; then
    list=/etc/apt/sources.list.d/weft-bookworm-src.sources
    log "adding a deb-src entry for bookworm: ${list}"
    printf '%s\n' \
      'Types: deb-src' \
      'URIs: http://deb.debian.org/debian' \
      'Suites: bookworm' \
      'Components: main' \
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' |
      "${SUDO[@]}" tee "${list}" >/dev/null
    APT_UPDATED=0
  else
    log "a deb-src entry for bookworm is already configured"
  fi
  apt_update_once
  # apt-cache showsrc fails quietly when the Sources index is missing or stale.
  if ! apt-cache showsrc kubernetes 2>/dev/null | grep -q '^Version: 1\.20'; then
    APT_UPDATED=0
    apt_update_once
  fi
  log "apt-get source kubernetes into ${SRC_DIR}"
  rm -rf "${SRC_DIR:?}"/kubernetes-1.20*
  (cd "${SRC_DIR}" && apt-get source -q kubernetes)
  TREE=$(find_source_tree) || die "apt-get source kubernetes left no source tree in ${SRC_DIR}"
  log "source unpacked at ${TREE} in $(since "${t}")"
else
  log "source tree present: ${TREE}"
fi
basename "${TREE}" >"${SRC_DIR}/.version"

# --- 4. reflect2 1.0.1 -> Debian's 1.0.2 ----------------------------------------

vendor_reflect2="${TREE}/vendor/github.com/modern-go/reflect2"
if ! cmp -s "${REFLECT2_SRC}/reflect2.go" "${vendor_reflect2}/reflect2.go"; then
  log "replacing vendored github.com/modern-go/reflect2 with Debian's 1.0.2 (${REFLECT2_SRC})"
  rm -rf "${vendor_reflect2}"
  mkdir -p "${vendor_reflect2}"
  find "${REFLECT2_SRC}" -maxdepth 1 -type f \( -name '*.go' -o -name '*.s' \) ! -name '*_test.go' \
    -exec cp {} "${vendor_reflect2}/" \;
else
  log "vendored reflect2 already replaced"
fi

# --- 5. build in GOPATH layout (as debian/rules does) ---------------------------

t=$(now)
log "building ${BINARIES[*]} with $("${GO_ROOT}/bin/go" version) (about 5 minutes on 2 cores)"
mkdir -p "${TREE}/.go/src/k8s.io"
[ -e "${TREE}/.go/src/k8s.io/kubernetes" ] || ln -s ../../.. "${TREE}/.go/src/k8s.io/kubernetes"
(
  cd "${TREE}/.go/src/k8s.io/kubernetes"
  export PATH="${GO_ROOT}/bin:${PATH}"
  export GOPATH="${TREE}/.go"
  export GO111MODULE=off
  export GOFLAGS=
  export GOTOOLCHAIN=local
  export KUBE_GIT_TREE_STATE=clean
  export KUBE_GIT_VERSION=v1.20.2
  export KUBE_GIT_MAJOR=1
  export KUBE_GIT_MINOR=20
  # Server binaries are static anyway; this spares the build a C compiler.
  export CGO_ENABLED=0
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kubelet cmd/kube-proxy cmd/kube-scheduler"
)
log "build done in $(since "${t}")"

for b in "${BINARIES[@]}"; do
  out=$(find "${TREE}/_output" -type f -name "${b}" -path '*/bin/*' -perm -u+x 2>/dev/null | head -n1)
  [ -n "${out}" ] || die "build produced no ${b} under ${TREE}/_output"
  cp "${out}" "${BIN_DIR}/${b}.tmp"
  mv "${BIN_DIR}/${b}.tmp" "${BIN_DIR}/${b}"
  log "${BIN_DIR}/${b}: $("${BIN_DIR}/${b}" --version 2>&1 | head -n1)"
done

# The sandbox binary: no registry can serve the pause image, so the real node
# assembles it (test/cluster/images.ts) from this static build.
gcc -Os -static -Wall -DVERSION=v1.20.2-weft -o "${BIN_DIR}/pause.tmp" "${TREE}/build/pause/linux/pause.c"
mv "${BIN_DIR}/pause.tmp" "${BIN_DIR}/pause"
log "${BIN_DIR}/pause: $("${BIN_DIR}/pause" -v 2>&1 | head -n1)"

# The source tree and its build cache (_output/local/go, ~1.6 GB) stay in the
# cache: a rebuild after a recipe change then takes a fraction of the time.
stamp_content >"${STAMP}"
log "provisioned in ${BIN_DIR} in $(since "${START}") total"
