"""Which login commands count as file transfers (sssd_helper.transfers)."""

from __future__ import annotations

import pytest

from sssd_helper.transfers import is_transfer


@pytest.mark.parametrize(
    ("command", "transfer"),
    [
        ("/usr/lib/openssh/sftp-server", True),
        ("/usr/libexec/openssh/sftp-server -l INFO", True),
        ("scp -t .", True),
        ("scp -r -f /etc/hosts", True),
        ("rsync --server -vlogDtpre.iLsfxCIvu . tree/", True),
        ("rsync --server --sender -vlogDtpre.iLsfxCIvu . tree/", True),
        ("scp a b", False),  # a user running scp on the host: an ordinary command
        ("rsync -a a b", False),
        ("echo sftp-server", False),
        ("cat 'unbalanced", False),
        ("", False),
        (None, False),
    ],
)
def test_transfer_commands(command: str | None, transfer: bool) -> None:
    assert is_transfer(command) is transfer
