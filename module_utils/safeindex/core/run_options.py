"""The run options (doc fragment safeindex_run): the run's id and its folder, shared by the modules of one run."""

from ansible.module_utils.safeindex.core.run_id import check_run_id

RUN_ARGUMENT_SPEC = dict(
    run_id=dict(type="str"),
    run_dir=dict(type="path"),
)


def run_options(*names: str, required: tuple = ()) -> dict:
    """The run options named (both when none is), for a module's argument_spec; those in `required` are required.
    What is required differs per module; its DOCUMENTATION says so with `required: true` over the fragment's option."""
    return {name: dict(RUN_ARGUMENT_SPEC[name], **({"required": True} if name in required else {}))
            for name in names or RUN_ARGUMENT_SPEC}


def check_run_options(module) -> None:
    """Fail the module, before anything changes, when its run_id breaks the one rule (core/run_id.py): the id names
    folders, index comments and sessions."""
    run_id = module.params.get("run_id")
    if run_id is None:
        return
    try:
        check_run_id(run_id)
    except ValueError as exc:
        module.fail_json(msg=str(exc), changed=False)
