"""Marshmallow schemas: the API's explicit contract. Unknown fields are rejected (422).

Money crosses the API as decimal strings (``"12.34"``) in the purchase's currency and becomes
integer minor units here; a float is refused. Points are integers.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import InvalidAmount, InvalidIdentity
from loyalty.domain.members import Identity
from loyalty.domain.money import MAX_MINOR_UNITS, Money, validate_currency
from loyalty.services.members import MemberRef
from loyalty.services.points import BalanceView
from loyalty.services.purchases import DeclaredTotals, PurchaseRecorded

DECIMAL_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,4})?$"


_EARLIEST, _LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


class Schema(ma.Schema):
    class Meta:
        unknown = ma.RAISE
        ordered = True


class Text(fields.String):
    """A string without control characters (a NUL cannot be stored, the others are never
    meant); tabs and line breaks are allowed in free text only."""

    def __init__(self, *, free_text: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed = "\t\n\r" if free_text else ""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if any(unicodedata.category(c) == "Cc" and c not in self.allowed for c in text):
            raise ma.ValidationError("control characters are not allowed")
        return text


class Instant(fields.AwareDateTime):
    """An ISO 8601 instant with an offset, between 1970 and 2200."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        instant = super()._deserialize(value, attr, data, **kwargs)
        try:
            in_utc = instant.astimezone(UTC)
        except OverflowError:
            in_utc = None
        if in_utc is None or not _EARLIEST <= in_utc < _LATEST:
            raise ma.ValidationError("an instant between 1970 and 2200")
        return in_utc


class Amount(Text):
    """A money amount as a decimal string in the purchase's currency, e.g. ``"12.34"``."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {
            "example": "12.34",
            "pattern": DECIMAL_PATTERN,
            "description": "decimal string in the purchase currency",
        }
        metadata.update(kwargs.pop("metadata", {}))
        super().__init__(
            validate=validate.Regexp(DECIMAL_PATTERN, error='not a decimal amount such as "12.34"'),
            metadata=metadata,
            **kwargs,
        )


class Slug(Text):
    def __init__(self, max_length: int = 64, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(1, max_length), **kwargs)


# -- members ------------------------------------------------------------------------------


class IdentitySchema(Schema):
    kind = Text(
        required=True, validate=validate.OneOf(["customer_id", "card", "email", "phone"])
    )
    value = Text(required=True, validate=validate.Length(1, 254))


def attribute_error(value: Any) -> str | None:
    """Why ``value`` cannot be a profile attribute, or ``None`` if it can."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -(2**63) <= value < 2**63 else "an integer attribute fits in 64 bits"
    if isinstance(value, str):
        if len(value) > 1000:
            return "a text attribute has at most 1000 characters"
        if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in value):
            return "control characters are not allowed"
        return None
    return "an attribute is a string, an integer, a boolean or null (never a float)"


def profile_attribute_error(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the profile attribute ``key``: a scalar (``attribute_error``),
    or for ``consent`` an object of purposes and true/false (``{"email": true}``), which
    segments and rules read as ``member.consent.<purpose>``."""
    if key != "consent" or not isinstance(value, dict):
        return attribute_error(value)
    if len(value) > 50:
        return "consent holds at most 50 purposes"
    for purpose, given in value.items():
        if not 1 <= len(purpose) <= 64 or any(unicodedata.category(c) == "Cc" for c in purpose):
            return "a consent purpose has 1 to 64 characters, none of them a control character"
        if not isinstance(given, bool):
            return 'consent is an object of purposes and true/false, e.g. {"email": true}'
    return None


class EnrollSchema(Schema):
    identities = fields.List(
        fields.Nested(IdentitySchema), required=True, validate=validate.Length(1, 10)
    )
    attributes = fields.Dict(
        keys=Text(validate=validate.Length(1, 64)),
        values=fields.Raw(allow_none=True),
        load_default=dict,
        validate=validate.Length(max=50),
    )
    referral_code = Text(validate=validate.Length(1, 32), metadata={
        "example": "K7QD-3MXR", "description": "the referral code of the member who referred "
                                               "this one (case, spaces and dashes do not matter)"})

    @ma.validates("attributes")
    def scalar_attributes(self, attributes: dict[str, Any], **_: Any) -> None:
        errors = {
            key: [why] for key, value in attributes.items()
            if (why := profile_attribute_error(key, value)) is not None
        }
        if errors:
            raise ma.ValidationError(errors)

    @ma.post_load
    def parse_identities(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        parsed, errors = [], {}
        for index, identity in enumerate(data["identities"]):
            try:
                parsed.append(Identity.of(identity["kind"], identity["value"]))
            except InvalidIdentity as error:
                errors[index] = {error.field or "value": [error.detail]}
        if errors:
            raise ma.ValidationError({"identities": errors})
        return {**data, "identities": tuple(parsed)}


class IdentityOutSchema(Schema):
    kind = fields.Function(lambda identity: identity.kind.value)
    value = fields.String()


class MemberSchema(Schema):
    id = fields.String()
    program_id = fields.String()
    status = fields.Function(lambda member: member.status.value)
    enrolled_at = fields.AwareDateTime()
    identities = fields.List(fields.Nested(IdentityOutSchema))
    attributes = fields.Dict()


class IdentityQuerySchema(Schema):
    identity = Text(
        required=True,
        validate=validate.Length(3, 300),
        metadata={"example": "card:1234", "description": "kind:value"},
    )


# -- purchases ----------------------------------------------------------------------------


class MemberRefSchema(Schema):
    id = Text(validate=validate.Length(1, 40))
    identity = Text(validate=validate.Length(3, 300), metadata={"example": "card:1234"})

    @ma.validates_schema
    def one_of(self, data: dict[str, Any], **_: Any) -> None:
        if ("id" in data) == ("identity" in data):
            raise ma.ValidationError("give the member's id or one identity (kind:value)", "_schema")

    @ma.post_load
    def to_ref(self, data: dict[str, Any], **_: Any) -> MemberRef:
        if "id" in data:
            return MemberRef(member_id=data["id"])
        try:
            return MemberRef(identity=Identity.parse(data["identity"]))
        except InvalidIdentity as error:
            raise ma.ValidationError({"identity": [error.detail]}) from None


class PurchaseLineSchema(Schema):
    sku = Slug(required=True)
    category = Text(validate=validate.Length(1, 64), load_default=None)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 100_000))
    unit_price = Amount(required=True)
    discount = Amount(load_default="0")
    tax = Amount(load_default="0")
    tags = fields.List(
        Text(validate=validate.Length(1, 64)),
        load_default=list,
        validate=validate.Length(max=20),
    )


class TotalsSchema(Schema):
    total = Amount()
    tax = Amount()
    discount = Amount()


class PaymentsSchema(Schema):
    gift_cards = Amount(metadata={"description": "the part of the total paid with gift cards"})


class PurchaseSchema(Schema):
    member = fields.Nested(MemberRefSchema, required=True)
    external_id = Text(
        required=True,
        validate=validate.Length(1, 128),
        metadata={"description": "the checkout's own id of the sale"},
    )
    source = Text(
        load_default="default",
        validate=validate.Length(1, 64),
        metadata={"description": "the system that numbers external_id"},
    )
    occurred_at = Instant(required=True)
    channel = Text(
        load_default="pos",
        validate=validate.Regexp(r"^[a-z][a-z0-9_-]{0,31}$"),
        metadata={"example": "pos"},
    )
    store = Text(load_default=None, validate=validate.Length(1, 64))
    currency = Text(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    lines = fields.List(
        fields.Nested(PurchaseLineSchema), required=True, validate=validate.Length(1, 500)
    )
    shipping = Amount(load_default="0")
    totals = fields.Nested(TotalsSchema, load_default=dict)
    promo_codes = fields.List(
        Text(validate=validate.Length(1, 64)),
        load_default=list,
        validate=validate.Length(max=20),
    )
    payments = fields.Nested(PaymentsSchema, load_default=dict)
    points_to_burn = fields.Integer(strict=True, load_default=0,
                                    validate=validate.Range(0, 10**12), metadata={
        "description": "points the member pays part of the basket with, at the till"})

    @ma.post_load
    def to_minor_units(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Turn every amount into minor units of ``currency``, naming the field on error."""
        errors: dict[str, Any] = {}
        currency = data["currency"]
        try:
            validate_currency(currency)
        except ValueError as error:
            raise ma.ValidationError({"currency": [str(error)]}) from None

        def minor(text: str, path: tuple[Any, ...]) -> int:
            try:
                amount = Money.parse(text, currency).minor
                if amount < 0:
                    raise InvalidAmount("must not be negative")
                return amount
            except InvalidAmount as error:
                node = errors
                for part in path[:-1]:
                    node = node.setdefault(part, {})
                node[path[-1]] = [error.detail]
                return 0

        lines = tuple(
            PurchaseLine(
                sku=line["sku"],
                category=line["category"],
                quantity=line["quantity"],
                unit_price=minor(line["unit_price"], ("lines", i, "unit_price")),
                discount=minor(line["discount"], ("lines", i, "discount")),
                tax=minor(line["tax"], ("lines", i, "tax")),
                tags=tuple(line["tags"]),
            )
            for i, line in enumerate(data["lines"])
        )
        totals = DeclaredTotals(
            **{name: minor(value, ("totals", name)) for name, value in data["totals"].items()}
        )
        shipping = minor(data["shipping"], ("shipping",))
        gift_cards = minor(data["payments"].get("gift_cards", "0"), ("payments", "gift_cards"))
        for index, line in enumerate(lines):
            if line.quantity * line.unit_price > MAX_MINOR_UNITS:
                errors.setdefault("lines", {}).setdefault(index, {})["unit_price"] = [
                    "quantity x unit_price is larger than any amount this engine takes"]
        if not errors and sum(line.amount for line in lines) + shipping > MAX_MINOR_UNITS:
            errors["lines"] = ["the basket is larger than any amount this engine takes"]
        if errors:
            raise ma.ValidationError(errors)
        data = {key: value for key, value in data.items() if key != "payments"}
        return {
            **data,
            "lines": lines,
            "totals": totals,
            "shipping": shipping,
            "promo_codes": tuple(data["promo_codes"]),
            "paid_with_gift_cards": gift_cards,
        }


class ExplanationSchema(Schema):
    """One rule of the program, and what it did: the ``why`` behind every point."""

    rule = fields.String()
    name = fields.String()
    applied = fields.Boolean()
    points = fields.Integer()
    text = fields.String()
    base = fields.String(metadata={"description": "the amount or points the rule worked on"})
    rate = fields.String()
    cut = fields.String(metadata={"description": "the limits that cut the rule's points"})


class BalanceSnapshotSchema(Schema):
    available = fields.Integer()
    pending = fields.Integer()


class PurchaseRecordedSchema(Schema):
    purchase_id = fields.String()
    member_id = fields.String()
    external_id = fields.String()
    source = fields.String()
    occurred_at = fields.AwareDateTime()
    currency = fields.String()
    total = fields.String(metadata={"example": "49.90"})
    earn_base = fields.String(metadata={"example": "41.58"})
    points_earned = fields.Integer()
    points_available = fields.Integer(metadata={"description": "of points_earned, usable now"})
    points_pending = fields.Integer(metadata={"description": "of points_earned, pending"})
    available_at = fields.AwareDateTime(allow_none=True)
    expires_at = fields.AwareDateTime(allow_none=True)
    program_version = fields.Integer(allow_none=True)
    explanation = fields.List(fields.Nested(ExplanationSchema))
    balance = fields.Nested(BalanceSnapshotSchema)
    tier = fields.String(allow_none=True)
    upgraded_from = fields.String(allow_none=True)
    points_burned = fields.Integer()
    burn_value = fields.String(allow_none=True, metadata={
        "description": "what the burned points took off the basket"})


_EXPLANATION_FIELDS = tuple(ExplanationSchema().fields)


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def dump_purchase_recorded(recorded: PurchaseRecorded) -> dict[str, Any]:
    """``PurchaseRecordedSchema().dump(recorded)``, written out for the answer of every posted
    purchase (marshmallow's dump takes ten times as long). The values already have the
    schema's types (an explanation entry is JSON, from the rules engine or a stored answer), so
    only the datetimes are formatted, and of each explanation entry only the schema's fields
    are kept, in its order. ``tests/unit/test_purchase_recorded_dump.py`` holds it to the
    schema."""
    return {
        "purchase_id": recorded.purchase_id,
        "member_id": recorded.member_id,
        "external_id": recorded.external_id,
        "source": recorded.source,
        "occurred_at": _instant(recorded.occurred_at),
        "currency": recorded.currency,
        "total": recorded.total,
        "earn_base": recorded.earn_base,
        "points_earned": recorded.points_earned,
        "points_available": recorded.points_available,
        "points_pending": recorded.points_pending,
        "available_at": _instant(recorded.available_at),
        "expires_at": _instant(recorded.expires_at),
        "program_version": recorded.program_version,
        "explanation": [
            {name: rule[name] for name in _EXPLANATION_FIELDS if name in rule}
            for rule in recorded.explanation
        ],
        "balance": {
            "available": recorded.balance.available,
            "pending": recorded.balance.pending,
        },
        "tier": recorded.tier,
        "upgraded_from": recorded.upgraded_from,
        "points_burned": recorded.points_burned,
        "burn_value": recorded.burn_value,
    }


# -- points -------------------------------------------------------------------------------


class DebitSchema(Schema):
    points = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**12))
    external_id = Text(
        required=True,
        validate=validate.Length(1, 128),
        metadata={"description": "the caller's own id of this debit"},
    )
    reason = Text(free_text=True, load_default="points debit", validate=validate.Length(1, 500))


class LotTakenSchema(Schema):
    points = fields.Integer()
    expires_at = fields.AwareDateTime(allow_none=True)


class PointsDebitedSchema(Schema):
    entry_id = fields.Integer()
    member_id = fields.String()
    external_id = fields.String()
    points = fields.Integer()
    taken_from = fields.List(fields.Nested(LotTakenSchema))
    available = fields.Integer()
    pending = fields.Integer()


class ExpiringPointsSchema(Schema):
    points = fields.Integer()
    expires_at = fields.AwareDateTime()
    last_usable_day = fields.Date()


class PendingPointsSchema(Schema):
    points = fields.Integer()
    available_at = fields.AwareDateTime(allow_none=True)


class TierProgressSchema(Schema):
    tier = fields.String()
    tier_name = fields.String()
    measure_kind = fields.String(metadata={"description": "spend, points or purchases"})
    measure = fields.String(metadata={"description": "the measure over the current window"})
    next_tier = fields.String(allow_none=True)
    next_tier_name = fields.String(allow_none=True)
    needed = fields.String(allow_none=True, metadata={"description": "still needed for it"})
    requalify_by = fields.AwareDateTime(allow_none=True, metadata={
        "description": "when the current qualification period ends"})
    would_fall_to = fields.String(allow_none=True, metadata={
        "description": "the tier the review would leave, measured as of now"})
    floor_until = fields.AwareDateTime(allow_none=True)


class BalanceSchema(Schema):
    member_id = fields.String()
    status = fields.String()
    available = fields.Integer()
    pending = fields.Integer()
    lifetime_earned = fields.Integer()
    lifetime_redeemed = fields.Integer()
    lifetime_expired = fields.Integer()
    next_expiries = fields.List(fields.Nested(ExpiringPointsSchema))
    pending_releases = fields.List(fields.Nested(PendingPointsSchema))
    as_of = fields.AwareDateTime()
    tier = fields.Nested(TierProgressSchema, allow_none=True)


def dump_balance(view: BalanceView) -> dict[str, Any]:
    """``BalanceSchema().dump(view)``, written out for the most frequent read of the API
    (marshmallow's dump took a fifth of the request). ``tests/unit/test_balance_dump.py``
    holds it to the schema."""
    tier = view.tier
    return {
        "member_id": view.member_id,
        "status": view.status,
        "available": view.available,
        "pending": view.pending,
        "lifetime_earned": view.lifetime_earned,
        "lifetime_redeemed": view.lifetime_redeemed,
        "lifetime_expired": view.lifetime_expired,
        "next_expiries": [
            {"points": e.points, "expires_at": e.expires_at.isoformat(),
             "last_usable_day": e.last_usable_day.isoformat()}
            for e in view.next_expiries
        ],
        "pending_releases": [
            {"points": p.points, "available_at": _instant(p.available_at)}
            for p in view.pending_releases
        ],
        "as_of": view.as_of.isoformat(),
        "tier": None if tier is None else {
            "tier": tier.tier,
            "tier_name": tier.tier_name,
            "measure_kind": tier.measure_kind,
            "measure": tier.measure,
            "next_tier": tier.next_tier,
            "next_tier_name": tier.next_tier_name,
            "needed": tier.needed,
            "requalify_by": _instant(tier.requalify_by),
            "would_fall_to": tier.would_fall_to,
            "floor_until": _instant(tier.floor_until),
        },
    }


class LedgerQuerySchema(Schema):
    limit = fields.Integer(validate=validate.Range(min=1))
    cursor = Text(validate=validate.Length(1, 100))


class EntrySchema(Schema):
    id = fields.Integer()
    kind = fields.Function(lambda entry: entry.kind.value)
    points = fields.Integer()
    available_delta = fields.Integer()
    pending_delta = fields.Integer()
    occurred_at = fields.AwareDateTime()
    recorded_at = fields.AwareDateTime()
    reason = fields.String()
    purchase_id = fields.String(allow_none=True)
    external_ref = fields.String(allow_none=True)
    rule_id = fields.String(allow_none=True)
    rule_version = fields.Integer(allow_none=True, metadata={"description": "program version"})
    rules = fields.List(fields.String(), allow_none=True)
    event_id = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    explanation = fields.List(fields.Nested(ExplanationSchema), allow_none=True)


class LedgerPageSchema(Schema):
    entries = fields.List(fields.Nested(EntrySchema))
    next_cursor = fields.String(allow_none=True)


class ProgramSchema(Schema):
    id = fields.String()
    name = fields.String()
    currency = fields.String()
    time_zone = fields.String()
    settings = fields.Function(lambda program: program.settings.model_dump(mode="json"))


# -- access: keys, member tokens, audit -----------------------------------------------------


class CreateKeySchema(Schema):
    name = Text(required=True, validate=validate.Length(1, 200))
    scopes = fields.List(
        Text(validate=validate.OneOf(
            ["checkout", "agent", "supervisor", "marketer", "admin"])),
        required=True, validate=validate.Length(1, 6),
    )
    program_id = Text(validate=validate.Length(1, 64), load_default=None)
    all_programs = fields.Boolean(load_default=False, metadata={
        "description": "true for a key of every program (program_id must then be absent)"})


class KeySchema(Schema):
    key_id = fields.String()
    name = fields.String()
    program_id = fields.String(allow_none=True)
    scopes = fields.List(fields.String())
    created_at = fields.AwareDateTime()
    revoked_at = fields.AwareDateTime(allow_none=True)
    last_used_at = fields.AwareDateTime(allow_none=True)


class KeyCreatedSchema(Schema):
    key = fields.Nested(KeySchema)
    secret = fields.String(metadata={"description": "the key itself: shown once, never again"})


class KeyListSchema(Schema):
    keys = fields.List(fields.Nested(KeySchema))


class MemberTokenSchema(Schema):
    token = fields.String()
    member_id = fields.String()
    expires_at = fields.AwareDateTime()


class AuditQuerySchema(Schema):
    program = Text(validate=validate.Length(1, 64))
    member = Text(validate=validate.Length(1, 40))
    actor = Text(validate=validate.Length(1, 128),
                          metadata={"example": "key:0123456789abcdef"})
    since = Instant()
    until = Instant()
    limit = fields.Integer(validate=validate.Range(min=1))
    cursor = Text(validate=validate.Length(1, 100))


class AuditRecordSchema(Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    program_id = fields.String(allow_none=True)
    actor = fields.String()
    acting_person = fields.String(allow_none=True)
    action = fields.String()
    target_type = fields.String()
    target_id = fields.String()
    member_id = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


class AuditPageSchema(Schema):
    records = fields.List(fields.Nested(AuditRecordSchema))
    next_cursor = fields.String(allow_none=True)


# -- events, rules, simulation ----------------------------------------------------------------


def _scalars(values: dict[str, Any]) -> None:
    errors = {key: [why] for key, value in values.items()
              if (why := attribute_error(value)) is not None}
    if errors:
        raise ma.ValidationError(errors)


class EventSchema(Schema):
    member = fields.Nested(MemberRefSchema, required=True)
    type = Text(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,63}$"),
                metadata={"example": "review"})
    external_id = Text(required=True, validate=validate.Length(1, 128))
    occurred_at = Instant(required=True)
    properties = fields.Dict(keys=Text(validate=validate.Length(1, 64)),
                             values=fields.Raw(allow_none=True), load_default=dict,
                             validate=validate.Length(max=50))

    @ma.validates("properties")
    def scalar_properties(self, properties: dict[str, Any], **_: Any) -> None:
        _scalars(properties)


class EventRecordedSchema(Schema):
    event_id = fields.String()
    member_id = fields.String()
    type = fields.String()
    external_id = fields.String()
    occurred_at = fields.AwareDateTime()
    points_earned = fields.Integer()
    expires_at = fields.AwareDateTime(allow_none=True)
    program_version = fields.Integer(allow_none=True)
    explanation = fields.List(fields.Nested(ExplanationSchema))
    balance = fields.Nested(BalanceSnapshotSchema)


class DryRunQuerySchema(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={
        "description": "evaluate and explain, write nothing (answers 200 with a simulation)"})


class SimulationSchema(Schema):
    version = fields.Integer(allow_none=True, metadata={"description": "null: the draft"})
    points = fields.Integer()
    earn_base = fields.String(allow_none=True)
    explanation = fields.List(fields.Nested(ExplanationSchema))


class HypotheticalMemberSchema(Schema):
    tier = Text(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    attributes = fields.Dict(keys=Text(validate=validate.Length(1, 64)),
                             values=fields.Raw(allow_none=True), load_default=dict)
    enrolled_at = Instant(load_default=None, allow_none=True)
    purchases = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 10**9))
    spend_last_days = fields.Dict(keys=Text(validate=validate.Regexp(r"^[0-9]{1,4}$")),
                                  values=Amount(), load_default=dict,
                                  metadata={"description": "days -> amount spent in them"})

    @ma.validates("attributes")
    def scalar_attributes(self, attributes: dict[str, Any], **_: Any) -> None:
        errors = {key: [why] for key, value in attributes.items()
                  if (why := profile_attribute_error(key, value)) is not None}
        if errors:
            raise ma.ValidationError(errors)


class SimulatedEventSchema(Schema):
    type = Text(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_.-]{0,63}$"))
    properties = fields.Dict(keys=Text(validate=validate.Length(1, 64)),
                             values=fields.Raw(allow_none=True), load_default=dict)

    @ma.validates("properties")
    def scalar_properties(self, properties: dict[str, Any], **_: Any) -> None:
        _scalars(properties)


class SimulatedPurchaseSchema(Schema):
    currency = Text(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"))
    lines = fields.List(fields.Nested(PurchaseLineSchema), required=True,
                        validate=validate.Length(1, 500))
    channel = Text(load_default="pos", validate=validate.Regexp(r"^[a-z][a-z0-9_-]{0,31}$"))
    store = Text(load_default=None, validate=validate.Length(1, 64))
    shipping = Amount(load_default="0")
    promo_codes = fields.List(Text(validate=validate.Length(1, 64)), load_default=list,
                              validate=validate.Length(max=20))


class SimulateSchema(Schema):
    purchase = fields.Nested(SimulatedPurchaseSchema)
    event = fields.Nested(SimulatedEventSchema)
    member = fields.Nested(MemberRefSchema)
    hypothetical_member = fields.Nested(HypotheticalMemberSchema)
    at = Instant(load_default=None, metadata={"description": "the purchase's instant; now"})
    version = fields.Raw(load_default="published", metadata={
        "description": "'published' (in force at `at`), 'draft', or a version number"})

    @ma.validates("version")
    def known_version(self, version: Any, **_: Any) -> None:
        if version not in ("published", "draft") and (
                isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise ma.ValidationError("'published', 'draft' or a version number")


class DefinitionSchema(Schema):
    """A program definition document; its content is checked by the definition language,
    which names every mistake with its path."""

    settings = fields.Dict(load_default=dict)
    rules = fields.List(fields.Dict(), load_default=list)
    tiers = fields.Dict(allow_none=True)
    rewards = fields.List(fields.Dict())
    segments = fields.List(fields.Dict(), metadata={
        "description": "named sets of members: {id, name, description, filter}"})


class DraftSchema(Schema):
    program_id = fields.String()
    saved = fields.Boolean(metadata={"description": "false: no draft yet; this is the "
                                                    "version in force, to start from"})
    based_on = fields.Integer(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)
    document = fields.Dict()


class PublishSchema(Schema):
    effective_from = Instant(load_default=None, allow_none=True, metadata={
        "description": "when the version takes effect (default: now; never in the past)"})


class VersionSchema(Schema):
    program_id = fields.String()
    version = fields.Integer()
    published_at = fields.AwareDateTime()
    effective_from = fields.AwareDateTime(allow_none=True)
    published_by = fields.String()
    document = fields.Dict()


class VersionSummarySchema(Schema):
    version = fields.Integer()
    published_at = fields.AwareDateTime()
    effective_from = fields.AwareDateTime(allow_none=True)
    published_by = fields.String()


class VersionListSchema(Schema):
    versions = fields.List(fields.Nested(VersionSummarySchema))


class BacktestRequestSchema(Schema):
    since = Instant(required=True)
    until = Instant(required=True)
    version = fields.Raw(load_default="draft", metadata={
        "description": "'draft' (default) or a version number"})

    @ma.validates("version")
    def known_version(self, version: Any, **_: Any) -> None:
        if version != "draft" and (isinstance(version, bool) or not isinstance(version, int)
                                   or version < 1):
            raise ma.ValidationError("'draft' or a version number")


class RuleTotalSchema(Schema):
    rule_id = fields.String()
    name = fields.String()
    points = fields.Integer()
    purchases = fields.Integer()


class BacktestSchema(Schema):
    program_id = fields.String()
    version = fields.Integer(allow_none=True)
    since = fields.AwareDateTime()
    until = fields.AwareDateTime()
    purchases = fields.Integer()
    members = fields.Integer()
    points_issued = fields.Integer()
    points_simulated = fields.Integer()
    difference = fields.Integer()
    members_affected = fields.Integer()
    rules = fields.List(fields.Nested(RuleTotalSchema))


# -- tiers ------------------------------------------------------------------------------------


class SetTierSchema(Schema):
    tier = Text(required=True, validate=validate.Length(1, 64))
    until = Instant(load_default=None, allow_none=True, metadata={
        "description": "the tier is a floor until then; none: until changed again"})
    reason = Text(required=True, free_text=True, validate=validate.Length(1, 500))


class TierChangeSchema(Schema):
    from_tier = fields.String(allow_none=True)
    to_tier = fields.String()
    at = fields.AwareDateTime()
    reason = fields.String(metadata={"description": "threshold, period_review, manual, return, "
                                                    "ladder_change"})
    detail = fields.String(allow_none=True)


class TierViewSchema(Schema):
    member_id = fields.String()
    tier = fields.Nested(TierProgressSchema, allow_none=True)
    history = fields.List(fields.Nested(TierChangeSchema))


class TierMovesSchema(Schema):
    members = fields.Integer()
    up = fields.Integer()
    down = fields.Integer()
    unchanged = fields.Integer()
    by_tier = fields.Dict(keys=fields.String(), values=fields.Integer())


# -- rewards, vouchers, returns ------------------------------------------------------------


class OfferSchema(Schema):
    reward_id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    cost = fields.Integer()
    kind = fields.String()
    gives = fields.Dict(keys=fields.String(), values=fields.String())
    affordable = fields.Boolean()
    stock_left = fields.Integer(allow_none=True)


class OfferListSchema(Schema):
    rewards = fields.List(fields.Nested(OfferSchema))


class RedeemSchema(Schema):
    reward_id = Text(required=True, validate=validate.Length(1, 64))
    external_id = Text(required=True, validate=validate.Length(1, 128), metadata={
        "description": "the caller's own id of this redemption: makes it idempotent"})


class VoucherSchema(Schema):
    code = fields.String()
    state = fields.String(metadata={"description": "valid, used, expired or cancelled"})
    reward_id = fields.String()
    kind = fields.String()
    gives = fields.Dict(keys=fields.String(), values=fields.String())
    member_id = fields.String()
    redemption_id = fields.String()
    issued_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    used_at = fields.AwareDateTime(allow_none=True)
    used_reference = fields.String(allow_none=True)


class RedeemedSchema(Schema):
    redemption_id = fields.String()
    member_id = fields.String()
    reward_id = fields.String()
    reward_name = fields.String()
    points = fields.Integer()
    status = fields.String()
    voucher = fields.Nested(VoucherSchema)
    available = fields.Integer()


class RedemptionCancelledSchema(Schema):
    redemption_id = fields.String()
    member_id = fields.String()
    points = fields.Integer()
    status = fields.String()
    available = fields.Integer()


class ConsumeSchema(Schema):
    reference = Text(required=True, validate=validate.Length(1, 128), metadata={
        "description": "the purchase the voucher is used on (e.g. the till's receipt id)"})


class ReturnLineSchema(Schema):
    sku = Slug(required=True)
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 100_000))


class ReturnSchema(Schema):
    external_id = Text(required=True, validate=validate.Length(1, 128))
    occurred_at = Instant(load_default=None, allow_none=True)
    lines = fields.List(fields.Nested(ReturnLineSchema), validate=validate.Length(1, 500))
    amount = Amount(metadata={"description": "for a return by amount, in the purchase's "
                                             "currency"})
    currency = Text(validate=validate.Regexp(r"^[A-Z]{3}$"), metadata={
        "description": "with amount: the purchase's currency"})

    @ma.validates_schema
    def lines_or_amount(self, data: dict[str, Any], **_: Any) -> None:
        if ("lines" in data) == ("amount" in data):
            raise ma.ValidationError("give returned lines or an amount", "_schema")
        if "amount" in data and "currency" not in data:
            raise ma.ValidationError("an amount comes with its currency", "currency")


class CancelPurchaseSchema(Schema):
    external_id = Text(load_default=None, validate=validate.Length(1, 128), metadata={
        "description": "default: cancel-<purchase id>"})


class ReturnRecordedSchema(Schema):
    return_id = fields.String()
    purchase_id = fields.String()
    external_id = fields.String()
    refunded = fields.String()
    points_reversed = fields.Integer()
    points_not_reversed = fields.Integer(metadata={
        "description": "already spent and, per the program's policy, not reversed"})
    points_given_back = fields.Integer(metadata={"description": "burned points given back"})
    points_remaining = fields.Integer(metadata={"description": "what the purchase still holds"})
    available = fields.Integer()
    pending = fields.Integer()
    debt = fields.Integer(metadata={"description": "points owed after a return"})
    remaining_lines = fields.Dict(keys=fields.String(), values=fields.Integer())


# -- the service desk -------------------------------------------------------------------------


class AdjustSchema(Schema):
    points = fields.Integer(required=True, strict=True,
                            validate=validate.Range(-10**9, 10**9),
                            metadata={"description": "up (positive) or down (negative)"})
    reason = Text(required=True, validate=validate.Length(1, 64),
                  metadata={"description": "a code of the program's list, e.g. goodwill"})
    note = Text(load_default=None, free_text=True, validate=validate.Length(1, 1000))
    external_id = Text(required=True, validate=validate.Length(1, 128))


class AdjustmentSchema(Schema):
    adjustment_id = fields.String()
    member_id = fields.String()
    points = fields.Integer()
    reason = fields.String()
    note = fields.String(allow_none=True)
    status = fields.String(metadata={"description": "applied, pending or rejected"})
    requested_by = fields.String()
    decided_by = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)


class AdjustmentListSchema(Schema):
    adjustments = fields.List(fields.Nested(AdjustmentSchema))


class AdjustmentQuerySchema(Schema):
    status = Text(validate=validate.OneOf(["applied", "pending", "rejected"]))


class ReasonSchema(Schema):
    reason = Text(required=True, free_text=True, validate=validate.Length(1, 500))


class MemberStateSchema(Schema):
    member_id = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    merged_into = fields.String(allow_none=True)
    erased = fields.Boolean()


class MergeSchema(Schema):
    merge = Text(required=True, validate=validate.Length(1, 40),
                 metadata={"description": "the id of the member merged into this one"})


class MergedSchema(Schema):
    survivor = fields.String()
    merged = fields.String()
    points_moved = fields.Integer()
    pending_moved = fields.Integer()
    tier = fields.String(allow_none=True)


class TransferSchema(Schema):
    to_member = Text(required=True, validate=validate.Length(1, 40))
    points = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10**9))
    external_id = Text(required=True, validate=validate.Length(1, 128))


class TransferredSchema(Schema):
    transfer_id = fields.String()
    from_member = fields.String()
    to_member = fields.String()
    points = fields.Integer()
    from_available = fields.Integer()
    to_available = fields.Integer()


# -- batches ------------------------------------------------------------------------------------

BATCH_LIMIT = 500


class BatchSchema(Schema):
    purchases = fields.List(fields.Raw(), required=True,
                            validate=validate.Length(1, BATCH_LIMIT),
                            metadata={"description": f"1 to {BATCH_LIMIT} purchase bodies"})


class BatchItemSchema(Schema):
    index = fields.Integer()
    status = fields.Integer(metadata={"description": "201 recorded, 200 replay, or the "
                                                     "problem's status"})
    purchase = fields.Nested(PurchaseRecordedSchema, allow_none=True)
    problem = fields.Dict(allow_none=True)


class BatchResultSchema(Schema):
    imported = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.Integer()
    results = fields.List(fields.Nested(BatchItemSchema))
