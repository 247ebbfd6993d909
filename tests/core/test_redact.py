"""Secrets hidden from the settings the dashboard shows."""

from __future__ import annotations

from covalent_ray.core.redact import REDACTED, is_secret, redact


def test_secret_names() -> None:
    for key in (
        "api_token",
        "password",
        "ssh-passphrase",
        "client_secret",
        "api_key",
        "access_key",
        "aws.credentials",
        "Token",
    ):
        assert is_secret(key), key
    for key in ("ssh_key_file", "key_file", "workdir", "keyword", "port", "tokens_used_for"):
        assert not is_secret(key), key


def test_redact_hides_values_of_secrets_and_lists_them() -> None:
    config = {
        "sdk": {"executor_dir": "/x", "api_token": "s3cret"},
        "executors": {
            "ssh": {"ssh_key_file": "~/.ssh/id", "password": "", "hostname": "h"},
            "s3": {"credentials": {"id": "a", "value": "b", "unset": None}},
        },
        "top_secret": 3,
    }
    shown, hidden = redact(config)
    assert shown == {
        "sdk": {"executor_dir": "/x", "api_token": REDACTED},
        # an empty password has nothing to hide
        "executors": {
            "ssh": {"ssh_key_file": "~/.ssh/id", "password": "", "hostname": "h"},
            "s3": {"credentials": {"id": REDACTED, "value": REDACTED, "unset": None}},
        },
        "top_secret": REDACTED,
    }
    assert sorted(hidden) == [
        "executors.s3.credentials.id",
        "executors.s3.credentials.value",
        "sdk.api_token",
        "top_secret",
    ]
    assert config["sdk"]["api_token"] == "s3cret"  # the input is left alone
