#!/usr/bin/env python3
"""Write the safeindex.safeindex collection from the repository's own sources, for ansible-test sanity and for users who
want the modules in their own playbooks (`make collection`).

The repository keeps the playbook layout (library/, module_utils/, doc_fragments/, callback_plugins/, roles/); a
collection wants plugins/... and fully qualified names. Nothing is maintained twice: the tree is rebuilt from scratch
each time, with the imports, doc fragment names and module references rewritten. scripts/collection/ holds what only
the collection has: galaxy-template.yml (galaxy.yml without its version; named so that ansible-lint does not take the
repository for a collection), meta/runtime.yml, the sanity ignore file, and sanity-ignore-pending.txt (lines appended to
the ignore file for findings their owner is fixing).

    python scripts/build_collection.py [--output build/collection] [--tarball]
"""

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NAMESPACE, NAME = "safeindex", "safeindex"
FQCN_PREFIX = "%s.%s." % (NAMESPACE, NAME)
MODULE_UTILS_IMPORT = "ansible.module_utils.safeindex"
COLLECTION_MODULE_UTILS = "ansible_collections.%s.%s.plugins.module_utils" % (NAMESPACE, NAME)
# Repository folder -> collection folder.
PLUGIN_FOLDERS = {
    "library": "plugins/modules",
    "module_utils/safeindex": "plugins/module_utils",
    "doc_fragments": "plugins/doc_fragments",
    "callback_plugins": "plugins/callback",
}
TOP_FILES = ("README.md", "LICENSE", "CHANGELOG.md")
GALAXY_TEMPLATE = "galaxy-template.yml"
PENDING_IGNORES = "sanity-ignore-pending.txt"
SANITY_IGNORE = "tests/sanity/ignore-2.19.txt"
IGNORE_NAMES = ("__pycache__", "*.pyc", ".pytest_cache")
IGNORED = shutil.ignore_patterns(*IGNORE_NAMES)


def collection_root(output: Path) -> Path:
    """Where ansible-test expects the collection: .../ansible_collections/<namespace>/<name>."""
    return output / "ansible_collections" / NAMESPACE / NAME


def names(folder: Path) -> list:
    return sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")


def rewrite_python(text: str, modules: list, fragments: list, plugins: list = ()) -> str:
    """One plugin or module_utils source as the collection needs it: module_utils imports under the collection, doc
    fragments, module references (M(), seealso, EXAMPLES task keys) and plugin names fully qualified."""
    text = re.sub(r"\b%s\b" % re.escape(MODULE_UTILS_IMPORT), COLLECTION_MODULE_UTILS, text)
    if fragments:
        alternatives = "|".join(map(re.escape, fragments))
        # a list item of extends_documentation_fragment, optionally naming one of the fragment's variables
        text = re.sub(r"(?m)^(\s*-\s+)(%s)((?:\.\w+)?\s*)$" % alternatives, r"\1%s\2\3" % FQCN_PREFIX, text)
    if modules:
        alternatives = "|".join(map(re.escape, modules))
        text = re.sub(r"\bM\((%s)\)" % alternatives, r"M(%s\1)" % FQCN_PREFIX, text)
        text = re.sub(r"(?m)^(\s*-\s+module:\s+)(%s)\s*$" % alternatives, r"\1%s\2" % FQCN_PREFIX, text)
        text = _rewrite_examples(text, alternatives)
    for plugin in plugins:
        # a plugin's own name as Ansible will know it (CALLBACK_NAME = "safeindex_progress")
        text = re.sub(r'(?m)^(\s*CALLBACK_NAME\s*=\s*)"%s"' % re.escape(plugin), r'\1"%s%s"' % (FQCN_PREFIX, plugin), text)
    return text


def _rewrite_examples(text: str, alternatives: str) -> str:
    """Task keys naming our modules inside EXAMPLES get their FQCN, as a user of the collection writes them."""
    match = re.search(r'(?s)(EXAMPLES\s*=\s*r?""")(.*?)(""")', text)
    if not match:
        return text
    body = re.sub(r"(?m)^(\s*(?:-\s+)?)(%s):(\s*)$" % alternatives, r"\1%s\2:\3" % FQCN_PREFIX, match.group(2))
    return text[:match.start(2)] + body + text[match.end(2):]


def galaxy_yml(template: str, version: str) -> str:
    """galaxy.yml: the template with the project's version (pyproject.toml is the one place it is written)."""
    return template.rstrip("\n") + "\nversion: %s\n" % version


def project_version() -> str:
    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["version"]


def build(output: Path) -> Path:
    """A fresh collection tree under output; returns its root."""
    root = collection_root(output)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    modules = names(REPO / "library")
    fragments = names(REPO / "doc_fragments")
    plugins = names(REPO / "callback_plugins")
    for source, target in PLUGIN_FOLDERS.items():
        shutil.copytree(REPO / source, root / target, ignore=IGNORED)
        for path in (root / target).rglob("*.py"):
            path.write_text(rewrite_python(path.read_text(), modules, fragments, plugins))
    shutil.copytree(REPO / "roles", root / "roles", ignore=IGNORED)
    for name in TOP_FILES:
        if (REPO / name).exists():
            shutil.copy2(REPO / name, root / name)
    extras = REPO / "scripts" / "collection"
    shutil.copytree(extras, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns(GALAXY_TEMPLATE, PENDING_IGNORES, *IGNORE_NAMES))
    (root / "galaxy.yml").write_text(galaxy_yml((extras / GALAXY_TEMPLATE).read_text(), project_version()))
    pending = extras / PENDING_IGNORES
    if pending.exists():
        ignores = root / SANITY_IGNORE
        lines = [line for line in pending.read_text().splitlines() if line.strip() and not line.startswith("#")]
        ignores.write_text(ignores.read_text() + "".join(line + "\n" for line in lines))
    return root


def build_tarball(root: Path, output: Path) -> Path:
    """ansible-galaxy collection build, next to the tree; returns the tarball."""
    ansible_galaxy = Path(sys.executable).parent / "ansible-galaxy"
    command = [str(ansible_galaxy) if ansible_galaxy.exists() else "ansible-galaxy", "collection", "build", "--force",
               "--output-path", str(output), str(root)]
    subprocess.run(command, check=True)
    return output / ("%s-%s-%s.tar.gz" % (NAMESPACE, NAME, project_version()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=REPO / "build" / "collection")
    parser.add_argument("--tarball", action="store_true", help="also build the tarball with ansible-galaxy")
    args = parser.parse_args(argv)
    root = build(args.output.resolve())
    print("collection tree: %s" % root)
    if args.tarball:
        print("collection tarball: %s" % build_tarball(root, args.output.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
