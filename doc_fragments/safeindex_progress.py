"""The progress option of the modules whose work can run long (module_utils/safeindex/build/progress.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  progress_file:
    description:
      - While the long step (an index build, a dump, a restore) runs longer than about two seconds, its progress is
        appended to this file as JSON lines (a build's phase and percent done, read from a second connection; a dump's
        stage, bytes written and table).
      - Defaults to the environment variable C(SAFEINDEX_PROGRESS_FILE), which the callback plugin
        C(safeindex_progress) sets for each task and prints from while the task runs. Unset, nothing is watched.
    type: path
"""
