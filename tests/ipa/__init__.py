"""Helpers and tests for running the FreeIPA plugin's files against a directory (and real FreeIPA code)."""

# The plugin's commands (`sessionrecording_<suffix>`), checked by the declaration and FreeIPA tests.
COMMAND_SUFFIXES = (
    "add",
    "mod",
    "del",
    "find",
    "show",
    "enable",
    "disable",
    "add_user",
    "remove_user",
    "add_host",
    "remove_host",
    "test",
)
