#!/bin/bash
# A throwaway venv for `make test-ipa`: Debian's python3 with its python-ldap, lib389, gssapi and pytest,
# plus PyPI's ipalib/ipapython/ipaplatform of the FreeIPA version under test (the server code itself comes
# from the FreeIPA source tree given to make test-ipa; it is never installed or committed).
set -euo pipefail
venv=${1:?usage: make-venv.sh VENV VERSION}
version=${2:?usage: make-venv.sh VENV VERSION}
if ! /usr/bin/python3 -c 'import gssapi' 2>/dev/null; then
    # ipalib imports gssapi; PyPI's needs krb5 headers to build, Debian ships it built.
    apt-get install -y -q python3-gssapi >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
    /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c "import ipapython.version as v, sys; sys.exit(v.VERSION != '$version')" 2>/dev/null; then
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "ipalib==$version" "ipapython==$version" "ipaplatform==$version"
fi
