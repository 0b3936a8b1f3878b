#!/usr/bin/env bash
# Recipe of the lab's Debian 12 image: a minimal systemd host shaped like
# Debian's cloud image (user "admin" with sudo, sshd, python3 for Ansible,
# the main, updates and security archives on deb.debian.org).
# labctl.py tags the image with a hash of this file, so any edit here
# rebuilds it; nothing else does.
#
# Usage: debian12.sh OUTPUT.tar
set -euo pipefail
# shellcheck source=cloud-image.sh
source "$(dirname "$0")/cloud-image.sh"
out=${1:?usage: debian12.sh OUTPUT.tar}

packages=(
  python3 openssh-server sudo systemd systemd-sysv dbus
  iproute2 procps tzdata
  # Priority "important" packages that Debian's cloud image carries and the
  # roles rely on being there, as on a real instance.
  nftables cron logrotate
)

mmdebstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  "${cloud_image_hooks[@]}" \
  bookworm "$out" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
