"""``loyalty report``: the figures as a table in the terminal, as JSON, and as a standalone HTML
page with charts, on the hand-built January of ``test_analytics``."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ElementTree

import pytest
from click.testing import CliRunner
from freezegun import freeze_time

from api.cli import main
from loyalty.services.programs import CreateProgram, create_program, publish, save_draft
from loyalty.services.rewards import Redeem, redeem
from tests.builders import a_member, earn
from tests.integration.test_analytics import AS_OF, january

JANUARY = ["report", "--program", "shop", "--from", "2026-01-01", "--to", "2026-01-31"]
SVG = "{http://www.w3.org/2000/svg}svg"
HOSTILE = "<script>alert('owned')</script> & \"Co\""
HOSTILE_REWARD = "<img src=x onerror=alert(1)>"


@pytest.fixture
def runner(settings, monkeypatch):
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    return CliRunner()


def run(runner: CliRunner, *arguments: str):
    with freeze_time(AS_OF):
        return runner.invoke(main, list(arguments))


def rows_of(output: str) -> dict[str, list[str]]:
    """Each table line, split on runs of two spaces or more, by its first cell."""
    return {
        cells[0]: cells[1:]
        for line in output.splitlines()
        if (cells := re.split(r"\s{2,}", line.strip())) and len(cells) > 1
    }


def test_the_terminal_table_shows_each_figure(ctx, runner):
    january(ctx)
    result = run(runner, *JANUARY)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "Shop (shop): 2026-01-01 to 2026-01-31 (31 days, Europe/Paris), compared with "
        "2025-12-01 to 2025-12-31"
    )
    rows = rows_of(result.output)
    assert rows["active members"] == ["3"]
    assert rows["retention rate"] == ["50.00 %"]
    assert rows["revenue (net of returns)"] == ["340.00"]
    assert rows["lifetime value, predicted"] == ["226.67"]
    assert rows["NPS"] == ["40.0"]
    assert rows["breakage rate"] == ["38.46 %"]
    assert rows["liability now"] == ["1.16"]
    assert rows["2026-01-01"] == ["1", "0", "1", "60.00", "80", "0"]  # day by day
    assert rows["2026-01-02"] == ["0", "0", "0", "0.00", "0", "30"]
    assert rows["Member"] == ["5"]
    assert rows["member -> silver"] == ["up", "2"]
    assert rows["Coffee (coffee)"] == ["2", "60"]


def test_a_breakdown_adds_a_column_per_group(ctx, runner):
    january(ctx)
    result = run(runner, *JANUARY, "--by", "channel", "--interval", "week")
    assert result.exit_code == 0, result.output
    rows = rows_of(result.output)
    assert rows["figure"] == ["total", "app", "pos", "web"]
    assert rows["purchases"] == ["4", "0", "2", "2"]
    assert rows["members"] == ["7", "n/a", "n/a", "n/a"]
    assert rows["2026-01-05 to 2026-01-11"] == ["2", "1", "2", "250.00", "250", "130"]


def test_json_gives_the_apis_document(ctx, runner):
    january(ctx)
    result = run(runner, *JANUARY, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["from"], document["totals"]["revenue"], document["totals"]["nps"]) == (
        "2026-01-01",
        "340.00",
        "40.0",
    )
    assert document["as_of"].startswith("2026-02-01T12:00:00")


def test_a_bad_request_is_an_error_naming_what_is_wrong(ctx, runner):
    january(ctx)
    backwards = run(
        runner, "report", "--program", "shop", "--from", "2026-02-01", "--to", "2026-01-01"
    )
    assert backwards.exit_code == 1
    assert "to is on or after from" in backwards.output
    missing = run(
        runner, "report", "--program", "nowhere", "--from", "2026-01-01", "--to", "2026-01-31"
    )
    assert missing.exit_code == 1
    assert "there is no program 'nowhere'" in missing.output


def test_the_html_page_stands_alone_with_its_charts(ctx, runner, tmp_path):
    january(ctx)
    page = tmp_path / "report.html"
    result = run(runner, *JANUARY, "--interval", "week", "--html", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    root = ElementTree.fromstring(html.split("\n", 1)[1])  # well-formed, past the doctype
    charts = list(root.iter(SVG))
    assert [chart.find("{http://www.w3.org/2000/svg}title").text for chart in charts] == [
        "Active members and purchases",
        "Revenue",
        "Points issued and redeemed",
        "Members per tier now",
        "Most redeemed rewards",
    ]
    trend_line = charts[0].findall("{http://www.w3.org/2000/svg}polyline")
    assert len(trend_line) == 3  # active members, purchases, new members
    assert len(trend_line[0].get("points").split()) == 5  # a point per week
    assert len(charts[1].findall("{http://www.w3.org/2000/svg}rect[@class='bar']")) == 5
    # nothing is fetched from elsewhere
    assert not re.search(r"<script|<link|<img|@import|url\(|src=", html)
    assert set(re.findall(r"https?://[^\"' ]+", html)) == {
        "http://www.w3.org/1999/xhtml",
        "http://www.w3.org/2000/svg",
    }
    text = "".join(root.itertext())
    assert "340.00" in text and "Coffee" in text


def test_the_html_page_escapes_names_from_the_data(ctx, runner, tmp_path):
    with freeze_time("2025-01-01 00:00:00"):
        create_program(ctx, CreateProgram("evil", HOSTILE, "EUR", "Europe/Paris", settings={}))
        save_draft(
            ctx,
            "evil",
            {
                "settings": {},
                "rules": [],
                "rewards": [
                    {"id": "gift", "name": HOSTILE_REWARD, "cost": 10, "kind": "external_code"}
                ],
            },
            "cli:t",
        )
        publish(ctx, "evil", "cli:t")
    with freeze_time("2026-01-10 10:00:00"):
        member = a_member(ctx, program_id="evil")
        earn(ctx, member, 50, program_id="evil", channel="<b>till</b>")
        redeem(ctx, Redeem("evil", member.id, "gift", "G-1"))
    page = tmp_path / "evil.html"
    result = run(
        runner,
        "report",
        "--program",
        "evil",
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--by",
        "channel",
        "--html",
        str(page),
    )
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert HOSTILE not in html and HOSTILE_REWARD not in html and "<b>till</b>" not in html
    assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt; &amp; &quot;Co&quot;" in html
    root = ElementTree.fromstring(html.split("\n", 1)[1])
    assert (
        root.find("{http://www.w3.org/1999/xhtml}head/{http://www.w3.org/1999/xhtml}title").text
        == f"Loyalty report: {HOSTILE}"
    )
    text = "".join(root.itertext())
    assert HOSTILE_REWARD in text and "<b>till</b>" in text  # shown as text, never as markup
    assert not re.search(r"<script|<img|<b>", html)
