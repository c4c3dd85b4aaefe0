"""Configuration: defaults -> config.toml -> PUNKTFUNK_* -> flags, one table in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgmt.settings import Settings, SettingsError, load, markdown_table, split_address

README = Path(__file__).resolve().parents[2] / "README.md"


def test_each_layer_overrides_the_one_before(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'bind = "0.0.0.0:9000"\nfec_percent = 30\nperf = true\nsource = "synthetic@30"\n'
    )
    env = {"PUNKTFUNK_FEC_PERCENT": "40", "PUNKTFUNK_PERF": "off", "UNRELATED": "x"}
    settings = load({"source": "x11:0", "bind": None}, environ=env, directory=tmp_path)
    assert settings.bind == "0.0.0.0:9000"  # file (the flag was not given)
    assert settings.fec_percent == 40  # environment over file
    assert settings.perf is False  # environment over file
    assert settings.source == "x11:0"  # flag over everything
    assert settings.max_sessions == Settings().max_sessions  # default


def test_no_file_and_no_environment_gives_the_defaults(tmp_path: Path) -> None:
    assert load({}, environ={}, directory=tmp_path) == Settings()


@pytest.mark.parametrize(
    ("toml", "env", "complaint"),
    [
        ("colour = 'blue'\n", {}, "unknown setting"),
        ("fec_percent = 'lots'\n", {}, "fec_percent must be int"),
        ("perf = 'maybe'\n", {}, "perf must be bool"),
        ("bind = [1]\n", {}, "bind must be str"),
        ("bind = \n", {}, "config.toml"),
        ("", {"PUNKTFUNK_MAX_SESSIONS": "four"}, "PUNKTFUNK_MAX_SESSIONS"),
        ("", {"PUNKTFUNK_DEMO": "sometimes"}, "PUNKTFUNK_DEMO"),
    ],
)
def test_bad_values_name_the_setting_and_the_layer(
    tmp_path: Path, toml: str, env: dict[str, str], complaint: str
) -> None:
    (tmp_path / "config.toml").write_text(toml)
    with pytest.raises(SettingsError, match=complaint):
        load({}, environ=env, directory=tmp_path)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:47900", ("127.0.0.1", 47900)), ("[::1]:0", ("::1", 0)), (":80", ("0.0.0.0", 80))],
)
def test_addresses_split_into_host_and_port(value: str, expected: tuple[str, int]) -> None:
    assert split_address(value, "bind") == expected


@pytest.mark.parametrize("value", ["localhost", "host:http", "host:70000", ""])
def test_bad_addresses_are_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="bind must be HOST:PORT"):
        split_address(value, "bind")


def test_the_readme_documents_every_setting_exactly_as_the_code_defines_it() -> None:
    assert markdown_table() in README.read_text(), (
        "README's configuration table is stale: paste the output of "
        "`python -c 'from mgmt.settings import markdown_table; print(markdown_table())'`"
    )
