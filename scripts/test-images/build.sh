#!/usr/bin/env bash
# Builds Trainyard's offline test image(s) with `docker build`, without a registry or network:
#   trainyard-test/busybox:latest  FROM scratch + Debian's static busybox and its applet links,
#                                  ENTRYPOINT ["/bin/sh", "/usr/local/bin/train-entry.sh"], CMD ["train"]
#                                  and /opt/ml/code/train.py baked in, as framework images keep
#                                  their code there (Trainyard must not hide it behind a mount)
#
# Idempotent and fast when nothing changed: the image carries a label with a hash of its inputs
# (the busybox binary, train-entry.sh and this script), and an image whose label matches is kept.
#
# Usage: scripts/test-images/build.sh [--force]
# Env:   TRAINYARD_TEST_IMAGE (default trainyard-test/busybox:latest), BUSYBOX (default /bin/busybox)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
image="${TRAINYARD_TEST_IMAGE:-trainyard-test/busybox:latest}"
busybox="${BUSYBOX:-/bin/busybox}"
force=0
[[ "${1:-}" == "--force" ]] && force=1

die() { echo "test-images/build.sh: $*" >&2; exit 1; }

command -v docker >/dev/null || die "the docker client is not installed (apt-get install docker.io)"

# The image has no libc, so busybox must be the static build (Debian's busybox-static).
if [[ ! -x "$busybox" ]] || ldd "$busybox" >/dev/null 2>&1; then
    if [[ "$busybox" == /bin/busybox && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "test-images/build.sh: installing busybox-static" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null \
            || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null; } \
            || die "could not install busybox-static"
    fi
    [[ -x "$busybox" ]] || die "$busybox is missing (apt-get install busybox-static)"
    ! ldd "$busybox" >/dev/null 2>&1 || die "$busybox is dynamically linked; the scratch image needs busybox-static"
fi

hash="$(cat "$busybox" "$here/train-entry.sh" "$here/build.sh" | sha256sum | cut -c1-16)"

docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (docker info failed); run scripts/start-dockerd.sh"

current="$(docker image inspect --format '{{ index .Config.Labels "trainyard.test-image.hash" }}' "$image" 2>/dev/null || true)"
if [[ $force == 0 && "$current" == "$hash" ]]; then
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev,root,usr/local/bin,opt/ml}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
# Every applet as a symlink in /bin; /usr/bin and /sbin point there too, so scripts that
# name /usr/bin/env or /sbin/... still work.
for applet in $("$busybox" --list); do
    [[ "$applet" == busybox ]] && continue
    ln -s busybox "$root/bin/$applet"
done
ln -s ../bin "$root/usr/bin"
ln -s bin "$root/sbin"
cp "$here/train-entry.sh" "$root/usr/local/bin/train-entry.sh"
chmod 0755 "$root/usr/local/bin/train-entry.sh"
mkdir -p "$root/opt/ml/code"
echo "# baked into the image at /opt/ml/code" > "$root/opt/ml/code/train.py"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

# A reproducible tarball (sorted, fixed times and owners): same inputs, same layer.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/rootfs.tar" .

cat > "$work/Dockerfile" <<EOF
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/bin:/bin
LABEL trainyard.test-image.hash="$hash"
ENTRYPOINT ["/bin/sh", "/usr/local/bin/train-entry.sh"]
CMD ["train"]
EOF

# The classic builder needs nothing but the engine (no buildx plugin, no network); an engine
# without it (Docker 29+ may drop it) gets BuildKit through the client when buildx is present.
if docker buildx version >/dev/null 2>&1; then
    build=(docker build)
else
    build=(env DOCKER_BUILDKIT=0 docker build)
fi
if ! out="$("${build[@]}" -q -t "$image" "$work" 2>&1)"; then
    echo "$out" >&2
    die "docker build of $image failed"
fi
echo "test-images/build.sh: built $image (inputs $hash)" >&2
