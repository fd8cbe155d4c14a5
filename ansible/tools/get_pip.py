"""Stand-in for pip's get-pip.py, which ansible-test downloads from a host this machine cannot reach.

ansible-test runs it with the new virtualenv's interpreter as `get_pip.py [pip options] pip==X setuptools
wheel [--no-setuptools] [--no-wheel]`; this does what get-pip does: it bootstraps the pip that Python ships
(ensurepip), then installs the requested packages from the package index with it. `make ansible-lint` puts
it where ansible-test looks for its cached copy (under a private HOME).
"""

import ensurepip
import subprocess
import sys

if __name__ == "__main__":
    ensurepip.bootstrap(upgrade=True)
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q", *args]))
