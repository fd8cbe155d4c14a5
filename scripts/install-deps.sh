#!/usr/bin/env bash
# Install the Debian 12 packages the project, its lab and its tests need; idempotent, root only.
set -euo pipefail
packages=(
  389-ds-base python3-lib389 ldap-utils
  sssd-ldap sssd-dbus sssd-tools libnss-sss libpam-sss
  dbus-daemon systemd auditd openssh-server openssh-client tlog
  python3-venv python3-pip python3-ldap python3-dbus-next python3-ptyprocess python3-jinja2
  util-linux procps iproute2 bsdextrautils
  krb5-kdc krb5-admin-server krb5-user libsasl2-modules-gssapi-mit
  rsync login
  ansible-core python3-apt openssh-sftp-server  # the Ansible role, its tests and linters
  gcc libc6-dev  # the recorder's tests build a shared object of the recorded user's (LD_PRELOAD, LD_AUDIT)
  python3-audit  # auparse: sessrec audit reads the audit log with the audit library's own parser
)
command -v node >/dev/null 2>&1 || packages+=(nodejs)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
# Keep package scripts from starting the machine's own sssd/sshd/auditd: the lab starts its own.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; own_policy=1
fi
trap '[ $own_policy = 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
