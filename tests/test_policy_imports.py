"""The policy package loads nothing outside the standard library (the server plugin, the login shell)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("dn", "layout", "options", "rules", "values")


def test_policy_package_imports_only_the_standard_library() -> None:
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]\n"
        "before = set(sys.modules)\n"
        + "".join(f"import ipa_plugin.policy.{m}\n" for m in MODULES)
        + "new = sorted(set(sys.modules) - before)\n"
        "print('\\n'.join(new))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code, str(ROOT)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    loaded = out.stdout.split()
    assert {f"ipa_plugin.policy.{m}" for m in MODULES} <= set(loaded)
    tops = {m.split(".")[0] for m in loaded}
    outside = sorted(t for t in tops if t not in sys.stdlib_module_names and t != "ipa_plugin")
    assert not outside, f"the policy package loaded third-party modules: {outside}"
