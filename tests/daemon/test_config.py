"""The configuration file: every problem named with the key to fix; secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltcbridge.daemon.config import ConfigError, load_config, parse_duration
from ltcbridge.daemon.secrets import Secret

GOOD = """
[practice]
ods = "y00001"
[gp]
base_url = "https://gp.example/R4"
[gp.auth]
type = "bearer"
token = "env:LTCB_TEST_GP_TOKEN"
[[provider]]
name = "lead"
ods = "NTP001"
base_url = "https://ntp.example/R4"
agreement = "DSA-1"
[provider.auth]
type = "basic"
username = "ltcbridge"
password_file = "secrets/pw"
[[provider]]
name = "second"
ods = "NTP002"
base_url = "https://ntp2.example/R4"
[agreements]
files = ["dsa.toml"]
[schedule]
every = "15m"
[feed]
transport = "folder"
folder = "drop"
[log]
level = "debug"
json = true
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LTCB_TEST_GP_TOKEN", "gp-token-value")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pw").write_text("provider-password\n")
    (tmp_path / "dsa.toml").write_text('[agreement]\nid = "DSA-1"\n')
    (tmp_path / "drop").mkdir()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "private-key.pem").write_text("(the key init makes)")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "ltcbridge.toml"
    path.write_text(text)
    return path


def test_a_complete_file_loads_with_paths_relative_to_it(folder: Path) -> None:
    config = load_config(write(folder, GOOD))
    assert config.practice_ods == "Y00001"
    assert config.gp.auth.token == Secret("gp-token-value")
    lead = config.lead_provider
    assert (lead.name, lead.ods, lead.agreement) == ("lead", "NTP001", "DSA-1")
    assert lead.auth.password is not None and lead.auth.password.reveal() == "provider-password"
    assert [p.name for p in config.providers] == ["lead", "second"]
    assert config.agreements == {"DSA-1": folder / "dsa.toml"}
    assert config.state_path == folder / "state" / "ltcbridge.db"
    assert config.health_path == folder / "state" / "health.json"
    assert config.every_seconds == 900
    assert (config.feed.transport, config.feed.folder) == ("folder", folder / "drop")
    assert config.feed.signing_key == folder / "keys" / "private-key.pem"
    assert config.feed.grace_days == 5
    assert (config.log_level, config.log_json) == ("debug", True)


def test_secrets_never_appear_in_repr_of_the_config(folder: Path) -> None:
    config = load_config(write(folder, GOOD))
    text = repr(config)
    assert "gp-token-value" not in text and "provider-password" not in text
    assert "********" in text


def test_a_literal_secret_is_refused_without_echoing_it(folder: Path) -> None:
    text = GOOD.replace('token = "env:LTCB_TEST_GP_TOKEN"', 'token = "s3cret-literal"')
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, text))
    assert "[gp] auth.token" in str(caught.value) and "env:NAME" in str(caught.value)
    assert "s3cret-literal" not in str(caught.value)


@pytest.mark.parametrize("value", ["123456789", '["s3cret", 1]', "{ s3cret = 1 }"])
def test_a_secret_of_the_wrong_type_is_named_without_its_value(folder: Path, value: str) -> None:
    text = GOOD.replace('token = "env:LTCB_TEST_GP_TOKEN"', f"token = {value}")
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, text))
    assert caught.value.problems == [
        "[gp] auth.token: must be text in double quotes (the value is not shown here)"
    ]
    assert "123456789" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_every_problem_is_listed_at_once_with_the_key_to_fix(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LTCB_TEST_GP_TOKEN")
    text = (
        GOOD.replace('ods = "y00001"', 'ods = ""')
        .replace('every = "15m"', 'every = "often"')
        .replace('level = "debug"', 'level = "loud"')
        .replace('agreement = "DSA-1"', 'agreement = "DSA-9"')
        .replace('"https://ntp2.example/R4"', '"ntp2.example"')
    )
    problems = _problems(
        write(folder, text),
        "[practice] ods",
        "LTCB_TEST_GP_TOKEN is not set",
        "[schedule] every: 'often'",
        "[log] level",
        "[[provider]] second base_url",
        "'DSA-9' is not the id",
    )
    assert len(problems) == 6


def test_values_of_the_wrong_type_are_problems_with_their_key_not_tracebacks(
    folder: Path,
) -> None:
    """An agreement id that is a list, a batch size that is text, an auth that is not a table:
    each is listed with the key to fix, with every other problem."""
    text = (
        GOOD.replace('agreement = "DSA-1"', "agreement = [1]").replace(
            "[log]", '[state]\nbatch_size = "lots"\n[log]'
        )
        + '\n[[provider]]\nname = "third"\nauth = "none"\n'
    )
    _problems(
        write(folder, text),
        "[[provider]] lead agreement: must be text in double quotes (found [1])",
        "[state] batch_size: must be a whole number, without quotes (found 'lots')",
        "[[provider]] third auth: must be a table",
    )


@pytest.mark.parametrize("alg", ["RS256", "rs384", "ES256", "RS512"])
def test_an_auth_alg_smart_does_not_sign_with_is_refused_naming_the_allowed_ones(
    folder: Path, alg: str
) -> None:
    """A typo in ``alg`` is refused at load (it used to pass until the first token request)."""
    smart = (
        'type = "smart"\nclient_id = "ltcbridge-y00001"\n'
        'private_key_file = "keys/private-key.pem"\nkid = "ltcbridge-1"\n'
    )
    gp_auth = 'type = "bearer"\ntoken = "env:LTCB_TEST_GP_TOKEN"\n'
    text = GOOD.replace(gp_auth, smart + f'alg = "{alg}"\n')
    problems = _problems(write(folder, text), "[gp] auth.alg: must be 'RS384' or 'ES384'")
    assert problems == [f"[gp] auth.alg: must be 'RS384' or 'ES384' (found {alg!r})"]
    for allowed in ("RS384", "ES384"):
        config = load_config(write(folder, GOOD.replace(gp_auth, smart + f'alg = "{allowed}"\n')))
        assert (config.gp.auth.kind, config.gp.auth.alg) == ("smart", allowed)


def test_an_auth_alg_is_checked_against_the_type_that_signs_with_it(folder: Path) -> None:
    """NHS England's signed JWT is always RS512: saying so is accepted, anything else refused;
    a type that signs nothing refuses an ``alg`` (the file was written for another type)."""
    nhs = (
        'type = "nhs-signed-jwt"\napi_key = "env:LTCB_TEST_GP_TOKEN"\n'
        'private_key_file = "keys/private-key.pem"\nkid = "ltcbridge-1"\n'
        'token_url = "https://auth.example.test/token"\n'
    )
    gp_auth = 'type = "bearer"\ntoken = "env:LTCB_TEST_GP_TOKEN"\n'
    for alg, problem in (
        ("RS384", "[gp] auth.alg: must be 'RS512' (found 'RS384')"),
        ("ES384", "[gp] auth.alg: must be 'RS512' (found 'ES384')"),
    ):
        assert _problems(write(folder, GOOD.replace(gp_auth, nhs + f'alg = "{alg}"\n'))) == [
            problem
        ]
    said = load_config(write(folder, GOOD.replace(gp_auth, nhs + 'alg = "RS512"\n')))
    assert said.gp is not None and said.gp.auth.kind == "nhs-signed-jwt"
    bearer = gp_auth + 'alg = "RS384"\n'
    assert _problems(write(folder, GOOD.replace(gp_auth, bearer))) == [
        "[gp] auth.alg: type 'bearer' signs nothing: leave alg out"
    ]


def _problems(config: Path, *expected: str) -> list[str]:
    """The problems loading ``config`` lists, each of ``expected`` among them."""
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = str(caught.value)
    for text in expected:
        assert text in message, text
    return caught.value.problems


def test_missing_file_and_bad_toml_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ltcbridge init"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[gp\n"))


def test_missing_provider_and_missing_files_are_named(folder: Path) -> None:
    text = GOOD.split("[[provider]]")[0] + '[mappings]\ndirs = ["no-such-dir"]\n'
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, text))
    assert "no provider configured" in str(caught.value)
    assert "no-such-dir does not exist" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), (" 2d ", 172800)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0m", "15", "m", "1w", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
