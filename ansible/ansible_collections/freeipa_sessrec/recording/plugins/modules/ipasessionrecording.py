#!/usr/bin/python
# Copyright: FreeIPA session recording developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# ruff: noqa: E402 - Ansible modules import after their documentation

DOCUMENTATION = r"""
---
module: ipasessionrecording
short_description: Manage FreeIPA session recording rules
description:
  - Creates, changes, enables, disables and deletes the session recording rules of the FreeIPA server
    plugin (C(ipa sessionrecording-*)), and their users, groups, hosts and hostgroups, in the style of
    ansible-freeipa's ipahbacrule.
  - Talks to FreeIPA's JSON-RPC API over HTTPS with python-freeipa, from wherever the module runs (usually
    the controller, with C(delegate_to) localhost); no ipalib is needed.
  - With C(action=rule) and C(state=present) the member lists given are made exact; with C(action=member)
    members are only added (C(state=present)) or removed (C(state=absent)).
  - Failures reported by the server are passed on as one message naming the command.
version_added: "0.1.0"
author:
  - FreeIPA session recording developers (!UNKNOWN)
requirements:
  - python-freeipa >= 1.0 (and requests-gssapi for a Kerberos login)
attributes:
  check_mode:
    support: full
    description: Reports what would change; nothing is sent but reads.
  diff_mode:
    support: full
    description: Shows the rule before and after.
options:
  name:
    description: The rule names; exactly one with C(state=present) and C(action=rule).
    type: list
    elements: str
    required: true
    aliases: [cn]
  description:
    description: The rule's description; an empty string removes it.
    type: str
  usercategory:
    description: C(all) applies the rule to all users; an empty string clears it.
    type: str
    choices: ["all", ""]
    aliases: [usercat]
  hostcategory:
    description: C(all) applies the rule to all hosts; an empty string clears it.
    type: str
    choices: ["all", ""]
    aliases: [hostcat]
  user:
    description: Users the rule names.
    type: list
    elements: str
  group:
    description: User groups the rule names.
    type: list
    elements: str
  host:
    description: Hosts (fully qualified names) the rule names.
    type: list
    elements: str
  hostgroup:
    description: Host groups the rule names.
    type: list
    elements: str
  kind:
    description: C(record) records the sessions the rule applies to, C(exempt) keeps them from being recorded.
    type: str
    choices: [record, exempt]
  priority:
    description: Among the rules applying to a session only the highest priority counts (0 to 1000).
    type: int
  log_input:
    description: Record what the user types (passwords too).
    type: bool
  log_output:
    description: Record what the terminal shows.
    type: bool
  log_window:
    description: Record terminal window size changes.
    type: bool
  notice:
    description:
      - Text shown to the user when a recorded session starts (at most 1024 characters).
      - An empty string removes it.
    type: str
  latency:
    description: Seconds recorded data may be buffered before it is written (1 to 3600).
    type: int
  payload:
    description: Maximum encoded payload of one recorded message in bytes (256 to 3072).
    type: int
  rate:
    description: Recorded bytes per second before the limit action applies (at least 1024).
    type: int
  burst:
    description: Bytes allowed above the rate limit (at least 4096).
    type: int
  limit_action:
    description: What happens above the rate.
    type: str
    choices: [pass, delay, drop]
  audit_commands:
    description: Audit every command executed in the session.
    type: bool
  watch_paths:
    description:
      - Audit accesses to paths during the session, each C(<permissions>:<absolute path>) with permissions
        from C(rwxa); the list is made exact, an empty list removes them all.
    type: list
    elements: str
    aliases: [watch]
  transfers:
    description:
      - Sessions of sftp-server, scp and rsync, C(record) (their bytes), C(metadata) (only the command and
        byte counts) or C(refuse).
    type: str
    choices: [record, metadata, refuse]
  action:
    description: C(rule) manages the rule, C(member) only its members.
    type: str
    choices: [rule, member]
    default: rule
  state:
    description: The rule's state.
    type: str
    choices: [present, absent, enabled, disabled]
    default: present
  ipaadmin_principal:
    description: The principal to log in as.
    type: str
    default: admin
  ipaadmin_password:
    description: The principal's password; without it the module logs in with an existing Kerberos ticket.
    type: str
  ipa_host:
    description:
      - The FreeIPA server (a host name, optionally with C(:port)).
      - Defaults to C(server) of C(/etc/ipa/default.conf) where the module runs.
    type: str
  ipa_ca_cert:
    description:
      - The CA certificate to check the server's certificate with.
      - Defaults to C(/etc/ipa/ca.crt) when present, else the system's CAs.
    type: path
  validate_certs:
    description: Check the server's certificate.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Record the group developers on the hostgroup clients, with what they type
  freeipa_sessrec.recording.ipasessionrecording:
    ipaadmin_password: "{{ ipaadmin_password }}"
    name: developers-on-clients
    description: Developers on client machines
    group: [developers]
    hostgroup: [clients]
    log_input: true
    notice: "This session is recorded."
  delegate_to: localhost

- name: Exempt the backup account everywhere
  freeipa_sessrec.recording.ipasessionrecording:
    ipaadmin_password: "{{ ipaadmin_password }}"
    name: backup
    kind: exempt
    priority: 100
    hostcategory: all
    user: [backup]

- name: Add a hostgroup to a rule, leaving its other members as they are
  freeipa_sessrec.recording.ipasessionrecording:
    ipaadmin_password: "{{ ipaadmin_password }}"
    name: developers-on-clients
    hostgroup: [webservers]
    action: member

- name: Disable a rule
  freeipa_sessrec.recording.ipasessionrecording:
    ipaadmin_password: "{{ ipaadmin_password }}"
    name: developers-on-clients
    state: disabled
"""

RETURN = r"""
commands:
  description: The commands sent (or, in check mode, that would be sent), as [method, rule, options].
  returned: always
  type: list
  elements: list
  sample: [["sessionrecording_mod", "prod", {"ipasessionrecordingloginput": true}]]
rules:
  description: Each rule after the run (in check mode, as it would be); null for a rule that does not exist.
  returned: always
  type: dict
  sample: {"prod": {"name": "prod", "enabled": true, "kind": "record", "group": ["admins"]}}
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.freeipa_sessrec.recording.plugins.module_utils import sessrec_ipa

try:
    from python_freeipa import Client
except ImportError:
    Client = None
    IMPORT_ERROR = traceback.format_exc()
else:
    IMPORT_ERROR = None

IPA_CA = "/etc/ipa/ca.crt"


def main():
    module = AnsibleModule(argument_spec=sessrec_ipa.argument_spec(), supports_check_mode=True)
    params = module.params
    problem = sessrec_ipa.check_params(params)
    if problem:
        module.fail_json(msg=problem)
    if Client is None:
        module.fail_json(msg=missing_required_lib("python-freeipa"), exception=IMPORT_ERROR)
    host = params["ipa_host"] or sessrec_ipa.default_server()
    if not host:
        module.fail_json(msg="ipa_host is not given and /etc/ipa/default.conf names no server")
    verify = params["validate_certs"]
    if verify:
        ca = params["ipa_ca_cert"] or (IPA_CA if os.path.isfile(IPA_CA) else None)
        verify = ca or True
    try:
        client = sessrec_ipa.connect(
            Client, host, params["ipaadmin_principal"], params["ipaadmin_password"], verify
        )
    except Exception as exc:  # noqa: BLE001 - python-freeipa, requests and requests-gssapi raise many kinds
        module.fail_json(msg=f"cannot log in to {host}: {sessrec_ipa.error_message(exc)}")
    try:
        current = {name: sessrec_ipa.show(client, name) for name in params["name"]}
        commands = sessrec_ipa.plan(params, current)
        if not module.check_mode:
            sessrec_ipa.execute(client, commands)
    except (sessrec_ipa.PlanError, sessrec_ipa.CommandError) as exc:
        module.fail_json(msg=str(exc))
    if commands and not module.check_mode:
        try:
            after = {name: sessrec_ipa.show(client, name) for name in params["name"]}
        except sessrec_ipa.CommandError as exc:
            module.fail_json(msg=str(exc))
    else:
        after = {name: sessrec_ipa.predict(current[name], commands, name) for name in params["name"]}
    module.exit_json(
        changed=bool(commands),
        commands=commands,
        rules=after,
        diff={"before": current, "after": after},
    )


if __name__ == "__main__":
    main()
