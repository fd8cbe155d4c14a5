"""Helpers and tests for running the FreeIPA plugin's files against a directory (and real FreeIPA code)."""
