"""The session recording policy: LDAP layout, option table, rule model and `decide()`.

Standard library only: imported by the FreeIPA server plugin, the host agent and the login shell.
"""
