"""Every configuration file (agreement, daemon, hub) is read by one strict schema.

For each kind of file: a misspelt key, an unknown table, a value of the wrong type, and several
problems at once are all refused, each line starting with its key path, near misses with the
nearest known name. Every configuration the project ships or documents parses, and the commands
that read a configuration show its problems without a traceback.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from core_data import write_agreement

from ltcbridge.agreement import SCHEMA as AGREEMENT_SCHEMA
from ltcbridge.agreement import parse_agreement
from ltcbridge.cli import main
from ltcbridge.config_schema import keys_of, model_at
from ltcbridge.daemon.config import SCHEMA as DAEMON_SCHEMA
from ltcbridge.daemon.config import AuthTable, ConfigError, load_config
from ltcbridge.daemon.template import write_initial_config
from ltcbridge.demo import demo_agreement_path
from ltcbridge.errors import AgreementError, LtcbridgeError
from ltcbridge.hub.config import HubConfigError, load_hub_config, parse_hub_config

ROOT = Path(__file__).resolve().parents[2]

DAEMON = """
[practice]
ods = "Y00001"
[gp]
base_url = "https://gp.example/R4"
[[provider]]
name = "lead"
ods = "NTP001"
base_url = "https://ntp.example/R4"
[schedule]
every = "15m"
[log]
level = "info"
"""

HUB = """
[hub]
name = "Example ICB"
icb = "QHM"
[practices]
Y00011 = "U00001"
[disclosure]
threshold = 7
secondary = false
"""


def _agreement(folder: Path) -> str:
    """The text of an agreement at the floor, as the other core tests write it."""
    return write_agreement(folder / "agreement.toml").read_text(encoding="utf-8")


def _agreement_problems(folder: Path, text: str) -> list[str]:
    with pytest.raises(AgreementError) as raised:
        parse_agreement(tomllib.loads(text), "a.toml")
    return _lines(str(raised.value))


def _daemon_problems(folder: Path, text: str) -> list[str]:
    (folder / "keys").mkdir(exist_ok=True)
    (folder / "keys" / "private-key.pem").write_text("(the key init makes)", encoding="utf-8")
    path = folder / "ltcbridge.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    return raised.value.problems


def _hub_problems(folder: Path, text: str) -> list[str]:
    with pytest.raises(HubConfigError) as raised:
        parse_hub_config(tomllib.loads(text), "hub.toml")
    return _lines(str(raised.value))


def _lines(message: str) -> list[str]:
    """The listed problems of an error (the lines after its heading)."""
    return [line[4:] for line in message.splitlines() if line.startswith("  - ")]


Problems = Callable[[Path, str], list[str]]
# Each kind of file: a good file's text (given a folder), and the problems of a text.
KINDS: dict[str, tuple[Callable[[Path], str], Problems]] = {
    "agreement": (_agreement, _agreement_problems),
    "daemon": (lambda _folder: DAEMON, _daemon_problems),
    "hub": (lambda _folder: HUB, _hub_problems),
}


def _changed(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced by ``new`` (which must be there: a test that changes
    nothing would prove nothing)."""
    assert old in text, old
    return text.replace(old, new)


# (kind, old, new, the one problem expected)
MISTAKES = [
    # a misspelt key, with the nearest known key
    ("agreement", "threshold = 7", "treshold = 7\nthreshold = 7",
     "[disclosure] treshold: unknown key (did you mean 'threshold'?)"),
    ("daemon", 'every = "15m"', 'evry = "5m"',
     "[schedule] evry: unknown key (did you mean 'every'?)"),
    ("hub", 'name = "Example ICB"', 'nme = "Example ICB"',
     "[hub] nme: unknown key (did you mean 'name'?)"),
    # a key in a nested table
    ("daemon", 'base_url = "https://gp.example/R4"',
     'base_url = "https://gp.example/R4"\n[gp.auth]\ntpye = "none"',
     "[gp] auth.tpye: unknown key (did you mean 'type'?)"),
    # an unknown table, with the nearest known table
    ("agreement", "[disclosure]", "[disclosures]\nrounding = 5\n[disclosure]",
     "[disclosures]: unknown table (did you mean [disclosure]?)"),
    ("daemon", "[log]", "[logs]", "[logs]: unknown table (did you mean [log]?)"),
    ("hub", "[practices]", "[practises]", "[practises]: unknown table (did you mean [practices]?)"),
    # a value of the wrong type: nothing converted
    ("agreement", "secondary = true", 'secondary = "true"',
     "[disclosure] secondary: must be true or false, without quotes (found 'true')"),
    ("daemon", 'ods = "Y00001"', "ods = 12345",
     "[practice] ods: must be text in double quotes (found 12345)"),
    ("hub", "secondary = false", 'secondary = "false"',
     "[disclosure] secondary: must be true or false, without quotes (found 'false')"),
    # a value that is not one of the known ones, or not of the right shape
    ("daemon", "[log]", '[feed]\ntransport = "pigeon"\n[log]',
     "[feed] transport: must be 'mesh', 'https' or 'folder' (found 'pigeon')"),
    ("daemon", 'ods = "NTP001"', 'ods = "NTP-001"',
     "[[provider]] lead ods: 'NTP-001' is not an ODS code (3 to 10 letters and digits, e.g. "
     "Y00001)"),
    ("daemon", 'every = "15m"', "every = 15",
     "[schedule] every: must be a duration in double quotes, e.g. \"15m\" (found 15)"),
    ("hub", "threshold = 7", "threshold = -1", "[disclosure] threshold: must be >= 0 (found -1)"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "old", "new", "expected"), MISTAKES)
def test_each_mistake_is_one_line_starting_with_its_key_path(
    tmp_path: Path, kind: str, old: str, new: str, expected: str
) -> None:
    good, problems = KINDS[kind]
    assert problems(tmp_path, _changed(good(tmp_path), old, new)) == [expected]


# (kind, the changes, the key paths of the problems, in the file's order of tables)
SEVERAL = [
    ("agreement",
     [("[disclosure]", "colour = 1\n[disclosure]"), ("rounding = 5", 'rounding = "5"'),
      ("secondary = true", "secundary = true")],
     ["[agreement] colour", "[disclosure] rounding", "[disclosure] secundary"]),
    ("daemon",
     [('ods = "Y00001"', "ods = 12345"), ('every = "15m"', 'evry = "5m"'), ("[log]", "[logs]"),
      ('level = "info"', 'level = "loud"\n[feed]\ntransport = "pigeon"')],
     ["[logs]", "[practice] ods", "[schedule] evry", "[feed] transport"]),
    ("hub",
     [("[hub]", "[hubb]"), ('Y00011 = "U00001"', "Y00011 = 1"),
      ("secondary = false", 'secondary = "false"\nrounding = 0')],
     ["[hubb]", "[practices] Y00011", "[disclosure] rounding", "[disclosure] secondary"]),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "changes", "paths"), SEVERAL)
def test_every_problem_is_reported_at_once_each_with_its_key_path(
    tmp_path: Path, kind: str, changes: list[tuple[str, str]], paths: list[str]
) -> None:
    good, problems = KINDS[kind]
    text = good(tmp_path)
    for old, new in changes:
        text = _changed(text, old, new)
    found = problems(tmp_path, text)
    assert [line.split(":")[0] for line in found] == paths, found


def test_a_key_outside_any_table_is_pointed_to_its_table(tmp_path: Path) -> None:
    assert _daemon_problems(tmp_path, 'locality = "Dudley"\n' + DAEMON) == [
        "locality: unknown key outside any table; it belongs in [practice]"
    ]
    assert _hub_problems(tmp_path, "icbb = 'QHM'\n" + HUB) == [
        "icbb: unknown key outside any table (did you mean [hub] icb?)"
    ]


def test_a_daemon_table_that_is_not_a_table_and_missing_keys_are_named(tmp_path: Path) -> None:
    text = _changed(DAEMON, '[practice]\nods = "Y00001"\n', 'practice = "Y00001"\n')
    text = _changed(text, 'name = "lead"\n', "")
    assert _daemon_problems(tmp_path, text) == [
        "[practice]: must be a table, written [practice] on a line of its own (found 'Y00001')",
        '[[provider]] 1 name: is required: a name for the provider in quotes, e.g. "lead"',
    ]


def test_an_auth_type_names_every_key_it_lacks(tmp_path: Path) -> None:
    text = _changed(DAEMON, "[[provider]]", '[gp.auth]\ntype = "smart"\n[[provider]]')
    assert _daemon_problems(tmp_path, text) == [
        "[gp] auth: type 'smart' needs client_id; private_key_file = \"PATH\" or "
        'private_key = "env:NAME"; kid'
    ]


def test_a_daemon_config_at_its_defaults_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "ltcbridge.toml"
    path.write_text(_changed(DAEMON, 'ods = "Y00001"', 'ods = "y00001"'), encoding="utf-8")
    config = load_config(path)
    assert config.practice_ods == "Y00001"  # ODS codes are read in any case
    assert (config.every_seconds, config.log_level, config.batch_size) == (900, "info", 500)
    assert config.state_path == tmp_path / "state" / "ltcbridge.db"
    assert config.health_path == tmp_path / "state" / "health.json"
    assert config.gp.auth.kind == "none" and not config.feed.configured
    assert [(p.name, p.ods) for p in config.providers] == [("lead", "NTP001")]


# -- everything shipped or documented parses ------------------------------------------------------
def test_the_bundled_demo_agreement_parses() -> None:
    data = tomllib.loads(demo_agreement_path().read_text(encoding="utf-8"))
    assert parse_agreement(data).id


def test_the_init_template_parses_and_loads_once_its_secret_exists(tmp_path: Path) -> None:
    config = write_initial_config(tmp_path, ods="Y12345")
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    assert DAEMON_SCHEMA.check(data, base=tmp_path)[1] == []
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "provider-token").write_text("t", encoding="utf-8")
    loaded = load_config(config)
    assert loaded.practice_ods == "Y12345" and loaded.gp.auth.kind == "smart"
    assert loaded.gp.auth.private_key is not None and loaded.every_seconds == 900


def test_every_key_the_template_suggests_in_a_comment_is_a_known_key(tmp_path: Path) -> None:
    """The template's commented-out keys are what a practice uncomments: each must be one the
    schema knows, in the table the comment stands in."""
    text = write_initial_config(tmp_path).read_text(encoding="utf-8")
    table, checked = "", 0
    for line in text.splitlines():
        header = re.match(r"^#? ?\[\[?([\w.]+)\]\]?", line)
        if header:
            table = header.group(1)
            continue
        if not table:
            continue  # the heading's comments, before any table
        for key in re.findall(r"(?:^# |  )(\w+) = ", line):
            model = model_at(DAEMON_SCHEMA.tables[table.split(".")[0]], table.split(".")[1:])
            known = keys_of(model) if model else []
            if table.endswith("auth") or key.endswith("_file"):
                known += keys_of(AuthTable)
            assert key in known, f"[{table}] {key}"
            checked += 1
    assert checked >= 15


def _toml_blocks() -> list[tuple[str, str]]:
    """Every ```toml block in the README and docs, with where it is."""
    blocks = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for i, block in enumerate(re.findall(r"```toml\n(.*?)```", text, re.S)):
            blocks.append((f"{doc.name}#{i + 1}", block))
    return blocks


@pytest.mark.parametrize(("where", "block"), _toml_blocks())
def test_every_configuration_in_the_docs_parses(tmp_path: Path, where: str, block: str) -> None:
    """A block is checked as the file it belongs to; an agreement table shown alone (e.g.
    [secure_aggregation]) is checked inside a minimal agreement."""
    data = tomllib.loads(block)
    if "hub" in data:
        assert parse_hub_config(data, where).name
    elif set(data) <= set(AGREEMENT_SCHEMA.tables):
        assert parse_agreement(tomllib.loads(_agreement(tmp_path)) | data, where).id
    else:
        pytest.fail(f"{where}: a configuration block of no known kind: {sorted(data)}")


def test_the_docs_hold_an_agreement_and_a_hub_config() -> None:
    kinds = {"hub" in tomllib.loads(block) for _where, block in _toml_blocks()}
    assert kinds == {True, False}


# -- the commands show the problems, without a traceback ------------------------------------------
def test_check_lists_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ltcbridge.toml"
    path.write_text(_changed(DAEMON, 'every = "15m"', 'evry = "5m"\n[logs]'), encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 1
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())  # the console wraps long lines
    assert "2 problem(s)" in text and "Traceback" not in text
    assert "[schedule] evry: unknown key (did you mean 'every'?)" in text
    assert "[logs]: unknown table (did you mean [log]?)" in text
    assert "Ready to run." not in text


def test_hub_report_names_the_configs_problems_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(_changed(HUB, "secondary = false", 'secondary = "false"'), encoding="utf-8")
    out = tmp_path / "report"
    args = ["hub", "report", "--store", str(tmp_path / "hub.db"), "--config", str(config)]
    assert main([*args, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    assert "[disclosure] secondary: must be true or false, without quotes" in text
    assert "Traceback" not in text and not out.exists()


@pytest.mark.parametrize(
    ("load", "text"),
    [(load_config, "[gp\n"), (load_hub_config, "[hub\n"), (load_hub_config, b"\xff")],
)
def test_a_file_that_is_not_toml_is_named_not_a_traceback(
    tmp_path: Path, load: Callable[[Path], Any], text: str | bytes
) -> None:
    path = tmp_path / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(LtcbridgeError, match="not valid TOML"):
        load(path)
