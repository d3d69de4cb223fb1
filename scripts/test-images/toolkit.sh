#!/usr/bin/env bash
# Builds trainyard-test/toolkit:latest, an image built on AWS's training toolkit (the PyPI package
# `sagemaker-training`, the base of AWS's PyTorch, TensorFlow, HuggingFace, XGBoost and sklearn
# containers), without a registry: Debian's debootstrap (minbase) into a folder, `pip install
# sagemaker-training` inside a chroot (its C extension needs gcc and python3-dev), `docker import`.
# The image has no ENTRYPOINT: SageMaker's `docker run image train` runs the toolkit's `train`
# console script, as in AWS's framework images.
#
# Slow the first time (minutes: Debian packages and PyPI wheels), then cached: the image carries a
# label with a hash of its inputs (this script, which pins the suite and the package versions), and
# an image whose label matches is kept, so a machine builds it once. A lock keeps two concurrent
# runs from building it twice.
#
# Usage: scripts/test-images/toolkit.sh [--force]
# Env:   TRAINYARD_TOOLKIT_IMAGE (default trainyard-test/toolkit:latest)
#        DEBIAN_MIRROR (default: the host's first deb.debian.org-style URI, else deb.debian.org)
#        PIP_INDEX_URL, PIP_CERT / REQUESTS_CA_BUNDLE / SSL_CERT_FILE: passed into the chroot (the
#        CA bundle file is copied in), so pip there reaches the same index the host's pip reaches.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image="${TRAINYARD_TOOLKIT_IMAGE:-trainyard-test/toolkit:latest}"
suite=bookworm
toolkit_version=5.1.4
force=0
[[ "${1:-}" == "--force" ]] && force=1

die() { echo "test-images/toolkit.sh: $*" >&2; exit 1; }

command -v docker >/dev/null || die "the docker client is not installed (apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (docker info failed); run scripts/start-dockerd.sh"

hash="$(sha256sum < "$here/toolkit.sh" | cut -c1-16)"
current() { docker image inspect --format '{{ index .Config.Labels "trainyard.test-image.hash" }}' "$image" 2>/dev/null || true; }
if [[ $force == 0 && "$(current)" == "$hash" ]]; then
    exit 0
fi

[[ $(id -u) == 0 ]] || die "building $image needs root (debootstrap and chroot)"
if ! command -v debootstrap >/dev/null; then
    echo "test-images/toolkit.sh: installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } \
        || die "could not install debootstrap"
fi

# One build at a time per machine; a run that waited finds the image built and stops there.
lock="${TMPDIR:-/tmp}/trainyard-toolkit-image.lock"
exec 9>"$lock"
flock 9
if [[ $force == 0 && "$(current)" == "$hash" ]]; then
    exit 0
fi

mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | head -1 | awk '{print $2}')" || true
    mirror="${mirror:-http://deb.debian.org/debian}"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/trainyard-toolkit.XXXXXX")"
root="$work/rootfs"
cleanup() {
    umount "$root/proc" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

started=$(date +%s)
echo "test-images/toolkit.sh: building $image (inputs $hash): debootstrap $suite from $mirror" >&2
if ! debootstrap --variant=minbase \
        --include=python3,python3-pip,python3-dev,gcc,libc6-dev,ca-certificates,procps \
        "$suite" "$root" "$mirror" > "$work/debootstrap.log" 2>&1; then
    tail -20 "$work/debootstrap.log" >&2
    die "debootstrap failed (log above)"
fi

# What pip inside the chroot needs to reach the index the host reaches: name resolution, and the
# CA bundle the host's pip is told to trust (a TLS-inspecting proxy's, on some networks).
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
chroot_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
            PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
            PIP_BREAK_SYSTEM_PACKAGES=1)
for variable in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_DEFAULT_TIMEOUT HTTP_PROXY HTTPS_PROXY http_proxy https_proxy NO_PROXY no_proxy; do
    [[ -n "${!variable:-}" ]] && chroot_env+=("$variable=${!variable}")
done
bundle=""
for variable in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE; do
    if [[ -n "${!variable:-}" && -f "${!variable}" ]]; then bundle="${!variable}"; break; fi
done
if [[ -n "$bundle" ]]; then
    mkdir -p "$root/etc/trainyard-build"
    cp -L "$bundle" "$root/etc/trainyard-build/ca.pem"
    for variable in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE; do
        chroot_env+=("$variable=/etc/trainyard-build/ca.pem")
    done
fi

mount -t proc proc "$root/proc"
if ! chroot "$root" /usr/bin/env -i "${chroot_env[@]}" \
        python3 -m pip install --quiet "sagemaker-training==$toolkit_version" > "$work/pip.log" 2>&1; then
    tail -30 "$work/pip.log" >&2
    die "pip install sagemaker-training in the chroot failed (log above)"
fi
chroot "$root" /usr/bin/env -i "${chroot_env[@]}" train --help >/dev/null 2>&1 \
    || chroot "$root" /usr/bin/env -i "${chroot_env[@]}" sh -c 'command -v train' >/dev/null \
    || die "the toolkit's train script is not on PATH in the image"
umount "$root/proc"

# Nothing of the build stays in the image: the copied bundle, resolv.conf (Docker writes its
# own), apt's lists and caches.
rm -rf "$root/etc/trainyard-build" "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"* "$root/root/.cache"
: > "$root/etc/resolv.conf"

tar --numeric-owner -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PYTHONUNBUFFERED=TRUE' \
    --change 'ENV PYTHONDONTWRITEBYTECODE=TRUE' \
    --change 'WORKDIR /' \
    --change 'CMD ["train"]' \
    --change "LABEL trainyard.test-image.hash=$hash" \
    - "$image" >/dev/null || die "docker import of $image failed"
echo "test-images/toolkit.sh: built $image in $(( $(date +%s) - started )) s" >&2
