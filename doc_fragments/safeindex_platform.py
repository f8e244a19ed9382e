"""Where the modules that talk to a database run: the `platform` attribute they share.

List it before ansible.builtin.action_common_attributes: the first fragment that names an attribute sets it."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
attributes:
  platform:
    support: full
    platforms: posix
    details: Runs on the controller (or the host it is delegated to) and works over the network.
"""
