#!/usr/bin/env bash
# Install the product like a real host: a root-owned venv outside any checkout, isolated entry points.
# Usage: scripts/install.sh [--uninstall | --stage] [PREFIX]   (default /opt/sessrec); idempotent; root only.
#   --stage: only the venv and its entry points under PREFIX (no links, users, units, shells: for tests)
set -euo pipefail
uninstall=0 system=1
[ "${1:-}" = --uninstall ] && { uninstall=1; shift; }
[ "${1:-}" = --stage ] && { system=0; shift; }
prefix=${1:-/opt/sessrec}
bindir=/usr/local/bin
here=$(cd "$(dirname "$0")/.." && pwd)
system_python=/usr/bin/python3
entry_points=(
  "sessrec recorder.cli:main"
  "sessrecd sssd_helper.agent:main"
)

[ "$(id -u)" = 0 ] || { echo "install: run as root (installs to $prefix)" >&2; exit 1; }
if [ $uninstall = 1 ]; then
  for spec in "${entry_points[@]}"; do
    link="$bindir/${spec%% *}"
    [ "$(readlink "$link" 2>/dev/null)" = "$prefix/bin/${spec%% *}" ] && rm -f "$link"
  done
  [ "$(readlink "$bindir/sessrec-shell" 2>/dev/null)" = "$prefix/bin/sessrec-shell" ] && rm -f "$bindir/sessrec-shell"
  command -v remove-shell >/dev/null && remove-shell "$bindir/sessrec-shell"
  [ -f "$prefix/pyvenv.cfg" ] && rm -rf "$prefix"
  rm -f /usr/local/lib/systemd/system/sessrecd.service /usr/local/lib/systemd/system/sessrecd.socket \
    /usr/local/lib/tmpfiles.d/sessrec.conf
  rm -rf /usr/local/share/doc/sessrec
  echo "install: removed $prefix"
  exit 0
fi
umask 022
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Build from a copy, so the checkout may sit in a directory only its owner can read (mode 0700).
tar -C "$here" --exclude=.venv --exclude=.git --exclude='*.egg-info' --exclude=build -cf - . | tar -C "$work" -xf -
mkdir "$work/dist"
(cd "$work" && "$system_python" -m pip wheel -q --no-deps --no-build-isolation --disable-pip-version-check \
  -w "$work/dist" .) >/dev/null

# Debian's python3 with system site-packages: python-ldap, dbus-next, jinja2 and ptyprocess come from apt.
[ -x "$prefix/bin/python3" ] || "$system_python" -m venv --system-site-packages "$prefix"
"$prefix/bin/python3" -m pip install -q --no-deps --no-index --force-reinstall --disable-pip-version-check \
  "$work"/dist/*.whl >/dev/null

if [ $system = 1 ]; then
  # The recorders' own system user (a recorded user can neither signal nor ptrace its processes), and the
  # group of the login shell's interpreter, which owns nothing: its setgid bit only puts the dynamic loader
  # in secure mode (LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH ignored), and the login shell drops it at once.
  getent group sessrec-shell >/dev/null || groupadd --system sessrec-shell
  getent passwd sessrec >/dev/null ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --comment "session recorder" sessrec
  # Cockpit's session-recording page lists nothing unless `getent passwd tlog` succeeds; Debian's tlog
  # package does not create that user. It owns nothing and runs nothing here.
  getent passwd tlog >/dev/null ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      --comment "tlog (for Cockpit's session recording page)" tlog
  install -d -m 0755 /etc/sessrec  # sessrecd.conf and shell.conf (docs/agent.md, docs/login-shell.md)
fi
install -d -m 0755 "$prefix/libexec"
shell_group=sessrec-shell shell_mode=2755
[ $system = 1 ] || { shell_group=root shell_mode=0755; }
install -o root -g $shell_group -m $shell_mode "$(readlink -f "$system_python")" "$prefix/libexec/sessrec-shell-python"
site=$("$prefix/bin/python3" -I -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
cat >"$prefix/bin/sessrec-shell" <<PY
#!$prefix/libexec/sessrec-shell-python -IS
import sys
sys.path.insert(0, "$site")
from sssd_helper.login_shell import main
sys.exit(main())
PY
chmod 0755 "$prefix/bin/sessrec-shell"
if [ $system = 1 ]; then
  ln -sfn "$prefix/bin/sessrec-shell" "$bindir/sessrec-shell"
  command -v add-shell >/dev/null && add-shell "$bindir/sessrec-shell"
fi

# Entry points start Python isolated (-I): no PYTHON* variables, no user site, no script directory on sys.path.
for spec in "${entry_points[@]}"; do
  read -r name target <<<"$spec"
  module=${target%%:*} func=${target##*:}
  cat >"$prefix/bin/$name" <<PY
#!$prefix/bin/python3 -I
import sys
from $module import $func
sys.exit($func())
PY
  chmod 0755 "$prefix/bin/$name"
  [ $system = 1 ] && ln -sfn "$prefix/bin/$name" "$bindir/$name"
done
chown -R root:root "$prefix"
chmod -R go-w "$prefix"
[ $system = 1 ] || { echo "install: staged into $prefix"; exit 0; }
# The agent's systemd units and tmpfiles entry, where systemd looks for locally installed ones.
data="$("$prefix/bin/python3" -I -c 'import sssd_helper, pathlib; print(pathlib.Path(sssd_helper.__file__).parent / "data")')"
install -D -m 0644 "$data/sessrecd.service" /usr/local/lib/systemd/system/sessrecd.service
install -D -m 0644 "$data/sessrecd.socket" /usr/local/lib/systemd/system/sessrecd.socket
install -D -m 0644 "$data/sessrec.tmpfiles" /usr/local/lib/tmpfiles.d/sessrec.conf
install -D -m 0644 "$here/docs/agent.md" /usr/local/share/doc/sessrec/agent.md
chgrp sessrec-shell "$prefix/libexec/sessrec-shell-python" && chmod 2755 "$prefix/libexec/sessrec-shell-python"
echo "install: $(ls "$work"/dist) into $prefix; entry points in $bindir: ${entry_points[*]%% *} sessrec-shell"
