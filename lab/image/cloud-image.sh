# Sourced by the image recipes: the mmdebstrap hooks that shape a root file
# system like a cloud image's. The sudo user "admin" (Debian's AMIs name it so;
# Ubuntu's call it "ubuntu", and users_operator names it), no host keys (each
# node gets its own), an empty machine-id (systemd makes one at first boot) and
# no package lists. labctl.py hashes this file into every image's tag.
# shellcheck shell=bash disable=SC2016,SC2034
cloud_image_hooks=(
  --customize-hook='chroot "$1" useradd --create-home --shell /bin/bash --groups sudo admin'
  --customize-hook='echo "admin ALL=(ALL) NOPASSWD:ALL" > "$1/etc/sudoers.d/90-cloud-init-users"'
  --customize-hook='chmod 0440 "$1/etc/sudoers.d/90-cloud-init-users"'
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*'
  --customize-hook=': > "$1/etc/machine-id"'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin'
)
