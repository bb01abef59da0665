"""Config: defaults, file, environment, validation errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hartnode import config
from hartnode.config import Config, ConfigError
from hartnode.node import overlay_config

ANNOTATED = Path(__file__).resolve().parents[1] / "config" / "hartnode.toml"


def test_annotated_default_file_equals_the_dataclass_defaults() -> None:
    assert config.load(ANNOTATED, {}) == Config()


def test_annotated_default_file_lists_every_key_with_its_doc() -> None:
    # Regenerate: .venv/bin/python -c "from hartnode import config;
    #   print(config.annotated_defaults(), end='')" > config/hartnode.toml
    assert ANNOTATED.read_text() == config.annotated_defaults()


def test_every_key_of_the_annotated_file_has_a_doc_comment() -> None:
    lines = ANNOTATED.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), line


def test_file_then_environment_layers(tmp_path: Path) -> None:
    f = tmp_path / "hartnode.toml"
    f.write_text('[api]\nlisten = "127.0.0.1:7000"\n[node]\nregion = "eu-west"\n')
    cfg = config.load(f, {"HARTNODE_API_LISTEN": "127.0.0.1:7001",
                          "HARTNODE_NETWORK_SEEDS": "ws://a:1/hart, ws://b:2/hart",
                          "HARTNODE_DATA_DIR": "/ignored/here"})
    assert cfg.api.listen == "127.0.0.1:7001"
    assert cfg.node.region == "eu-west"
    assert cfg.network.seeds == ("ws://a:1/hart", "ws://b:2/hart")


def test_render_round_trips(tmp_path: Path) -> None:
    cfg = config.load(None, {"HARTNODE_NODE_TIER": "regional", "HARTNODE_LEDGER_GROUP_COMMIT_MAX":
                             "50", "HARTNODE_NETWORK_SEEDS": "ws://x:1/hart"})
    f = tmp_path / "c.toml"
    f.write_text(config.render_toml(cfg, only_changed=True))
    assert config.load(f, {}) == cfg


@pytest.mark.parametrize("text,needle", [
    ('[nodes]\ntier = "flat"\n', "unknown section [nodes]"),
    ('[node]\ntear = "flat"\n', "unknown key node.tear"),
    ('[node]\ntier = "emperor"\n', "node.tier"),
    ('[api]\nlisten = "nonsense"\n', "api.listen"),
    ('[api]\nlisten = "127.0.0.1:70000"\n', "above 65535"),
    ('[network]\nseeds = "ws://a:1/hart"\n', "network.seeds"),
    ('[network]\nseeds = ["http://a/"]\n', "network.seeds"),
    ('[network]\nkey = "abc"\n', "network.key"),
    ('[ledger]\ngroup_commit_max = "many"\n', "ledger.group_commit_max"),
    ('[ledger]\ngroup_commit_max = 0\n', "ledger.group_commit_max"),
    ("this is not toml", "not valid TOML"),
])
def test_bad_files_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    f = tmp_path / "hartnode.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        config.load(f, {})
    assert needle in str(err.value)


@pytest.mark.parametrize("env,needle", [
    ({"HARTNODE_API_LISTN": "x"}, "HARTNODE_API_LISTN names no config key"),
    ({"HARTNODE_LEDGER_GROUP_COMMIT_MAX": "ten"}, "expected an integer"),
    ({"HARTNODE_NETWORK_PROFILE": "turbo"}, "network.profile"),
])
def test_bad_environment_names_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.load(None, env)
    assert needle in str(err.value)


def test_network_key_is_derived_from_the_name_unless_set() -> None:
    a = config.network_key(config.load(None, {"HARTNODE_NETWORK_NAME": "test"}))
    b = config.network_key(config.load(None, {"HARTNODE_NETWORK_NAME": "prod"}))
    explicit = config.network_key(config.load(None, {"HARTNODE_NETWORK_KEY": "ab" * 32}))
    assert len(a) == 32 and a != b and explicit == b"\xab" * 32


def test_ipv6_hostport() -> None:
    assert config.parse_hostport("[::1]:6777", "k") == ("::1", 6777)


def test_record_budget_zero_keeps_the_profiles_and_a_value_overrides_it() -> None:
    constrained = config.load(None, {"HARTNODE_NETWORK_PROFILE": "constrained"})
    assert overlay_config(constrained).record_budget == 128.0
    raised = config.load(None, {"HARTNODE_NETWORK_PROFILE": "constrained",
                                "HARTNODE_NETWORK_RECORD_BUDGET": "4096"})
    assert overlay_config(raised).record_budget == 4096.0
    assert overlay_config(raised).lazy_fanout == overlay_config(constrained).lazy_fanout
    with pytest.raises(config.ConfigError, match="record_budget"):
        config.load(None, {"HARTNODE_NETWORK_RECORD_BUDGET": "-1"})
