"""20 spec indexes checked, all already in place: our index phase (one db_index call) against a loop of postgresql_idx.

    python bench/index_check.py [--messages 20000] [--repeat 3] [--quick] [--output bench/results/index_check.json]

One sandbox PostgreSQL with the sample app; the spec's 20 indexes are built first. Then, on the same server in the same
run, alternately, each `--repeat` times:

- ours: ansible-playbook (the project's .venv and ansible.cfg) with the one task the index phase runs, db_index with
  `indexes:` set to the 20 entries as preflight hands them over; every result must be `exists`;
- theirs: the same ansible-core with the `ansible` package's community.postgresql, a loop of
  community.postgresql.postgresql_idx over the same 20 (state present, same names, tables and columns); every item
  must be unchanged.

Both are timed as a user would see them: the wall time of the whole ansible-playbook command (start-up included), same
inventory, same ansible.cfg. The `ansible` package goes into a throwaway virtualenv inside the benchmark's own temporary
folder (pinned below, with ansible-core as constraints.txt pins it and psycopg2-binary for its modules), never into the
project's .venv; the folder is removed at the end. Target (the issue's): ours / theirs <= 0.25.

--quick (3,000 messages, one repeat) is what `make test` runs; there, when pip cannot install the baseline (no
registry), the table says "missed: baseline not installable" instead of passing in silence.
"""

import argparse
import concurrent.futures
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import yaml
from ansible.module_utils.safeindex.spec.plan import as_module_args, load

import sandbox

TARGET_RATIO = 0.25
# The newest `ansible` whose ansible-core is constraints.txt's 2.19; its modules need psycopg2.
BASELINE_PACKAGES = ["ansible-core==2.19.14", "psycopg2-binary==2.9.13"]
BASELINE_ANSIBLE = "ansible==12.3.0"
HOST = "bench_pg"
CONNECTION = {key: "{{ %s }}" % key for key in ("db_engine", "db_host", "db_port", "db_name", "db_user", "db_password")}


def spec_entries():
    """The spec's indexes for PostgreSQL as the index phase receives them (preflight's plan)."""
    _, indexes, _ = load(str(harness.SPEC_FILE), "postgresql")
    return [as_module_args(spec) for spec in indexes]


def write_play(path, tasks):
    path.write_text(yaml.safe_dump([{"name": "Index check", "hosts": "databases", "gather_facts": False, "tasks": tasks}],
                                   sort_keys=False))
    return path


def ours_play(folder, entries):
    task = {"name": "Build the indexes online, in order", "db_index": dict(
        CONNECTION, indexes=entries, run_id="bench-index-check"), "register": "indexes_results"}
    check = {"name": "Every index was found in place", "ansible.builtin.assert": {
        "that": ["indexes_results.results | map(attribute='action') | unique == ['exists']"], "quiet": True}}
    return write_play(folder / "ours.yml", [task, check])


def column_text(column):
    return column["name"] + (" DESC" if column.get("order") == "desc" else "")


def theirs_play(folder, entries):
    items = [{"idxname": e["name"], "table": e["table"], "columns": [column_text(c) for c in e["columns"]], "unique": e["unique"],
              "idxtype": e["method"], **({"cond": e["where"]} if e.get("where") else {})} for e in entries]
    task = {
        "name": "Each index present",
        "community.postgresql.postgresql_idx": {
            "login_host": "{{ db_host }}", "login_port": "{{ db_port }}", "login_user": "{{ db_user }}",
            "login_password": "{{ db_password }}", "login_db": "{{ db_name }}", "state": "present",
            "idxname": "{{ item.idxname }}", "table": "{{ item.table }}", "columns": "{{ item.columns }}",
            "unique": "{{ item.unique }}", "idxtype": "{{ item.idxtype }}", "cond": "{{ item.cond | default(omit) }}",
        },
        "loop": items, "loop_control": {"label": "{{ item.idxname }}"}, "register": "idx_results",
    }
    check = {"name": "Every index was found in place", "ansible.builtin.assert": {
        "that": ["idx_results.results | selectattr('changed') | list | length == 0"], "quiet": True}}
    return write_play(folder / "theirs.yml", [task, check])


def install_baseline(folder):
    """A virtualenv of its own with the `ansible` package; returns its ansible-playbook, or None when pip cannot install it."""
    venv = folder / "baseline-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    started = time.monotonic()
    # The `ansible` package is some 30,000 files of collections whose modules run on the target, not imported here:
    # byte-compiling them at install took 30 of its 38 s (--no-compile: 8 s) and changes nothing that is timed.
    for argv in (pip + BASELINE_PACKAGES, pip + ["--no-deps", "--no-compile", BASELINE_ANSIBLE]):
        completed = subprocess.run(argv, capture_output=True, text=True)
        if completed.returncode != 0:
            harness.say("pip could not install the baseline: %s" % completed.stderr.strip()[-500:])
            return None
    harness.say("baseline %s installed in %.0f s" % (BASELINE_ANSIBLE, time.monotonic() - started))
    return str(venv / "bin" / "ansible-playbook")


def timed(argv):
    started = time.monotonic()
    completed = subprocess.run(argv, cwd=harness.REPO, capture_output=True, text=True, env=dict(os.environ, ANSIBLE_NOCOLOR="1"))
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        raise SystemExit("%s failed (exit %d):\n%s" % (" ".join(argv[:2]), completed.returncode,
                                                      completed.stdout[-3000:] + completed.stderr[-2000:]))
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="3,000 messages, one repeat")
    parser.add_argument("--output", default=str(harness.default_output("index_check")))
    args = parser.parse_args()
    if args.quick:
        args.messages, args.repeat = 3000, 1

    folder = Path(tempfile.mkdtemp(prefix="safeindex-index-check-"))
    try:
        row = measure(folder, args)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    harness.print_table("Index check, 20 indexes all in place, one PostgreSQL (wall seconds of ansible-playbook, median of %d)"
                        % args.repeat, ["ours (db_index, one call) s", "theirs (postgresql_idx loop) s", "ours / theirs",
                                        "target <= %.2f" % TARGET_RATIO], [row["table_row"]])
    harness.write_json(args.output, "index_check", vars(args), row)


def measure(folder, args):
    entries = spec_entries()
    ours_ansible = harness.ansible_command("ansible-playbook")
    # pip installs the baseline while the server starts and loads: neither waits for the other.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        installing = pool.submit(install_baseline, folder)
        return _measure_with(folder, args, entries, ours_ansible, installing)


def _measure_with(folder, args, entries, ours_ansible, installing):
    with sandbox.running("postgresql", messages=args.messages, progress=harness.quiet) as db:
        inventory = harness.write_inventory(folder / "inventory", {HOST: db})
        ours, theirs = ours_play(folder, entries), theirs_play(folder, entries)
        build = write_play(folder / "build.yml", [{"name": "Build the spec", "db_index": dict(
            CONNECTION, indexes=entries, run_id="bench-index-check")}])
        timed([ours_ansible, str(build), "-i", str(inventory)])  # the 20 indexes in place before anything is timed
        baseline = installing.result()
        if baseline is None and not args.quick:
            raise SystemExit("the baseline (%s) cannot be installed: no comparison without it" % BASELINE_ANSIBLE)
        ours_runs, theirs_runs = [], []
        for number in range(args.repeat):
            # Alternate which goes first, so neither always meets a warmer cache.
            order = [("ours", ours_ansible, ours), ("theirs", baseline, theirs)]
            for name, command, play in (order if number % 2 == 0 else order[::-1]):
                if command is None:
                    continue
                seconds = timed([command, str(play), "-i", str(inventory)])
                (ours_runs if name == "ours" else theirs_runs).append(seconds)
                harness.say("%s: %.2f s" % (name, seconds))
    ours_s = statistics.median(ours_runs)
    theirs_s = statistics.median(theirs_runs) if theirs_runs else None
    ratio = round(ours_s / theirs_s, 3) if theirs_s else None
    if ratio is None:
        verdict = "missed: baseline not installable"
    else:
        verdict = "met" if ratio <= TARGET_RATIO else "missed"
    return {
        "engine": "postgresql", "messages": args.messages, "indexes": len(entries), "baseline": BASELINE_ANSIBLE,
        "ours_seconds": round(ours_s, 3), "theirs_seconds": round(theirs_s, 3) if theirs_s else None,
        "ours_runs": ours_runs, "theirs_runs": theirs_runs, "ratio": ratio, "target": TARGET_RATIO, "verdict": verdict,
        "table_row": ["%.2f" % ours_s, "%.2f" % theirs_s if theirs_s else "-", "%.3f" % ratio if ratio else "-", verdict],
    }


if __name__ == "__main__":
    main()
