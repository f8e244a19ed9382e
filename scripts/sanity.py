#!/usr/bin/env python3
"""`make sanity`: ansible-test sanity on the collection tree `make collection` wrote, for the controller's Python only.

No containers. ansible-test makes a virtual environment of its own for each sanity test that needs packages (pylint,
yamllint, validate-modules...) and installs them from PyPI, pinned by its own requirement files. Two things keep that
self-contained and working on a fresh machine:
- nothing is installed into the project's .venv: those environments live in ansible-test's cache,
  ~/.ansible/test/venv (a second run reuses them; the user's pip configuration, index and certificates apply);
- ansible-test bootstraps pip in each new environment with a get-pip script downloaded from ci-files.testing.ansible.com,
  a host that is not a package registry (unreachable here). Its documented way out is a bootstrap script in its cache;
  ours installs the pip bundled with Python (ensurepip) and with it the pinned pip ansible-test asked for, from PyPI.

    python scripts/sanity.py [ansible-test sanity options, e.g. --test validate-modules]
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from build_collection import collection_root  # noqa: E402  (scripts/ is not a package)

BUILD = REPO / "build"
PYTHON_VERSION = "%d.%d" % sys.version_info[:2]
# The pip version ansible-test 2.19 bootstraps (ansible_test/_internal/python_requirements.py get_venv_packages).
BOOTSTRAP_PIP = "24.2"
GET_PIP_SHIM = '''"""Stands in for get-pip.py (written by safeindex scripts/sanity.py): pip from ensurepip, then the pip asked for."""
import ensurepip
import importlib
import os
import runpy
import sys

environment = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
# ensurepip turns the pip configuration off (PIP_CONFIG_FILE=/dev/null) for the rest of the process: the user's index,
# proxy and certificates must apply to the install below.
os.environ.clear()
os.environ.update(environment)
importlib.invalidate_caches()
arguments = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install"] + arguments
runpy.run_module("pip", run_name="__main__", alter_sys=True)
'''


def write_bootstrap(home: Path) -> Path:
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / ("get_pip_%s.py" % BOOTSTRAP_PIP.replace(".", "_"))
    path.write_text(GET_PIP_SHIM)
    return path


def ensure_git(root: Path) -> None:
    """ansible-test lists a collection's files with git; the tree lies in an ignored folder of the project's own
    repository, which would list none of them. A repository of its own (nothing committed) lists them all."""
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "--quiet", str(root)], check=True)


def main(argv: list) -> int:
    root = collection_root(BUILD / "collection")
    if not (root / "galaxy.yml").exists():
        print("no collection tree at %s: run `make collection` first" % root, file=sys.stderr)
        return 2
    ensure_git(root)
    write_bootstrap(Path.home())
    ansible_test = Path(sys.executable).parent / "ansible-test"
    command = [str(ansible_test), "sanity", "--python", PYTHON_VERSION, "--color", "no"] + argv
    # pip byte-compiles every file it installs into ansible-test's environments; the tools compile what they import
    # anyway. Measured on a fresh machine's first run: 142 CPU-s with, 123 without.
    environment = dict(os.environ, PIP_NO_COMPILE="1")
    return subprocess.run(command, cwd=root, env=environment).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
