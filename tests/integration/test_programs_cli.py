"""`loyalty programs create --definition FILE`: the whole definition becomes version 1, and a
part the definition does not have is refused before anything is created. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from api.cli import main
from loyalty.domain.errors import ProgramNotFound
from loyalty.services.programs import get_version

DEFINITION = """
settings: {currency: EUR}
rules:
  - id: stamp
    name: A stamp per visit
    conditions: {fact: basket.total, op: gte, value: "2.00"}
    effect: {type: fixed, points: 10}
rewards:
  - id: free-coffee
    name: A free coffee
    cost: 120
    kind: free_product
    sku: COFFEE-1
segments:
  - id: regulars
    name: Regulars
    filter: {fact: member.days_since_last_purchase, op: lte, value: 30}
"""


def create(tmp_path, monkeypatch, settings, document: str):
    monkeypatch.setenv("LOYALTY_DATABASE_URL", settings.database_url)
    path = tmp_path / "definition.yaml"
    path.write_text(document)
    return CliRunner().invoke(main, [
        "programs", "create", "--id", "cafe", "--name", "Cafe", "--currency", "EUR",
        "--time-zone", "Europe/Paris", "--definition", str(path)])


def test_a_program_created_from_a_definition_keeps_every_part_of_it(
        tmp_path, monkeypatch, settings, ctx):
    result = create(tmp_path, monkeypatch, settings, DEFINITION)
    assert result.exit_code == 0, result.output
    document = get_version(ctx, "cafe", 1).document
    assert [reward["id"] for reward in document["rewards"]] == ["free-coffee"]
    assert [rule["id"] for rule in document["rules"]] == ["stamp"]
    assert [segment["id"] for segment in document["segments"]] == ["regulars"]
    assert document["settings"]["currency"] == "EUR"


def test_a_definition_with_a_part_it_does_not_have_is_refused_and_nothing_is_created(
        tmp_path, monkeypatch, settings, ctx):
    result = create(tmp_path, monkeypatch, settings, DEFINITION + "reward: {}\n")
    assert result.exit_code == 1
    assert "a definition has no reward (it has settings, rules, tiers, rewards, segments)" \
        in result.output
    with pytest.raises(ProgramNotFound):
        get_version(ctx, "cafe")
