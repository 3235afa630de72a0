#!/bin/sh
# A Debian bookworm image with Python 3.11 (python3, python3-venv) for building
# docker/Dockerfile where no image registry is reachable: debootstrap into a folder, the
# machine's certificate authorities copied in (so pip and apt inside `docker build
# --network host` trust what the machine trusts), then `docker import`. Reuses the image
# when it already exists: about a minute and a half the first time on a machine.
#
#   sh docker/ci/make-base-image.sh [NAME]        # default tuner-base:bookworm
#   docker build -f docker/Dockerfile --network host \
#       --build-arg PYTHON_IMAGE=tuner-base:bookworm -t tuner:0.1.0 .
#
# Needs root, debootstrap, a Docker engine and Debian's package mirror.
set -eu
name=${1:-tuner-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$name" > /dev/null 2>&1; then
    echo "make-base-image: $name already exists, reused"
    exit 0
fi
dir=$(mktemp -d /var/tmp/tuner-base.XXXXXX)
# debootstrap mounts /proc, /sys (and, in a container, /dev) inside the folder and
# unmounts them itself; should one stay after a failure, never delete through it.
cleanup() {
    for m in dev/pts dev sys proc; do umount "$dir/$m" 2> /dev/null || true; done
    rm -rf --one-file-system "$dir"
}
trap cleanup EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$dir" "$mirror" > "$dir.log" 2>&1 || { tail -n 20 "$dir.log" >&2; exit 1; }
rm -f "$dir.log"
# The machine's bundle (Debian's ca-certificates maintains it), with any local authority
# the machine's own network needs.
cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
tar -C "$dir" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase bookworm + python3, python3-venv, ca-certificates" \
    - "$name" > /dev/null
echo "make-base-image: built $name"
