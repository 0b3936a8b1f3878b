#!/usr/bin/env bash
# Install the Debian packages the controller needs for the lab and the tests,
# only those that are missing. Safe to run again: it does nothing then.
set -euo pipefail

packages=(
  podman runc       # lab and molecule containers (runc: see lab/containers.conf)
  netavark iptables # the lab's networks (podman would otherwise fall back to CNI)
  mmdebstrap        # builds the lab image from Debian's packages
  openssh-client    # ssh and ssh-keygen for the lab's keys and the jump
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing Debian packages: ${missing[*]}" >&2
  echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
