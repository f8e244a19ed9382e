"""The shape issue 16 asked for, kept by a test: engine facts live in engines/ only, and each engine is one package."""

import ast
import importlib
import inspect
import re

import pytest
from ansible.module_utils.safeindex.engines import ENGINE_NAMES, features_for
from ansible.module_utils.safeindex.engines.base import Engine

from tests.conftest import REPO

# The grep of the "done means": a comparison with an engine's name.
ENGINE_COMPARISON = re.compile(r"engine ==|== .mysql.|== .postgresql.|!= .mysql.|!= .postgresql.")
SEARCHED = ("module_utils", "library", "roles", "playbooks")
ENGINES_PACKAGE = REPO / "module_utils" / "safeindex" / "engines"
ENGINE_MODULES = ("features", "dialect", "dump")


def searched_files():
    for top in SEARCHED:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ENGINES_PACKAGE not in path.parents:
                yield path


def test_no_code_outside_engines_compares_engine_names():
    found = []
    for path in searched_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if ENGINE_COMPARISON.search(line):
                found.append("%s:%d: %s" % (path.relative_to(REPO), number, line.strip()))
    assert not found, "ask features_for(name) or the engine object instead:\n" + "\n".join(found)


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_every_engine_is_a_package_with_its_features_dialect_and_dump(name):
    package = ENGINES_PACKAGE / name
    assert (package / "__init__.py").is_file()
    for module in ENGINE_MODULES:
        assert (package / ("%s.py" % module)).is_file(), "engines/%s/ lacks %s.py" % (name, module)
        importlib.import_module("ansible.module_utils.safeindex.engines.%s.%s" % (name, module))
    assert features_for(name).name == name


def engine_class(name):
    module = importlib.import_module("ansible.module_utils.safeindex.engines.%s.dialect" % name)
    classes = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, Engine) and c is not Engine]
    assert len(classes) == 1, classes
    return classes[0]


def unanswered(cls):
    """The interface's questions (methods that raise NotImplementedError) this class leaves to the interface."""
    missing = []
    for interface in Engine.__mro__:
        for method_name, method in vars(interface).items():
            if not inspect.isfunction(method) or "raise NotImplementedError" not in inspect.getsource(method):
                continue
            if getattr(cls, method_name) is method:
                missing.append("%s.%s" % (interface.__name__, method_name))
    return missing


@pytest.mark.parametrize("name", ENGINE_NAMES)
def test_every_engine_answers_every_question_of_the_interface(name):
    cls = engine_class(name)
    assert not unanswered(cls)
    assert cls.FEATURES is features_for(name)


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_only_the_factory_imports_an_engine_package():
    """A third engine is a new folder and its entries in engines/__init__.py: nothing else names an engine's package."""
    engine_packages = tuple("ansible.module_utils.safeindex.engines.%s" % name for name in ENGINE_NAMES)
    found = []
    for path in searched_files():
        if path.suffix != ".py":
            continue
        for module in imported_modules(path):
            if module.startswith(engine_packages):
                found.append("%s imports %s" % (path.relative_to(REPO), module))
    for name in ENGINE_NAMES:
        for path in sorted((ENGINES_PACKAGE / name).rglob("*.py")):
            for module in imported_modules(path):
                others = [p for p in engine_packages if not p.endswith("." + name)]
                if module.startswith(tuple(others)):
                    found.append("%s imports %s" % (path.relative_to(REPO), module))
    assert not found, "\n".join(found)
