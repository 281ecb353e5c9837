"""The secagg commands end to end on the fixture practices, files carried by folders."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import pytest
from rich.console import Console

from ltcbridge.agreement import load_agreement
from ltcbridge.cli import hub as cli_hub
from ltcbridge.cli import secagg as cli_secagg
from ltcbridge.disclosure.cells import round_count
from ltcbridge.errors import AgreementError
from ltcbridge.mapping import load_mappings
from ltcbridge.pipeline import build_feed
from ltcbridge.secagg.document import counts_of, layout_of
from sealing.helpers import DEMO_AGREEMENT, PERIOD, SYNTHETIC, write_pem

from .helpers import Aggregators, key_of, month

LEADER, HELPER = "QHM", "X9L1A"
PRACTICES = ("Y00011", "Y00012", "Y00013", "Y00021", "Y00022", "Y00023")


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="ltcbridge")
    cli_secagg.register(parser.add_subparsers())
    args = parser.parse_args(["secagg", *argv])
    return int(args.run(args))


@pytest.fixture
def output(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(cli_secagg, "out", Console(file=buffer, width=300))
    monkeypatch.setattr(cli_hub, "out", Console(file=buffer, width=300))
    return buffer


def agreement_file(tmp_path: Path) -> Path:
    """The demo agreement with ICB-level secure aggregation (two PCNs of three: too small)."""
    text = DEMO_AGREEMENT.read_text(encoding="utf-8")
    text += f'\n[secure_aggregation]\naggregators = ["{LEADER}", "{HELPER}"]\nareas = ["icb"]\n'
    path = tmp_path / "agreement.toml"
    path.write_text(text, encoding="utf-8")
    return path


def hub_config(tmp_path: Path) -> Path:
    rows = (SYNTHETIC / "mappings" / "pcn-membership.csv").read_text().splitlines()[1:]
    practices = "\n".join(f'{p} = "{pcn}"' for p, pcn in (r.split(",") for r in rows))
    path = tmp_path / "hub.toml"
    path.write_text(f'[hub]\nicb = "{LEADER}"\n\n[practices]\n{practices}\n', encoding="utf-8")
    return path


def test_contribute_receive_propose_aggregate_combine_figures(
    tmp_path: Path, output: io.StringIO
) -> None:
    agreement, config = str(agreement_file(tmp_path)), str(hub_config(tmp_path))
    pems = {
        org: write_pem(tmp_path / "public" / f"{org}.pem", key_of(org), private=False)
        for org in (*PRACTICES, LEADER, HELPER)
    }
    private = {
        org: write_pem(tmp_path / "private" / f"{org}.pem", key_of(org), private=True)
        for org in (*PRACTICES, LEADER, HELPER)
    }
    practice_keys = tmp_path / "practice-keys"
    for practice in PRACTICES:
        write_pem(practice_keys / f"{practice}.pem", key_of(practice), private=False)
        assert (
            run(
                "contribute",
                "--source", str(SYNTHETIC),
                "--mappings", str(SYNTHETIC / "mappings"),
                "--agreement", agreement,
                "--period", PERIOD,
                "--sender", practice,
                "--key", str(private[practice]),
                "--leader-key", str(pems[LEADER]),
                "--helper-key", str(pems[HELPER]),
                "--out", str(tmp_path / "outbox"),
                "--receipts", str(tmp_path / f"{practice}-receipts.sqlite"),
            )
            == 0
        )  # fmt: skip
    stores = {org: str(tmp_path / org / "shares.sqlite") for org in (LEADER, HELPER)}
    for org in (LEADER, HELPER):
        assert (
            run(
                "receive", "--from", "folder", "--dir", str(tmp_path / "outbox" / org),
                "--keys", str(practice_keys), "--key", str(private[org]), "--me", org,
                "--store", stores[org],
            )
            == 0
        )  # fmt: skip
    proposals = str(tmp_path / "proposals.json")
    assert run("propose", "--store", stores[LEADER], "--agreement", agreement,
               "--hub-config", config, "--period", PERIOD, "--out", proposals) == 0  # fmt: skip
    assert (
        run(
            "aggregate", "--store", stores[HELPER], "--agreement", agreement,
            "--proposals", proposals, "--key", str(private[HELPER]),
            "--leader-key", str(pems[LEADER]), "--out", str(tmp_path / "to-leader"),
            "--receipts", str(tmp_path / "helper-receipts.sqlite"),
        )
        == 0
    )  # fmt: skip
    helper_keys = tmp_path / "helper-keys"
    write_pem(helper_keys / f"{HELPER}.pem", key_of(HELPER), private=False)
    assert run("receive", "--from", "folder", "--dir", str(tmp_path / "to-leader"),
               "--keys", str(helper_keys), "--key", str(private[LEADER]), "--me", LEADER,
               "--store", stores[LEADER]) == 0  # fmt: skip
    assert run("combine", "--store", stores[LEADER], "--agreement", agreement,
               "--hub-config", config, "--proposals", proposals,
               "--history", str(tmp_path / "area-history.sqlite")) == 0  # fmt: skip
    figures_csv = tmp_path / "figures.csv"
    assert run("figures", "--store", stores[LEADER], "--csv", str(figures_csv)) == 0
    rows = list(csv.DictReader(figures_csv.open(encoding="utf-8")))
    # the ICB figures are the fixture practices' true sums, protected
    build = build_feed(
        SYNTHETIC, load_mappings([SYNTHETIC / "mappings"]), load_agreement(agreement), PERIOD
    )
    truth: dict[tuple[str, str, str, str], int] = {}
    for cube in build.cubes:
        summed = sum(counts_of(cube, p) for p in PRACTICES)
        for (group, name, stratum), value in zip(layout_of(cube), summed, strict=True):
            truth[(cube.measure, group, name or "", stratum or "")] = int(value)
    assert len(rows) == len(truth) and {r["area"] for r in rows} == {LEADER}
    shown = 0
    for row in rows:
        exact = truth[(row["measure"], row["group"], row["stratifier"], row["stratum"])]
        if row["value"]:
            shown += 1
            assert int(row["value"]) == round_count(exact, 5)
        else:
            assert row["status"] == "masked"  # never why: that tells a reader where to look
    assert shown > 0
    assert "area figure(s) kept" in output.getvalue()


def test_every_command_needs_the_agreement_section(tmp_path: Path) -> None:
    with pytest.raises(AgreementError, match=r"no \[secure_aggregation\] section"):
        cli_secagg.load_section(str(DEMO_AGREEMENT))


def test_a_batch_below_min_practices_is_reported_with_exit_status_3(
    tmp_path: Path, output: io.StringIO
) -> None:
    data = month(12, 7)
    first = sorted(data.pcns)[0]
    pair = Aggregators(tmp_path)
    pair.contribute(data, data.pcns[first][:4])  # four of its five practices
    pair.close()
    text = agreement_file(tmp_path).read_text().replace('areas = ["icb"]', 'areas = ["pcn"]')
    agreement = tmp_path / "pcn.toml"
    agreement.write_text(text)
    practices = "\n".join(f'{p} = "{pcn}"' for p, pcn in data.pcn_of.items())
    config = tmp_path / "hub-pcn.toml"
    config.write_text(f'[hub]\nicb = "{data.icb}"\n\n[practices]\n{practices}\n')
    status = run("propose", "--store", str(pair.leader.path), "--agreement", str(agreement),
                 "--hub-config", str(config), "--period", data.cube.month,
                 "--out", str(tmp_path / "p.json"))  # fmt: skip
    assert status == 3
    text = output.getvalue()
    assert "0 batch(es) proposed" in text
    assert f"{first} {data.cube.month}: only 4 practice(s)" in text
    assert "fewer than min_practices = 5" in text
