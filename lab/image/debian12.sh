#!/usr/bin/env bash
# Recipe of the lab's Debian 12 image: a minimal systemd host shaped like
# Debian's cloud image (user "admin" with sudo, sshd, python3 for Ansible,
# the main, updates and security archives on deb.debian.org).
# labctl.py tags the image with a hash of this file, so any edit here
# rebuilds it; nothing else does.
#
# Usage: debian12.sh OUTPUT.tar
set -euo pipefail
out=${1:?usage: debian12.sh OUTPUT.tar}

packages=(
  python3 openssh-server sudo systemd systemd-sysv dbus
  iproute2 procps tzdata
  # Priority "important" packages that Debian's cloud image carries and the
  # roles rely on being there, as on a real instance.
  nftables cron logrotate
)

mmdebstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  --customize-hook='chroot "$1" useradd --create-home --shell /bin/bash --groups sudo admin' \
  --customize-hook='echo "admin ALL=(ALL) NOPASSWD:ALL" > "$1/etc/sudoers.d/90-cloud-init-users"' \
  --customize-hook='chmod 0440 "$1/etc/sudoers.d/90-cloud-init-users"' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook=': > "$1/etc/machine-id"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  bookworm "$out" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
