"""Realistic demo and benchmark data: a seeded stream of purchases and returns.

``generate(config)`` yields, in time order, the purchases of a fashion retailer's members over the
last ``days`` days and the returns that follow about one purchase in twenty a few days later. The
same config (seed included) always yields the same stream. It is a generator: memory does not grow
with the number of purchases, only with the number of members (one weight, store and id each).

What makes it look like a real program:

- members: a Pareto weight each (a few heavy buyers, many occasional ones), and a share who never
  buy; a home store each, where most of their till purchases happen;
- time: a weekly rhythm (Saturday is the busiest day, Monday the quietest), a daily one (stores
  open 10:00 to 20:00 from Monday to Saturday, the web shop and the app around the clock with an
  evening peak) and a seasonal one (Christmas, Black Friday, the winter and summer sales, a quiet
  February and August), all read in the program's time zone;
- channels and stores: tills (``pos``) in seven stores, the web shop (``web``) and the app
  (``app``), each numbering its orders in its own ``source``;
- baskets: 1 to 5 lines by default (configurable), products drawn by popularity with seasonal
  categories (knitwear and coats in winter, sandals in summer), prices with 20% VAT included,
  markdowns during the sales, shipping on small web orders;
- returns: about 5%, 1 to 28 days after the purchase, of some lines (most of them) or of an
  amount (a fifth of them), never after the end of the period.

The catalogue uses the categories, tags, stores and channels the fashion-retailer example's rules
look at (``examples/fashion-retailer.yaml``), so its bonuses fire. Amounts are integers in minor
units; the probabilities that shape the stream are floats, which never touch money.

The module also turns the stream into what the importer reads (JSON Lines and CSV, in the formats
of ``api/importing.py``) and into the importer's commands (``RecordPurchase``, ``ImportReturn``),
built directly.
"""

from __future__ import annotations

import base64
import csv
import heapq
import json
import random
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import IO, Any, NamedTuple

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import InvalidRequest
from loyalty.domain.members import Identity, IdentityKind
from loyalty.domain.money import currency_exponent
from loyalty.domain.time import local_date, start_of_day, utc, zone
from loyalty.services.imports import ImportReturn
from loyalty.services.members import MemberRef
from loyalty.services.purchases import RecordPurchase

# -- the shop -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    price: int  # in cents of a two-decimal currency, VAT included
    popularity: int
    tags: tuple[str, ...] = ()
    vat: int = 20  # percent, included in the price


CATALOGUE: tuple[Product, ...] = (
    Product("TEE-BASIC", "tops", 1999, 30),
    Product("TEE-GRAPHIC", "tops", 2499, 14),
    Product("SHIRT-OXFORD", "tops", 5999, 10),
    Product("BLOUSE-SILK", "tops", 6900, 5, ("new-collection",)),
    Product("JEANS-SLIM", "denim", 8999, 12),
    Product("JEANS-STRAIGHT", "denim", 7999, 9),
    Product("JACKET-DENIM", "denim", 9900, 4, ("new-collection",)),
    Product("DRESS-WRAP", "dresses", 7500, 7),
    Product("DRESS-MIDI", "dresses", 8900, 4, ("new-collection",)),
    Product("SKIRT-PLEATED", "skirts", 4900, 5),
    Product("CHINOS", "trousers", 5900, 8),
    Product("SWEATER-MERINO", "knitwear", 7900, 7),
    Product("CARDIGAN-CHUNKY", "knitwear", 8900, 4, ("new-collection",)),
    Product("COAT-WOOL", "coats", 22900, 3),
    Product("PARKA-AW", "coats", 17900, 3, ("new-collection",)),
    Product("SNEAKERS-CANVAS", "shoes", 6500, 8),
    Product("SNEAKERS-LEATHER", "shoes", 11900, 5),
    Product("BOOTS-CHELSEA", "shoes", 18900, 3, ("new-collection",)),
    Product("SANDALS", "shoes", 4900, 3),
    Product("SOCKS-3PACK", "accessories", 1299, 16),
    Product("BELT-LEATHER", "accessories", 4500, 6),
    Product("SCARF-WOOL", "accessories", 3500, 6),
    Product("CAP-COTTON", "accessories", 2500, 5),
    Product("BAG-TOTE", "accessories", 3900, 4),
    Product("GIFT-CARD-25", "gift-cards", 2500, 2, vat=0),
    Product("GIFT-CARD-50", "gift-cards", 5000, 2, vat=0),
)

# How much more (or less) a category sells in each month, January first.
_SEASONAL = {
    "knitwear": (1.8, 1.5, 1.0, 0.6, 0.3, 0.2, 0.2, 0.3, 0.8, 1.4, 1.9, 2.2),
    "coats": (1.6, 1.2, 0.8, 0.5, 0.2, 0.1, 0.1, 0.2, 0.8, 1.5, 2.0, 2.0),
    "SANDALS": (0.1, 0.1, 0.4, 0.9, 1.8, 2.5, 2.5, 1.8, 0.6, 0.2, 0.1, 0.1),
    "SCARF-WOOL": (1.6, 1.3, 0.9, 0.5, 0.2, 0.1, 0.1, 0.2, 0.7, 1.3, 1.8, 2.2),
    "gift-cards": (0.5, 0.6, 0.7, 0.7, 0.8, 0.7, 0.6, 0.6, 0.7, 0.8, 1.3, 4.0),
}

STORES: tuple[tuple[str, float], ...] = (  # the two flagships are the fashion example's
    ("paris-opera", 0.24),
    ("lyon-bellecour", 0.16),
    ("lille-centre", 0.13),
    ("bordeaux-sainte-catherine", 0.12),
    ("marseille-prado", 0.12),
    ("nantes-commerce", 0.12),
    ("toulouse-capitole", 0.11),
)
SOURCES = {"pos": "tills", "web": "webshop", "app": "app"}  # who numbers each channel's orders

# Rhythms, as relative weights.
WEEKDAYS = (0.80, 0.82, 0.88, 0.95, 1.12, 1.75, 1.30)  # Monday first
MONTHS = (1.00, 0.80, 0.90, 0.95, 0.95, 1.00, 1.05, 0.82, 0.95, 1.00, 1.20, 1.50)
HOURS = (
    0.25,
    0.12,
    0.06,
    0.04,
    0.04,
    0.08,
    0.20,
    0.45,
    0.80,
    1.20,
    3.20,
    4.20,  # local hour
    5.20,
    5.00,
    4.40,
    4.60,
    5.00,
    5.60,
    6.00,
    5.00,
    2.40,
    1.90,
    1.30,
    0.60,
)
STORE_HOURS = range(10, 20)  # tills open 10:00-20:00, Monday to Saturday
DEFAULT_BASKET_SIZES = (0.34, 0.27, 0.18, 0.12, 0.09)  # 1 line, 2 lines, ... 5 lines
FREE_SHIPPING_FROM = 5000  # cents: web and app orders under 50.00 pay 4.95
SHIPPING = 495


def _is_sale(day: date) -> bool:
    """The French winter and summer sales, approximately: four weeks each."""
    return date(day.year, 1, 8) <= day <= date(day.year, 2, 4) or date(
        day.year, 6, 25
    ) <= day <= date(day.year, 7, 22)


def _black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + timedelta(days=1)


def day_weight(day: date) -> float:
    """How busy ``day`` is compared with an ordinary day: weekday, month and calendar events."""
    weight = WEEKDAYS[day.weekday()] * MONTHS[day.month - 1]
    if _is_sale(day):
        weight *= 1.3
    if day == _black_friday(day.year):
        weight *= 2.5
    elif day.month == 12 and 10 <= day.day <= 24:
        weight *= 1.25
    elif (day.month, day.day) in ((12, 25), (1, 1), (5, 1)):
        weight *= 0.15
    return weight


# -- what the stream yields ---------------------------------------------------------------------


class GeneratedLine(NamedTuple):
    sku: str
    category: str
    tags: tuple[str, ...]
    quantity: int
    unit_price: int
    discount: int
    tax: int


class GeneratedPurchase(NamedTuple):
    number: int  # 1, 2, ... in time order
    source: str
    external_id: str
    member_index: int
    member_id: str
    card: str  # the member's card number: tills name the member by card, web and app by id
    occurred_at: datetime
    channel: str
    store: str | None
    lines: tuple[GeneratedLine, ...]
    shipping: int

    @property
    def lines_total(self) -> int:
        """What the lines cost, tax included: what a return can refund (not the shipping)."""
        return sum(line.quantity * line.unit_price - line.discount for line in self.lines)

    @property
    def total(self) -> int:
        return self.lines_total + self.shipping


class GeneratedReturn(NamedTuple):
    external_id: str
    occurred_at: datetime
    purchase_source: str
    purchase_external_id: str
    lines: tuple[tuple[str, int], ...] | None  # (sku, units) returned
    amount: int | None  # or an amount refunded, in minor units


Generated = GeneratedPurchase | GeneratedReturn


# -- the configuration --------------------------------------------------------------------------

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class GeneratorConfig:
    program_id: str
    members: int
    purchases: int
    days: int
    end: datetime  # the stream covers [end - days, end)
    seed: int = 0
    currency: str = "EUR"
    time_zone: str = "UTC"
    basket_sizes: tuple[float, ...] = DEFAULT_BASKET_SIZES  # weight of 1 line, 2 lines, ...
    return_share: float = 0.05
    return_by_amount_share: float = 0.2  # of the returns; the others name lines
    never_buy_share: float = 0.2  # members who never buy anything
    pareto_alpha: float = 1.16  # the "80/20" shape of member activity
    heaviest: float = 40.0  # cap of a member's weight (the mean weight is about 4)

    def __post_init__(self) -> None:
        if self.members < 1:
            raise InvalidRequest("generate at least one member", field="members")
        if self.purchases < 0:
            raise InvalidRequest("a number of purchases is not negative", field="purchases")
        if not 1 <= self.days <= 3650:
            raise InvalidRequest("generate over 1 to 3650 days", field="days")
        if not 0 <= self.seed <= MAX_SEED:
            raise InvalidRequest(f"a seed is between 0 and {MAX_SEED}", field="seed")
        if (
            not self.basket_sizes
            or len(self.basket_sizes) > len(CATALOGUE)
            or any(w < 0 for w in self.basket_sizes)
            or not sum(self.basket_sizes)
        ):
            raise InvalidRequest(
                f"basket sizes are 1 to {len(CATALOGUE)} non-negative weights, not all zero",
                field="basket_sizes",
            )
        if (
            not 0 <= self.return_share <= 1
            or not 0 <= self.return_by_amount_share <= 1
            or not 0 <= self.never_buy_share < 1
        ):
            raise InvalidRequest("shares are between 0 and 1", field="return_share")
        utc(self.end)
        zone(self.time_zone)

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)


def basket_sizes(lines: int | None) -> tuple[float, ...]:
    """Weights for baskets of exactly ``lines`` lines, or the default mix."""
    if lines is None:
        return DEFAULT_BASKET_SIZES
    if not 1 <= lines <= len(CATALOGUE):
        raise InvalidRequest(f"a basket has 1 to {len(CATALOGUE)} lines", field="lines")
    return (0.0,) * (lines - 1) + (1.0,)


# -- members ------------------------------------------------------------------------------------

# base32 digits (A-Z2-7) to Crockford's alphabet, as loyalty.domain.members.new_id uses
_CROCKFORD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghjkmnpqrstvwxyz")


def seeded_random(config_seed: int, program_id: str, stream: str) -> random.Random:
    """An independent, reproducible random stream per purpose: adding a draw to one purpose
    leaves the others' numbers unchanged."""
    return random.Random(f"{program_id}:{config_seed}:{stream}")


def member_ids(program_id: str, seed: int, count: int) -> list[str]:
    """The ids of the first ``count`` generated members: they look like ``new_id("mem")`` (130
    random bits in Crockford's base32) but come from the seed, so a run can be repeated."""
    # 20 random bytes (32 base32 digits) per id, of which 26 digits are kept: one encoding call
    digits = base64.b32encode(seeded_random(seed, program_id, "member-ids").randbytes(20 * count))
    text = digits.decode().translate(_CROCKFORD)
    return ["mem_" + text[at : at + 26] for at in range(0, 32 * count, 32)]


def card_number(seed: int, index: int) -> str:
    """A generated member's card: unique per seed and index (the index is always 9 digits)."""
    return f"9{seed}{index:09d}"


def email(seed: int, index: int) -> str:
    return f"m{index}-s{seed}@example.test"


def member_profile(rng: random.Random) -> dict[str, Any]:
    """Attributes of a generated member: most give a birth date, a few are VIPs."""
    attributes: dict[str, Any] = {}
    if rng.random() < 0.7:
        birth = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
        attributes["birth_date"] = birth.isoformat()
    if rng.random() < 0.02:
        attributes["vip"] = True
    return attributes


def profiles(program_id: str, seed: int, count: int) -> Iterator[dict[str, Any]]:
    rng = seeded_random(seed, program_id, "profiles")
    for _ in range(count):
        yield member_profile(rng)


@dataclass
class Population:
    """Every member's weight (cumulated, for drawing), home store, id and card."""

    cum_weights: list[float]
    home_stores: list[str]
    ids: list[str]
    cards: list[str]

    @classmethod
    def of(cls, config: GeneratorConfig) -> Population:
        rng = seeded_random(config.seed, config.program_id, "population")
        stores = [name for name, _ in STORES]
        store_weights = list(accumulate(weight for _, weight in STORES))
        weights = []
        homes = []
        for _ in range(config.members):
            if rng.random() < config.never_buy_share:
                weights.append(0.0)
            else:
                weights.append(min(rng.paretovariate(config.pareto_alpha), config.heaviest))
            homes.append(stores[bisect_right(store_weights, rng.random() * store_weights[-1])])
        if not any(weights):  # one member, who never buys: let them buy after all
            weights[0] = 1.0
        return cls(
            list(accumulate(weights)),
            homes,
            member_ids(config.program_id, config.seed, config.members),
            [card_number(config.seed, i) for i in range(config.members)],
        )


# -- days and hours -----------------------------------------------------------------------------


@dataclass
class _Day:
    start: datetime  # local midnight, in UTC
    weekday: int
    month: int
    sale: bool
    offsets: list[int]  # per local hour: the first second of the hour in the period
    spans: list[int]  # per local hour: how many of its seconds are in the period
    cum_weights: list[float]  # per local hour
    weight: float = 0.0


def plan_days(config: GeneratorConfig) -> list[_Day]:
    """The local days the period touches, each with its hours (clipped to the period)."""
    tz = zone(config.time_zone)
    start, end = utc(config.start), utc(config.end)
    days = []
    day = local_date(start, tz)
    last = local_date(end, tz)
    while day <= last:
        begins, next_begins = start_of_day(day, tz), start_of_day(day + timedelta(days=1), tz)
        offsets, spans, weights = [], [], []
        for hour in range(int((next_begins - begins).total_seconds()) // 3600):
            hour_start = begins + timedelta(hours=hour)
            low, high = max(hour_start, start), min(hour_start + timedelta(hours=1), end)
            span = max(int((high - low).total_seconds()), 0)
            offsets.append(int((low - begins).total_seconds()) if span else 0)
            spans.append(span)
            weights.append(HOURS[min(hour, 23)] * span / 3600)
        total = sum(weights)
        if total > 0:
            entry = _Day(
                begins,
                day.weekday(),
                day.month,
                _is_sale(day),
                offsets,
                spans,
                list(accumulate(weights)),
            )
            entry.weight = day_weight(day) * total / sum(HOURS)
            days.append(entry)
        day += timedelta(days=1)
    return days


def apportion(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, in whole numbers that add up to it
    (largest remainders)."""
    whole = sum(weights)
    shares = [total * w / whole for w in weights]
    counts = [int(share) for share in shares]
    left = total - sum(counts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in by_remainder[:left]:
        counts[i] += 1
    return counts


# -- baskets ------------------------------------------------------------------------------------


# A line's markdown: none, the occasional 10% off, or 20% to 50% off during the sales.
_NO_DISCOUNT, _PROMO, _SALE = 0, 1, 2  # _SALE + 0..3: 20%, 30%, 40%, 50%
_PERCENT_OFF = (0, 10, 20, 30, 40, 50)


class Shop:
    """The catalogue in the program's currency, with each month's product popularity. Every
    possible line (product, quantity, markdown) is built once: drawing a basket only picks."""

    def __init__(self, currency: str) -> None:
        exponent = currency_exponent(currency)
        self.by_month = []
        for month in range(12):
            weights = [
                p.popularity * _SEASONAL.get(p.sku, _SEASONAL.get(p.category, (1.0,) * 12))[month]
                for p in CATALOGUE
            ]
            self.by_month.append(list(accumulate(weights)))
        self.table: list[list[GeneratedLine]] = []  # [product][(quantity - 1) * 6 + markdown]
        for product in CATALOGUE:
            price = product.price * 10**exponent // 100
            lines = []
            for quantity in (1, 2, 3):
                for percent in _PERCENT_OFF:
                    gross = quantity * price
                    discount = gross * percent // 100 if product.vat else 0
                    amount = gross - discount
                    lines.append(
                        GeneratedLine(
                            product.sku,
                            product.category,
                            product.tags,
                            quantity,
                            price,
                            discount,
                            amount * product.vat // (100 + product.vat),
                        )
                    )
            self.table.append(lines)
        self.free_shipping_from = FREE_SHIPPING_FROM * 10**exponent // 100
        self.shipping = SHIPPING * 10**exponent // 100

    def lines(
        self, rng: random.Random, size: int, month: int, sale: bool
    ) -> tuple[GeneratedLine, ...]:
        """``size`` lines of distinct products."""
        random_ = rng.random
        cum = self.by_month[month - 1]
        total = cum[-1]
        table = self.table
        if size == 1:
            chosen: Iterable[int] = (bisect_right(cum, random_() * total),)
        else:
            picked: dict[int, None] = {}
            while len(picked) < size:
                picked[bisect_right(cum, random_() * total)] = None
            chosen = picked
        lines = []
        for index in chosen:
            r = random_()
            quantity = 0 if r < 0.86 else 6 if r < 0.97 else 12  # 1, 2 or 3 units
            r = random_()
            if sale and r < 0.5:
                markdown = _SALE + int(r * 8)
            elif r < 0.04:
                markdown = _PROMO
            else:
                markdown = _NO_DISCOUNT
            lines.append(table[index][quantity + markdown])
        return tuple(lines)


# -- the stream ---------------------------------------------------------------------------------


def external_id(seed: int, number: int) -> str:
    return f"G{seed}-{number:09d}"


def generate(config: GeneratorConfig) -> Iterator[Generated]:
    """The purchases and returns of ``config``, in time order (a return comes after its
    purchase, never after ``config.end``)."""
    rng = seeded_random(config.seed, config.program_id, "stream")
    random_ = rng.random
    population = Population.of(config)
    shop = Shop(config.currency)
    days = plan_days(config)
    counts = apportion(config.purchases, [day.weight for day in days]) if days else []
    member_cum = population.cum_weights
    ids, cards, homes = population.ids, population.cards, population.home_stores
    size_cum = list(accumulate(config.basket_sizes))
    sizes = list(range(1, len(size_cum) + 1))
    end = utc(config.end)
    seed = config.seed
    returns: list[tuple[datetime, int, GeneratedReturn]] = []
    number = 0
    for day, count in zip(days, counts, strict=True):
        if not count:
            continue
        hours = rng.choices(range(len(day.spans)), cum_weights=day.cum_weights, k=count)
        offsets, spans = day.offsets, day.spans
        seconds = sorted((offsets[h] + int(random_() * spans[h]), h) for h in hours)
        members = rng.choices(range(len(member_cum)), cum_weights=member_cum, k=count)
        basket = rng.choices(sizes, cum_weights=size_cum, k=count)
        stores_open = day.weekday < 6
        for (second, hour), member, size in zip(seconds, members, basket, strict=True):
            occurred_at = day.start + timedelta(seconds=second)
            while returns and returns[0][0] <= occurred_at:
                yield heapq.heappop(returns)[2]
            number += 1
            r = random_()
            if stores_open and hour in STORE_HOURS:
                channel = "pos" if r < 0.76 else "web" if r < 0.92 else "app"
            else:
                channel = "web" if r < 0.62 else "app"
            if channel == "pos":
                store: str | None = (
                    homes[member] if random_() < 0.85 else STORES[int(random_() * len(STORES))][0]
                )
            else:
                store = None
            lines = shop.lines(rng, size, day.month, day.sale)
            shipping = 0
            if (
                channel != "pos"
                and sum(line.quantity * line.unit_price - line.discount for line in lines)
                < shop.free_shipping_from
            ):
                shipping = shop.shipping
            purchase = GeneratedPurchase(
                number,
                SOURCES[channel],
                external_id(seed, number),
                member,
                ids[member],
                cards[member],
                occurred_at,
                channel,
                store,
                lines,
                shipping,
            )
            yield purchase
            if random_() < config.return_share:
                returned = _return_of(rng, purchase, end, config.return_by_amount_share)
                if returned is not None:
                    heapq.heappush(returns, (returned.occurred_at, purchase.number, returned))
    while returns:
        yield heapq.heappop(returns)[2]


def _return_of(
    rng: random.Random, purchase: GeneratedPurchase, end: datetime, by_amount_share: float
) -> GeneratedReturn | None:
    """A return of ``purchase`` 1 to 28 days later (sooner near the end of the period)."""
    left = (end - purchase.occurred_at).total_seconds() - 60
    delay = rng.uniform(1, 28) * 86400
    if delay >= left:
        delay = left * rng.uniform(0.2, 0.9)
    if delay < 3600:
        return None
    occurred_at = purchase.occurred_at + timedelta(seconds=int(delay))
    returned_id = f"{purchase.external_id}-R"
    if rng.random() < by_amount_share:
        amount = max(purchase.lines_total * rng.randint(20, 100) // 100, 1)
        return GeneratedReturn(
            returned_id, occurred_at, purchase.source, purchase.external_id, None, amount
        )
    lines = purchase.lines
    if len(lines) > 1 and rng.random() < 0.8:
        lines = (lines[int(rng.random() * len(lines))],)
    return GeneratedReturn(
        returned_id,
        occurred_at,
        purchase.source,
        purchase.external_id,
        tuple((line.sku, line.quantity if rng.random() < 0.8 else 1) for line in lines),
        None,
    )


# -- commands and files -------------------------------------------------------------------------


def purchase_command(program_id: str, currency: str, purchase: GeneratedPurchase) -> RecordPurchase:
    """The command the importer would build from the purchase's row (no schema in between)."""
    member = (
        MemberRef(identity=Identity(IdentityKind.CARD, purchase.card))
        if purchase.channel == "pos"
        else MemberRef(member_id=purchase.member_id)
    )
    return RecordPurchase(
        program_id=program_id,
        member=member,
        external_id=purchase.external_id,
        occurred_at=purchase.occurred_at,
        currency=currency,
        lines=purchase_lines(purchase.lines),
        source=purchase.source,
        channel=purchase.channel,
        store=purchase.store,
        shipping=purchase.shipping,
    )


def return_command(program_id: str, currency: str, returned: GeneratedReturn) -> ImportReturn:
    """The importer's return command, the purchase named by its source and external id."""
    by_amount = returned.amount is not None
    return ImportReturn(
        program_id=program_id,
        purchase_source=returned.purchase_source,
        purchase_external_id=returned.purchase_external_id,
        external_id=returned.external_id,
        occurred_at=returned.occurred_at,
        lines=None if returned.lines is None else dict(returned.lines),
        amount=returned.amount,
        currency=currency if by_amount else None,
    )


def purchase_lines(lines: Iterable[GeneratedLine]) -> tuple[PurchaseLine, ...]:
    return tuple(
        PurchaseLine(
            line.sku,
            line.quantity,
            line.unit_price,
            line.discount,
            line.tax,
            line.category,
            line.tags,
        )
        for line in lines
    )


class _Amounts:
    """Minor units as the API's decimal strings, fast (``format_minor`` without Decimal)."""

    def __init__(self, currency: str) -> None:
        self.exponent = currency_exponent(currency)
        self.scale = 10**self.exponent

    def __call__(self, minor: int) -> str:
        if not self.exponent:
            return str(minor)
        whole, part = divmod(minor, self.scale)
        return f"{whole}.{part:0{self.exponent}d}"


def _instant(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def purchase_payload(
    purchase: GeneratedPurchase, currency: str, amounts: _Amounts | None = None
) -> dict[str, Any]:
    """The purchase as the body of ``POST /v1/programs/{program}/purchases``."""
    money = amounts or _Amounts(currency)
    payload: dict[str, Any] = {
        "member": (
            {"identity": f"card:{purchase.card}"}
            if purchase.channel == "pos"
            else {"id": purchase.member_id}
        ),
        "external_id": purchase.external_id,
        "source": purchase.source,
        "occurred_at": _instant(purchase.occurred_at),
        "channel": purchase.channel,
        "currency": currency,
        "lines": [_line_payload(line, money) for line in purchase.lines],
    }
    if purchase.store is not None:
        payload["store"] = purchase.store
    if purchase.shipping:
        payload["shipping"] = money(purchase.shipping)
    return payload


def _line_payload(line: GeneratedLine, money: _Amounts) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sku": line.sku,
        "category": line.category,
        "quantity": line.quantity,
        "unit_price": money(line.unit_price),
    }
    if line.discount:
        payload["discount"] = money(line.discount)
    if line.tax:
        payload["tax"] = money(line.tax)
    if line.tags:
        payload["tags"] = list(line.tags)
    return payload


def return_payload(
    returned: GeneratedReturn, currency: str, amounts: _Amounts | None = None
) -> dict[str, Any]:
    """The return row of a JSON Lines purchase file."""
    payload: dict[str, Any] = {
        "type": "return",
        "purchase": {
            "source": returned.purchase_source,
            "external_id": returned.purchase_external_id,
        },
        "external_id": returned.external_id,
        "occurred_at": _instant(returned.occurred_at),
    }
    if returned.lines is not None:
        payload["lines"] = [{"sku": sku, "quantity": units} for sku, units in returned.lines]
    else:
        assert returned.amount is not None
        payload["amount"] = (amounts or _Amounts(currency))(returned.amount)
        payload["currency"] = currency
    return payload


CSV_COLUMNS = (
    "external_id",
    "source",
    "member_id",
    "identity",
    "occurred_at",
    "channel",
    "store",
    "currency",
    "sku",
    "category",
    "quantity",
    "unit_price",
    "discount",
    "tax",
    "shipping",
    "type",
    "purchase_source",
    "purchase_external_id",
    "amount",
    "tags",
)


@dataclass
class FileReport:
    purchases: int = 0
    returns: int = 0
    rows: int = 0  # lines written after the header


def write_file(
    items: Iterable[Generated],
    handle: IO[str],
    file_format: str,
    currency: str,
    on_item: Any = None,
) -> FileReport:
    """Write the stream as the importer's JSON Lines or CSV (one row per purchase line, or per
    returned line; ``tags`` is an extra column, ``;``-separated). ``on_item`` hears each item."""
    if file_format not in ("jsonl", "csv"):
        raise InvalidRequest("a purchase file is jsonl or csv", field="file")
    money = _Amounts(currency)
    report = FileReport()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    writer = csv.writer(handle, lineterminator="\n") if file_format == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    for item in items:
        if isinstance(item, GeneratedPurchase):
            report.purchases += 1
            if writer is None:
                handle.write(dumps(purchase_payload(item, currency, money)) + "\n")
                report.rows += 1
            else:
                report.rows += _csv_purchase(writer, item, currency, money)
        else:
            report.returns += 1
            if writer is None:
                handle.write(dumps(return_payload(item, currency, money)) + "\n")
                report.rows += 1
            else:
                report.rows += _csv_return(writer, item, currency, money)
        if on_item is not None:
            on_item(item)
    return report


def _csv_purchase(writer: Any, purchase: GeneratedPurchase, currency: str, money: _Amounts) -> int:
    by_card = purchase.channel == "pos"
    head = [
        purchase.external_id,
        purchase.source,
        "" if by_card else purchase.member_id,
        f"card:{purchase.card}" if by_card else "",
        _instant(purchase.occurred_at),
        purchase.channel,
        purchase.store or "",
        currency,
    ]
    shipping = money(purchase.shipping) if purchase.shipping else ""
    for line in purchase.lines:
        writer.writerow(
            [
                *head,
                line.sku,
                line.category,
                line.quantity,
                money(line.unit_price),
                money(line.discount) if line.discount else "",
                money(line.tax) if line.tax else "",
                shipping,
                "purchase",
                "",
                "",
                "",
                ";".join(line.tags),
            ]
        )
    return len(purchase.lines)


def _csv_return(writer: Any, returned: GeneratedReturn, currency: str, money: _Amounts) -> int:
    head = [returned.external_id, "", "", "", _instant(returned.occurred_at), "", "", currency]
    tail = ["return", returned.purchase_source, returned.purchase_external_id]
    if returned.lines is None:
        assert returned.amount is not None
        writer.writerow([*head, "", "", "", "", "", "", "", *tail, money(returned.amount), ""])
        return 1
    for sku, units in returned.lines:
        writer.writerow([*head, sku, "", units, "", "", "", "", *tail, "", ""])
    return len(returned.lines)


@dataclass
class StreamCounts:
    """What a stream held, counted as it passes (for summaries)."""

    purchases: int = 0
    returns: int = 0
    returns_by_amount: int = 0
    channels: dict[str, int] = field(default_factory=dict)

    def count(self, items: Iterable[Generated]) -> Iterator[Generated]:
        for item in items:
            if isinstance(item, GeneratedPurchase):
                self.purchases += 1
                self.channels[item.channel] = self.channels.get(item.channel, 0) + 1
            else:
                self.returns += 1
                self.returns_by_amount += item.amount is not None
            yield item
