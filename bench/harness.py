"""What every benchmark shares: the engine's import path, a timed playbook run, its report, a table, JSON, a plot.

A benchmark script does `from harness import ...` (bench/ is the script's own folder, so it is on sys.path).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
sys.path.insert(0, str(REPO))

import ansible.module_utils  # noqa: E402

# The modules' engine (module_utils/safeindex), importable here as Ansible imports it in a module.
ansible.module_utils.__path__.append(str(REPO / "module_utils"))

from sandbox.inventory import write_inventory  # noqa: E402,F401 (re-exported for the benchmarks)


def say(line):
    """A progress line on stderr (stdout carries the table)."""
    print(line, file=sys.stderr, flush=True)


def quiet(_line):
    pass


def ansible_command(name):
    """ansible-playbook of the interpreter running the benchmark (the project's .venv)."""
    return str(Path(sys.executable).parent / name)


def run_playbook(playbook, inventory, *extra, forks=None, check=True):
    """Run a playbook of the repo against an inventory folder; returns (CompletedProcess, wall seconds)."""
    argv = [ansible_command("ansible-playbook"), playbook, "-i", str(inventory), *extra]
    if forks:
        argv += ["--forks", str(forks)]
    started = time.monotonic()
    completed = subprocess.run(argv, cwd=REPO, capture_output=True, text=True,
                               env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    seconds = time.monotonic() - started
    if check and completed.returncode != 0:
        raise SystemExit("%s failed (exit %d):\n%s" % (playbook, completed.returncode, completed.stdout[-3000:] + completed.stderr[-2000:]))
    return completed, seconds


def latest_report(inventory, host):
    """report.json of the host's newest run under the inventory's artifacts_dir (write_inventory's layout)."""
    reports = sorted((Path(inventory) / "artifacts" / host).glob("*/report.json"), key=lambda path: path.stat().st_mtime)
    if not reports:
        raise SystemExit("no report.json for %s under %s" % (host, inventory))
    return json.loads(reports[-1].read_text())


def phase_seconds(report):
    """{phase name: seconds} of one run's report.json."""
    return {phase["name"]: phase["duration_seconds"] for phase in report.get("phases", [])}


def print_table(title, headers, rows):
    """A Markdown table (so README can quote it as printed), each column as wide as its widest cell."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(str(header)), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    print()
    print(title)
    print()
    print("| " + " | ".join(str(header).ljust(width) for header, width in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    for row in cells:
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) + " |")
    print(flush=True)


def write_json(path, benchmark, parameters, results, **extra):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"benchmark": benchmark, "parameters": parameters, "results": results, **extra}, indent=2) + "\n")
    say("wrote %s" % path)
    return path


def default_output(benchmark):
    return RESULTS / ("%s.json" % benchmark)


def pyplot():
    """matplotlib's pyplot drawing to files only (no display on a server)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


SPEC_FILE = REPO / "migrations" / "indexes.yml"


def spec_statements(dialect, online, spec_file=SPEC_FILE, run_id="bench"):
    """The spec's index builds as the SQL a client would send, in spec order: [(index name, table, [statement, ...])].

    online=True: the statements db_index runs (CREATE INDEX CONCURRENTLY; ALTER TABLE ... ALGORITHM=INPLACE,
    LOCK=NONE with the run's comment); online=False: the runbook's plain CREATE INDEX.
    """
    import yaml
    from ansible.module_utils.safeindex.build import indexer
    from ansible.module_utils.safeindex.spec import parse as spec

    indexes, _probes = spec.load_spec(yaml.safe_load(Path(spec_file).read_text()), dialect.engine)
    statements = []
    for index in indexes:
        _schema, wanted = indexer.resolve(dialect, index)
        if online:
            texts = dialect.render(dialect.create_statement(index.name, wanted, run_id, online=True))
        else:
            texts = [dialect.render_definition(index.name, wanted)]
        statements.append((index.name, index.table, [t.decode() if isinstance(t, bytes) else t for t in texts]))
    return statements


def drop_spec_indexes(dialect, spec_file=SPEC_FILE):
    """Drop every index of the spec that exists (plainly: the benchmark's own database, between phases)."""
    import yaml
    from ansible.module_utils.safeindex.build import indexer
    from ansible.module_utils.safeindex.spec import parse as spec

    indexes, _probes = spec.load_spec(yaml.safe_load(Path(spec_file).read_text()), dialect.engine)
    for index in indexes:
        schema, _wanted = indexer.resolve(dialect, index)
        existing = dialect.find_index(index, schema)
        if existing is not None:
            dialect.execute(dialect.drop_statement(existing.name, existing.definition, online=False))


def add_pg_major_argument(parser):
    """--pg-major 15 18 (or repeated): the PostgreSQL majors to measure, side by side; default the system's own."""
    parser.add_argument("--pg-major", dest="pg_majors", type=int, nargs="+", action="extend", metavar="MAJOR",
                        help="PostgreSQL majors to run on, e.g. --pg-major 15 18 (default: the system's own)")


def servers_to_measure(engine_choice, pg_majors):
    """[(engine, pg_major)] in the order the tables print: PostgreSQL of each major asked for, then MariaDB (None)."""
    from sandbox.postgres import default_major

    engines = ["postgresql", "mysql"] if engine_choice == "both" else [engine_choice]
    majors = list(dict.fromkeys(pg_majors or [default_major()]))
    return [(engine, major) for engine in engines for major in (majors if engine == "postgresql" else [None])]


def server_label(engine, pg_major):
    """How the tables name a measured server: 'postgresql 18', 'mysql'."""
    return engine if pg_major is None else "%s %d" % (engine, pg_major)


def open_engine(db):
    """The engine's dialect (module_utils/safeindex) connected to a sandbox database."""
    from ansible.module_utils.safeindex.core.connection import connection_params
    from ansible.module_utils.safeindex.engines import open_engine

    return open_engine(connection_params(dict(database_url=db.url())), application_name="safeindex-bench")
