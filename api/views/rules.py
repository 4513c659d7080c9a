"""Events, the program definition (draft, publication, versions), simulation and back-tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from api.auth import current_principal, requires
from api.schemas import (
    BacktestRequestSchema,
    BacktestSchema,
    DefinitionSchema,
    DraftSchema,
    EventRecordedSchema,
    EventSchema,
    PublishSchema,
    SimulateSchema,
    SimulationSchema,
    TierMovesSchema,
    VersionListSchema,
    VersionSchema,
)
from api.views import IDEMPOTENCY_KEY_PARAMETER, context, created, request_key
from loyalty.domain.access import Scope
from loyalty.domain.basket import Basket, Event
from loyalty.services import events, programs, simulation

blp = Blueprint("rules", __name__, url_prefix="/v1/programs/<program>",
                description="Events, the program definition and its versions, simulation and "
                            "back-tests.")


@blp.route("/events")
class Events(MethodView):
    @requires(Scope.CHECKOUT)
    @blp.arguments(EventSchema)
    @blp.response(201, EventRecordedSchema)
    @blp.alt_response(200, schema=EventRecordedSchema, description="Replay of an earlier event")
    @blp.doc(parameters=[IDEMPOTENCY_KEY_PARAMETER])
    def post(self, data: dict[str, Any], program: str) -> Any:
        """Record an event

        Something the member did (``signup``, ``review``, ``survey_answered``, any custom type)
        that the program's event rules may reward. ``external_id`` (unique per program) makes
        it idempotent.
        """
        command = events.RecordEvent(program_id=program, request_key=request_key(), **data)
        return created(events.record_event(context(), command))


@blp.route("/simulate")
class Simulate(MethodView):
    @requires(Scope.MARKETER)
    @blp.arguments(SimulateSchema)
    @blp.response(200, SimulationSchema)
    def post(self, data: dict[str, Any], program: str) -> Any:
        """Simulate a purchase or an event

        Evaluates a hypothetical purchase or event, for an existing member (``member``) or a
        hypothetical one (``hypothetical_member``), under the version in force at ``at``, the
        draft, or any version; writes nothing and explains every rule.
        """
        at = data["at"] or datetime.now(UTC)
        basket = event = None
        if data.get("purchase") is not None:
            basket = _basket(data["purchase"], at)
        if data.get("event") is not None:
            event = Event(data["event"]["type"], at, dict(data["event"]["properties"]))
        hypothetical = None
        if data.get("hypothetical_member") is not None:
            member = dict(data["hypothetical_member"])
            member["spend_last_days"] = {int(days): amount
                                         for days, amount in member["spend_last_days"].items()}
            hypothetical = simulation.HypotheticalMember(**member)
        return simulation.simulate(context(), simulation.Simulate(
            program_id=program, at=at, basket=basket, event=event, member=data.get("member"),
            hypothetical=hypothetical, version=data["version"]))


def _basket(purchase: dict[str, Any], at: datetime) -> Basket:
    from api.schemas import PurchaseSchema

    try:
        loaded = _load_purchase(PurchaseSchema(), purchase, at)
    except ma.ValidationError as error:
        # the same checks as a real purchase, reported under the simulated purchase's fields
        abort(422, errors={"purchase": {k: v for k, v in error.messages.items()
                                        if k not in ("member", "external_id", "occurred_at")}})
    return Basket(currency=loaded["currency"], occurred_at=at, lines=loaded["lines"],
                  shipping=loaded["shipping"], channel=loaded["channel"], store=loaded["store"],
                  promo_codes=loaded["promo_codes"])


def _load_purchase(schema: Any, purchase: dict[str, Any], at: datetime) -> dict[str, Any]:
    return schema.load({
        "member": {"id": "simulated"}, "external_id": "simulated", "occurred_at": at.isoformat(),
        "currency": purchase["currency"], "channel": purchase["channel"],
        "store": purchase["store"], "shipping": purchase["shipping"],
        "promo_codes": purchase["promo_codes"],
        "lines": [{key: value for key, value in line.items() if value is not None}
                  for line in purchase["lines"]],
    })


@blp.route("/definition")
class Definition(MethodView):
    @requires(Scope.MARKETER)
    @blp.response(200, VersionSchema)
    def get(self, program: str) -> Any:
        """Read the definition in force

        The published version in force now: settings and earn rules.
        """
        return programs.get_version(context(), program)


@blp.route("/definition/draft")
class Draft(MethodView):
    @requires(Scope.MARKETER)
    @blp.response(200, DraftSchema)
    def get(self, program: str) -> Any:
        """Read the draft

        The next version being edited, or (``saved: false``) the version in force to start from.
        """
        return programs.get_draft(context(), program)

    @requires(Scope.MARKETER)
    @blp.arguments(DefinitionSchema)
    @blp.response(200, DraftSchema)
    def put(self, document: dict[str, Any], program: str) -> Any:
        """Save the draft

        Validates the whole document: a mistake answers 422 ``invalid-definition`` listing every
        error with its path (``rules[3].conditions.all[1].value``), and keeps nothing.
        """
        return programs.save_draft(context(), program, document, current_principal().actor)


@blp.route("/definition/draft/tier-moves")
class TierMoves(MethodView):
    @requires(Scope.MARKETER)
    @blp.response(200, TierMovesSchema)
    def get(self, program: str) -> Any:
        """Preview the draft's tier ladder

        How many of today's members the draft's ladder would move up (at once, through
        ``loyalty jobs tiers`` after publishing) and down (at their next review), and how many
        would then be in each tier.
        """
        return programs.draft_tier_moves(context(), program)


@blp.route("/definition/publish")
class Publish(MethodView):
    @requires(Scope.MARKETER)
    @blp.arguments(PublishSchema)
    @blp.response(201, VersionSchema)
    def post(self, data: dict[str, Any], program: str) -> Any:
        """Publish the draft

        The draft becomes the next immutable version, in force from ``effective_from`` (default
        now). Purchases are evaluated against the version in force at their ``occurred_at``.
        """
        return programs.publish(context(), program, current_principal().actor,
                                data["effective_from"])


@blp.route("/versions")
class Versions(MethodView):
    @requires(Scope.MARKETER)
    @blp.response(200, VersionListSchema)
    def get(self, program: str) -> Any:
        """List the published versions"""
        return {"versions": programs.list_versions(context(), program)}


@blp.route("/versions/<int(signed=True):version>")
class VersionByNumber(MethodView):
    @requires(Scope.MARKETER)
    @blp.response(200, VersionSchema)
    def get(self, program: str, version: int) -> Any:
        """Read a published version"""
        return programs.get_version(context(), program, version)


@blp.route("/backtest")
class Backtest(MethodView):
    @requires(Scope.MARKETER)
    @blp.arguments(BacktestRequestSchema)
    @blp.response(200, BacktestSchema)
    def post(self, data: dict[str, Any], program: str) -> Any:
        """Back-test a draft

        Replays the purchases recorded in [since, until) under the draft (or a version) and
        compares the points with what was issued: in total, per rule, and members affected.
        Writes nothing.
        """
        return simulation.backtest(context(), program, data["since"], data["until"],
                                   data["version"])



