"""The README stays true: its config reference covers every key and field of the model."""

from __future__ import annotations

import re
from typing import get_args

import config
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_config_key_and_field_is_documented():
    missing = []
    for key, field in config.StackConfig.model_fields.items():
        if f"`openwhisk:{key}`" not in README:
            missing.append(key)
        model = getattr(field.annotation, "model_fields", None)
        if model is None and key == "hosts":
            model = config.Host.model_fields
        if model is None:  # an optional section such as `ssh: Ssh | None`
            model = next((a.model_fields for a in get_args(field.annotation)
                          if hasattr(a, "model_fields")), None)
        for sub in model or {}:
            if f"`{sub}`" not in README:
                missing.append(f"{key}.{sub}")
    assert missing == []


def test_every_secret_key_is_documented():
    assert [k for k in config.SECRET_KEYS if f"`openwhisk:{k}`" not in README] == []


def test_every_rotatable_secret_is_documented():
    assert [k for k in config.ROTATABLE if f"`{k}`" not in README] == []


def test_readme_test_command_is_what_ci_runs():
    assert "python -m pytest" in README
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_documented_defaults_match_the_model():
    defaults = {
        "`http_port` | `12001`": config.Invoker().http_port == 12001,
        "`user_memory_mb` | `2048`": config.Invoker().user_memory_mb == 2048,
        "`remoting_port` | `25520`": config.Controller().remoting_port == 25520,
        "`etcd_lease_timeout_s` | `10`": config.Scheduler().etcd_lease_timeout_s == 10,
        "`use_runc` | `false`": config.Invoker().use_runc is False,
        "`port` | `22`": config.Ssh(user="x").port == 22,
        "`sudo` | `true`": config.Ssh(user="x").sudo is True,
        "`data_dir` | `null`": config.Storage().data_dir is None,
        "`enabled` | `true`": config.Verify().enabled is True,
        "`timeout_s` | `600`": config.Verify().timeout_s == 600,
    }
    assert {k: k in README and ok for k, ok in defaults.items()} == dict.fromkeys(defaults, True)
    for key, ref in config.Images().model_dump().items():
        assert re.search(rf"`{key}` \(`{re.escape(ref)}`\)", README), key
