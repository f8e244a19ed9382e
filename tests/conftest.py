"""Shared test plumbing: the project's module_utils where Ansible would put them, and module runners."""

import importlib.util
import json
from pathlib import Path

import ansible.module_utils
import pytest
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

REPO = Path(__file__).resolve().parent.parent
# Ansible serves module_utils/ as ansible.module_utils.*; do the same for in-process tests.
if str(REPO / "module_utils") not in ansible.module_utils.__path__:
    ansible.module_utils.__path__.append(str(REPO / "module_utils"))

# Each test file's seconds in a full run (scripts/test_weights.py writes them); a file not weighed yet counts as a
# typical playbook test file.
FILE_WEIGHTS = json.loads((REPO / "tests" / "file_weights.json").read_text())
UNWEIGHED_FILE_SECONDS = 60.0


def pytest_collection_modifyitems(session, config, items):
    """The slowest files first and the unit tests last: `make test` hands whole files to its workers in this order
    (--dist loadfile --no-loadscope-reorder), so no worker starts a long file while the others run out of work, and
    the unit tests' many short ones fill the workers' ends. The tests of one file keep their order (a stable sort)."""
    def weight(item):
        path = item.nodeid.split("::")[0]
        if path.startswith("tests/unit/"):
            return 0.0
        return FILE_WEIGHTS.get(path, UNWEIGHED_FILE_SECONDS)
    items.sort(key=weight, reverse=True)


def load_module(name):
    """A module from library/, imported by path (library/ is not a package)."""
    spec = importlib.util.spec_from_file_location("library_%s" % name, REPO / "library" / ("%s.py" % name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ModuleRun:
    """Runs a module's main() with arguments, as Ansible would, and returns its JSON result."""

    def __init__(self, capsys):
        self.capsys = capsys

    def __call__(self, name, args, check_mode=False, diff=False):
        module = load_module(name)
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        self.capsys.readouterr()
        # As in a module's own process: once a test in this worker has imported controller code, ansible-core sends a
        # module's warnings to the controller's display instead of into the result.
        was_controller, module_utils_internal.is_controller = module_utils_internal.is_controller, False
        # And with no warning of an earlier module run in this worker (ansible-core keeps them in a module-level dict).
        module_warnings._global_warnings.clear()
        module_warnings._global_deprecations.clear()
        try:
            with patch_module_args(args), pytest.raises(SystemExit) as exited:
                module.main()
        finally:
            module_utils_internal.is_controller = was_controller
        output = self.capsys.readouterr().out
        result = json.loads(output)
        result["_rc"] = exited.value.code
        return result


@pytest.fixture
def run_module(capsys):
    return ModuleRun(capsys)
