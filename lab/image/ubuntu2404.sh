#!/usr/bin/env bash
# Recipe of the Ubuntu 24.04 (noble) image the roles' scenarios also run in:
# a minimal systemd host shaped like Ubuntu's cloud image (cloud-image.sh: the
# sudo user admin, as in the Debian image, so that the scenarios' operator is
# the same account on both), with sshd, python3 for Ansible, and the main and
# universe components of the release, updates and security pockets on
# archive.ubuntu.com.
# labctl.py tags the image with a hash of this file, so any edit here
# rebuilds it; nothing else does.
#
# Ubuntu's archive key comes from Ubuntu's ubuntu-keyring package (Debian has
# none), checked against the hash below before it is trusted.
#
# Usage: ubuntu2404.sh OUTPUT.tar
set -euo pipefail
# shellcheck source=cloud-image.sh
source "$(dirname "$0")/cloud-image.sh"
out=${1:?usage: ubuntu2404.sh OUTPUT.tar}

archive=http://archive.ubuntu.com/ubuntu
keyring_deb=ubuntu-keyring_2023.11.28.1_all.deb
keyring_sha256=36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8

packages=(
  # apt too: Ubuntu gives it priority important, which minbase leaves out.
  apt python3 openssh-server sudo systemd systemd-sysv dbus
  iproute2 procps tzdata
  # As in Ubuntu's cloud image, and relied on by the roles.
  nftables cron logrotate
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt checks signatures as its _apt account, which must read the keyring.
chmod 0755 "$work"
curl --fail --silent --show-error --max-time 120 --retry 3 \
  --output "$work/$keyring_deb" "$archive/pool/main/u/ubuntu-keyring/$keyring_deb"
echo "$keyring_sha256  $work/$keyring_deb" | sha256sum --check --quiet
dpkg-deb --fsys-tarfile "$work/$keyring_deb" \
  | tar --extract --directory "$work" ./usr/share/keyrings/ubuntu-archive-keyring.gpg

mmdebstrap --variant=minbase --include="$(IFS=,; echo "${packages[*]}")" \
  --keyring="$work/usr/share/keyrings/ubuntu-archive-keyring.gpg" \
  --components=main,universe \
  "${cloud_image_hooks[@]}" \
  noble "$out" \
  "deb $archive noble main universe" \
  "deb $archive noble-updates main universe" \
  "deb $archive noble-security main universe"
