"""The example programs of ``examples/``, run end to end on SQLite and PostgreSQL.

Each test loads an example's YAML as it is shipped, creates a program from it, enrolls members,
posts purchases and events at frozen wall-clock times in the program's zone, and checks the points
to the unit, with the arithmetic in a comment, and the rules the explanation names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from freezegun import freeze_time

from loyalty.domain.basket import PurchaseLine
from loyalty.domain.errors import InvalidRequest
from loyalty.domain.members import Identity, Member
from loyalty.domain.money import Money
from loyalty.rules.definition import load_definition, money_problems
from loyalty.services.context import Context
from loyalty.services.events import (
    ENGINE_EVENTS,
    EventRecorded,
    RecordEvent,
    earn_event,
    fire_birthdays,
    record_event,
)
from loyalty.services.jobs import expire_points, release_pending
from loyalty.services.members import EnrollMember, MemberRef, enroll_member
from loyalty.services.points import BalanceView, get_balance
from loyalty.services.programs import CreateProgram, create_program
from loyalty.services.purchases import PurchaseRecorded, RecordPurchase, record_purchase
from loyalty.services.verification import verify_ledger

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COFFEE, FASHION, WEBSHOP = "coffee-shop", "fashion-retailer", "ecommerce-store"
PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")
BEFORE_EVERYTHING = datetime(2025, 1, 1, tzinfo=UTC)  # programs are created, members enrolled

_ids = count(1)


# -- the examples as programs ----------------------------------------------------------------------


def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))


def open_program(ctx: Context, name: str) -> None:
    """Create the program ``name`` from its example, in the currency and zone it declares."""
    document = example(name)
    settings = document["settings"]
    with freeze_time(BEFORE_EVERYTHING):
        create_program(ctx, CreateProgram(name, name.replace("-", " ").title(),
                                          settings["currency"], settings["time_zone"],
                                          settings=settings, rules=document["rules"]))


def currency_of(program_id: str) -> str:
    """The currency of a program opened from an example (its id is the example's name)."""
    return example(program_id)["settings"]["currency"]


def paris(wall_clock: str) -> datetime:
    """``"2026-03-10 08:15"`` on a clock in Paris."""
    return datetime.fromisoformat(wall_clock).replace(tzinfo=PARIS)


def new_york(wall_clock: str) -> datetime:
    return datetime.fromisoformat(wall_clock).replace(tzinfo=NEW_YORK)


def minor(amount: str, currency: str = "EUR") -> int:
    return Money.parse(amount, currency).minor


def a_customer(ctx: Context, program_id: str, identity: str, **attributes: Any) -> Member:
    with freeze_time(BEFORE_EVERYTHING):
        return enroll_member(ctx, EnrollMember(program_id, (Identity.parse(identity),),
                                               attributes)).result


def buy(ctx: Context, program_id: str, member: Member, at: datetime, *lines: PurchaseLine,
        **fields: Any) -> PurchaseRecorded:
    """``member`` buys ``lines`` at ``at``, which is also the time on the engine's clock."""
    with freeze_time(at):
        return record_purchase(ctx, RecordPurchase(
            program_id=program_id, member=MemberRef(member_id=member.id),
            external_id=f"order-{next(_ids)}", occurred_at=at, currency=currency_of(program_id),
            lines=lines, **fields)).result


def post(ctx: Context, program_id: str, member: Member, event_type: str, at: datetime,
         **properties: Any) -> EventRecorded:
    with freeze_time(at):
        if event_type not in ENGINE_EVENTS:
            return record_event(ctx, RecordEvent(program_id, MemberRef(member_id=member.id),
                                                 event_type, f"{event_type}-{next(_ids)}", at,
                                                 properties)).result
        # the engine fires these itself (a completed referral, an answered survey)
        with ctx.uow() as uow:
            program = uow.programs.get(program_id)
            result = earn_event(uow, program, member.id, event_type,
                                f"{event_type}-{next(_ids)}", at, properties, at)
            uow.commit()
        return result


def balance_of(ctx: Context, program_id: str, member: Member, at: datetime) -> BalanceView:
    with freeze_time(at):
        return get_balance(ctx, program_id, member.id)


def points_by_rule(result: PurchaseRecorded | EventRecorded) -> dict[object, object]:
    """The rules that applied, with what each gave, in the order they ran."""
    return {entry["rule"]: entry["points"] for entry in result.explanation if entry["applied"]}


def explained(result: PurchaseRecorded | EventRecorded, rule_id: str) -> dict[str, object]:
    (entry,) = [entry for entry in result.explanation if entry["rule"] == rule_id]
    return entry


# -- every example is a valid definition -----------------------------------------------------------


@pytest.mark.parametrize("name", [COFFEE, FASHION, WEBSHOP])
def test_every_example_loads_as_a_definition_that_fits_its_currency(name: str) -> None:
    definition = load_definition(example(name))

    assert definition.rules
    assert money_problems(definition, definition.settings.currency or "") == []


# -- the coffee shop: stamps as points -------------------------------------------------------------


def a_drink(price: str, sku: str = "CAPPUCCINO") -> PurchaseLine:
    return PurchaseLine(sku, 1, minor(price), category="drinks")


def test_a_coffee_of_two_euros_or_more_earns_a_stamp_of_ten_points(ctx):
    open_program(ctx, COFFEE)
    lea = a_customer(ctx, COFFEE, "card:C0FFEE01")

    result = buy(ctx, COFFEE, lea, paris("2026-03-10 10:00"), a_drink("3.80"))  # a Tuesday

    assert result.points_earned == 10
    assert points_by_rule(result) == {"stamp": 10}
    assert explained(result, "early-bird")["text"] == "outside its hours (06:00-09:00)"


def test_a_second_coffee_the_same_day_earns_no_stamp(ctx):
    open_program(ctx, COFFEE)
    lea = a_customer(ctx, COFFEE, "card:C0FFEE01")

    morning = buy(ctx, COFFEE, lea, paris("2026-03-10 10:00"), a_drink("3.80"))
    afternoon = buy(ctx, COFFEE, lea, paris("2026-03-10 15:30"), a_drink("4.20", "LATTE"))
    next_day = buy(ctx, COFFEE, lea, paris("2026-03-11 10:00"), a_drink("3.80"))

    assert (morning.points_earned, afternoon.points_earned, next_day.points_earned) == (10, 0, 10)
    stamp = explained(afternoon, "stamp")
    assert stamp["applied"] is False
    assert stamp["cut"] == "capped at 10 per member per day (0 left)"
    assert balance_of(ctx, COFFEE, lea, paris("2026-03-11 10:00")).available == 20


def test_an_espresso_under_two_euros_earns_nothing_and_keeps_the_days_stamp(ctx):
    open_program(ctx, COFFEE)
    lea = a_customer(ctx, COFFEE, "card:C0FFEE01")

    espresso = buy(ctx, COFFEE, lea, paris("2026-03-10 10:00"), a_drink("1.80", "ESPRESSO"))
    lunch = buy(ctx, COFFEE, lea, paris("2026-03-10 12:30"), a_drink("3.80"),
                PurchaseLine("CROISSANT", 1, minor("1.50"), category="pastries"))

    assert espresso.points_earned == 0
    assert explained(espresso, "stamp")["text"] == "its conditions are not met"
    assert points_by_rule(lunch) == {"stamp": 10}


def test_stamps_are_doubled_before_nine_on_weekdays(ctx):
    open_program(ctx, COFFEE)
    lea = a_customer(ctx, COFFEE, "card:C0FFEE01")

    result = buy(ctx, COFFEE, lea, paris("2026-03-11 08:15"), a_drink("3.80"))  # a Wednesday

    # 10 for the stamp, x2: +10
    assert result.points_earned == 20
    assert points_by_rule(result) == {"stamp": 10, "early-bird": 10}
    assert explained(result, "early-bird")["text"] == (
        "x2 on the 10 points of the rules before it = +10")


def test_a_second_early_coffee_is_neither_stamped_nor_doubled(ctx):
    open_program(ctx, COFFEE)
    lea = a_customer(ctx, COFFEE, "card:C0FFEE01")

    first = buy(ctx, COFFEE, lea, paris("2026-03-11 08:15"), a_drink("3.80"))
    second = buy(ctx, COFFEE, lea, paris("2026-03-11 08:45"), a_drink("3.80"))

    assert (first.points_earned, second.points_earned) == (20, 0)
    assert points_by_rule(second) == {}


def test_early_stamps_are_not_doubled_at_weekends_nor_from_nine(ctx):
    open_program(ctx, COFFEE)
    lea = a_customer(ctx, COFFEE, "card:C0FFEE01")

    saturday = buy(ctx, COFFEE, lea, paris("2026-03-14 08:15"), a_drink("3.80"))
    thursday_at_nine = buy(ctx, COFFEE, lea, paris("2026-03-12 09:00"), a_drink("3.80"))

    assert points_by_rule(saturday) == {"stamp": 10}
    assert explained(saturday, "early-bird")["text"] == "not on its days (mon, tue, wed, thu, fri)"
    assert points_by_rule(thursday_at_nine) == {"stamp": 10}  # "to" is exclusive


def test_a_member_gets_a_free_drink_on_their_birthday_once_a_year(ctx):
    open_program(ctx, COFFEE)
    camille = a_customer(ctx, COFFEE, "card:C0FFEE02", birth_date="1990-05-17")
    a_customer(ctx, COFFEE, "card:C0FFEE03", birth_date="1985-11-02")

    with freeze_time(paris("2026-05-17 07:00")):
        first_run = fire_birthdays(ctx)
        second_run = fire_birthdays(ctx)
    # the till's "birthday" button, pressed three days later: the yearly cap is already used
    pressed = post(ctx, COFFEE, camille, "birthday", paris("2026-05-20 11:00"))
    with freeze_time(paris("2027-05-17 07:00")):
        next_year = fire_birthdays(ctx)

    assert (first_run.members, first_run.points) == (1, 100)
    assert (second_run.members, second_run.points) == (0, 0)
    assert pressed.points_earned == 0
    assert explained(pressed, "birthday-drink")["cut"] == (
        "capped at 100 per member per year (0 left)")
    assert (next_year.members, next_year.points) == (1, 100)
    assert balance_of(ctx, COFFEE, camille, paris("2027-05-17 07:00")).available == 200


def test_stamps_expire_at_the_end_of_the_month_a_year_after_the_visit(ctx):
    open_program(ctx, COFFEE)
    lea = a_customer(ctx, COFFEE, "card:C0FFEE01")

    result = buy(ctx, COFFEE, lea, paris("2025-03-10 10:00"), a_drink("3.80"))

    # 10 March 2025 + 12 months = March 2026: usable through 31 March, gone as 1 April begins
    assert result.expires_at == paris("2026-04-01 00:00")
    with freeze_time(paris("2026-03-31 23:59:59")):
        assert expire_points(ctx).points == 0
    with freeze_time(paris("2026-04-01 00:00")):
        assert expire_points(ctx).points == 10
    balance = balance_of(ctx, COFFEE, lea, paris("2026-04-01 00:00"))
    assert (balance.available, balance.lifetime_expired) == (0, 10)
    assert verify_ledger(ctx).ok


# -- the fashion retailer: points per euro, category bonuses, weekends, a return window ------------


def an_item(sku: str, price: str, vat: str, *, category: str, tags: tuple[str, ...] = (),
            quantity: int = 1) -> PurchaseLine:
    """A line as the till prints it: ``price`` per unit, VAT included, ``vat`` for the line."""
    return PurchaseLine(sku, quantity, minor(price), tax=minor(vat), category=category, tags=tags)


SHIRT = an_item("SHIRT-OXFORD", "60.00", "10.00", category="tops")  # 50.00 net of VAT
SNEAKERS = an_item("SNEAKERS-W", "120.00", "20.00", category="shoes")  # 100.00 net
GIFT_CARD = an_item("GIFT-CARD-50", "50.00", "0.00", category="gift-cards")
JACKET = an_item("JACKET-AW26", "150.00", "25.00", category="coats",
                 tags=("new-collection",))  # 125.00 net
JEANS = an_item("JEANS-501", "89.99", "15.00", category="denim")  # 74.99 net


def test_a_weekday_basket_earns_a_point_per_euro_net_of_vat_and_one_more_on_shoes(ctx):
    open_program(ctx, FASHION)
    ines = a_customer(ctx, FASHION, "email:ines@example.com")

    result = buy(ctx, FASHION, ines, paris("2026-05-05 14:00"), SHIRT, SNEAKERS, GIFT_CARD)

    # base: 50 + 100 + 0 (gift cards are excluded) = 150; shoes: +100 on the sneakers
    assert result.total == "230.00"
    assert result.earn_base == "150.00"
    assert points_by_rule(result) == {"base": 150, "shoes": 100}
    assert result.points_earned == 250
    assert explained(result, "weekend")["text"] == "not on its days (sat, sun)"
    assert explained(result, "vip-evening")["text"] == "outside its validity window"


def test_a_gift_card_alone_earns_nothing(ctx):
    open_program(ctx, FASHION)
    ines = a_customer(ctx, FASHION, "email:ines@example.com")

    result = buy(ctx, FASHION, ines, paris("2026-05-05 14:00"), GIFT_CARD)

    assert (result.earn_base, result.points_earned) == ("0.00", 0)
    assert points_by_rule(result) == {}


def test_the_same_basket_earns_double_on_a_saturday(ctx):
    open_program(ctx, FASHION)
    ines = a_customer(ctx, FASHION, "email:ines@example.com")

    result = buy(ctx, FASHION, ines, paris("2026-05-09 14:00"), SHIRT, SNEAKERS, GIFT_CARD)

    # (150 + 100) x 2
    assert points_by_rule(result) == {"base": 150, "shoes": 100, "weekend": 250}
    assert result.points_earned == 500


def test_the_new_collection_earns_three_points_per_euro_doubled_on_a_sunday(ctx):
    open_program(ctx, FASHION)
    ines = a_customer(ctx, FASHION, "email:ines@example.com")

    result = buy(ctx, FASHION, ines, paris("2026-05-10 16:00"), JACKET)

    # base 125, new collection +2 x 125 = 250, weekend x2: +375
    assert points_by_rule(result) == {"base": 125, "new-collection": 250, "weekend": 375}
    assert result.points_earned == 750


def test_points_are_rounded_down_once_per_basket_not_per_line(ctx):
    open_program(ctx, FASHION)
    ines = a_customer(ctx, FASHION, "email:ines@example.com")

    result = buy(ctx, FASHION, ines, paris("2026-05-05 14:00"),
                 an_item("TEE-WHITE", "19.99", "3.33", category="tops"),  # 16.66 net
                 an_item("SOCKS-3", "8.99", "1.50", category="socks"))  # 7.49 net

    # floor(24.15) = 24, where rounding each line would give 16 + 7 = 23
    assert result.earn_base == "24.15"
    assert points_by_rule(result) == {"base": 24}


def test_denim_days_add_two_points_per_euro_on_denim_up_to_150_a_purchase(ctx):
    open_program(ctx, FASHION)
    ines = a_customer(ctx, FASHION, "email:ines@example.com")

    one_pair = buy(ctx, FASHION, ines, paris("2026-03-03 11:00"), JEANS)
    two_pairs = buy(ctx, FASHION, ines, paris("2026-03-03 11:30"),
                    an_item("JEANS-501", "89.99", "30.00", category="denim", quantity=2))

    # one pair: base floor(74.99) = 74, denim floor(2 x 74.99 = 149.98) = 149
    assert points_by_rule(one_pair) == {"base": 74, "denim-days": 149}
    # two pairs: base floor(149.98) = 149, denim floor(299.96) = 299, capped at 150
    assert points_by_rule(two_pairs) == {"base": 149, "denim-days": 150}
    assert explained(two_pairs, "denim-days")["cut"] == "capped at 150 per transaction"


def test_denim_days_run_through_their_last_day_and_stop_after_it(ctx):
    open_program(ctx, FASHION)
    ines = a_customer(ctx, FASHION, "email:ines@example.com")

    last_day = buy(ctx, FASHION, ines, paris("2026-03-15 20:00"), JEANS)  # a Sunday
    day_after = buy(ctx, FASHION, ines, paris("2026-03-16 10:00"), JEANS)

    # (74 + 149) x 2 on the last day, a Sunday; the base alone the day after
    assert points_by_rule(last_day) == {"base": 74, "denim-days": 149, "weekend": 223}
    assert points_by_rule(day_after) == {"base": 74}
    assert explained(day_after, "denim-days")["text"] == "outside its validity window"


def test_the_vip_evening_gives_vips_five_points_per_euro_and_nothing_else(ctx):
    open_program(ctx, FASHION)
    vip = a_customer(ctx, FASHION, "email:margaux@example.com", vip=True)
    regular = a_customer(ctx, FASHION, "email:ines@example.com")

    vip_evening = buy(ctx, FASHION, vip, paris("2026-11-19 19:30"), SNEAKERS)
    regular_evening = buy(ctx, FASHION, regular, paris("2026-11-19 19:45"), SNEAKERS)

    # 5 x 100 net; the shoe bonus is not evaluated
    assert points_by_rule(vip_evening) == {"vip-evening": 500}
    assert explained(vip_evening, "shoes")["text"] == (
        "not evaluated: rule vip-evening applied first")
    # 100 base + 100 for shoes, as on any Thursday
    assert points_by_rule(regular_evening) == {"base": 100, "shoes": 100}
    assert explained(regular_evening, "vip-evening")["text"] == "its conditions are not met"


def test_the_vip_evening_is_only_from_six_to_ten_in_paris(ctx):
    open_program(ctx, FASHION)
    vip = a_customer(ctx, FASHION, "email:margaux@example.com", vip=True)

    before = buy(ctx, FASHION, vip, paris("2026-11-19 17:59"), SNEAKERS)
    last_minute = buy(ctx, FASHION, vip, paris("2026-11-19 21:59"), SNEAKERS)
    after = buy(ctx, FASHION, vip, paris("2026-11-19 22:01"), SNEAKERS)

    assert points_by_rule(before) == {"base": 100, "shoes": 100}
    assert points_by_rule(last_minute) == {"vip-evening": 500}
    assert points_by_rule(after) == {"base": 100, "shoes": 100}


def test_points_wait_for_the_30_day_return_window_then_the_job_releases_them(ctx):
    open_program(ctx, FASHION)
    ines = a_customer(ctx, FASHION, "email:ines@example.com")

    result = buy(ctx, FASHION, ines, paris("2026-05-05 14:00"), SNEAKERS)  # 12:00 UTC

    assert (result.points_earned, result.points_pending, result.points_available) == (200, 200, 0)
    assert result.available_at == datetime(2026, 6, 4, 12, 0, tzinfo=UTC)
    # 24 months later, to the end of May 2028: gone as 1 June 2028 begins in Paris
    assert result.expires_at == paris("2028-06-01 00:00")
    with freeze_time(datetime(2026, 6, 4, 11, 59, 59, tzinfo=UTC)):
        assert release_pending(ctx).points == 0
    with freeze_time(datetime(2026, 6, 4, 12, 0, tzinfo=UTC)):
        assert release_pending(ctx).points == 200
    balance = balance_of(ctx, FASHION, ines, paris("2026-06-04 14:00"))
    assert (balance.available, balance.pending) == (200, 0)
    assert verify_ledger(ctx).ok


# -- the e-commerce store: events, first order, promo code, spend-based bonus ----------------------


def a_product(sku: str, price: str) -> PurchaseLine:
    return PurchaseLine(sku, 1, minor(price, "USD"))


HEADPHONES = a_product("HEADPHONES-BT", "59.99")
CASE = a_product("CASE-HARD", "19.99")
SWEATER = a_product("SWEATER-MERINO", "40.00")


def order(ctx: Context, member: Member, at: datetime, *lines: PurchaseLine,
          shipping: str = "0", **fields: Any) -> PurchaseRecorded:
    """A web order."""
    fields.setdefault("channel", "online")
    return buy(ctx, WEBSHOP, member, at, *lines, shipping=minor(shipping, "USD"), **fields)


def test_creating_an_account_earns_200_points_once(ctx):
    open_program(ctx, WEBSHOP)
    sam = a_customer(ctx, WEBSHOP, "email:sam@example.com")

    signed_up = post(ctx, WEBSHOP, sam, "signup", new_york("2026-02-01 10:00"))
    signed_up_again = post(ctx, WEBSHOP, sam, "signup", new_york("2026-02-03 10:00"))

    assert points_by_rule(signed_up) == {"signup": 200}
    assert signed_up.expires_at is None  # this program's points never expire
    assert signed_up_again.points_earned == 0
    assert explained(signed_up_again, "signup")["text"] == "already given to this member once"
    assert balance_of(ctx, WEBSHOP, sam, new_york("2026-02-03 10:00")).available == 200


def test_the_first_web_order_earns_a_bonus_and_shipping_earns_nothing(ctx):
    open_program(ctx, WEBSHOP)
    sam = a_customer(ctx, WEBSHOP, "email:sam@example.com")

    first = order(ctx, sam, new_york("2026-02-02 19:00"), HEADPHONES, CASE, shipping="7.95")
    second = order(ctx, sam, new_york("2026-02-10 19:00"), HEADPHONES, CASE, shipping="7.95")

    # 59.99 + 19.99 = 79.98 earns floor(79.98) = 79; the 7.95 of shipping earns nothing
    assert (first.total, first.earn_base) == ("87.93", "79.98")
    assert points_by_rule(first) == {"online": 79, "first-order": 100}
    assert points_by_rule(second) == {"online": 79}
    assert explained(second, "first-order")["text"] == "its conditions are not met"


def test_orders_placed_through_a_marketplace_earn_nothing(ctx):
    open_program(ctx, WEBSHOP)
    sam = a_customer(ctx, WEBSHOP, "email:sam@example.com")

    result = order(ctx, sam, new_york("2026-02-02 19:00"), HEADPHONES, channel="marketplace")

    assert result.points_earned == 0
    assert explained(result, "online")["text"] == "its conditions are not met"


def test_the_spring_code_earns_150_points_once_per_customer(ctx):
    open_program(ctx, WEBSHOP)
    sam = a_customer(ctx, WEBSHOP, "email:sam@example.com")
    order(ctx, sam, new_york("2026-03-01 12:00"), SWEATER)

    with_code = order(ctx, sam, new_york("2026-04-10 12:00"), SWEATER, promo_codes=("SPRING26",))
    again = order(ctx, sam, new_york("2026-04-20 12:00"), SWEATER, promo_codes=("SPRING26",))

    assert points_by_rule(with_code) == {"online": 40, "spring-promo": 150}
    assert points_by_rule(again) == {"online": 40}
    assert explained(again, "spring-promo")["text"] == "already given to this member once"


def test_the_spring_code_ends_with_20_june_in_new_york(ctx):
    open_program(ctx, WEBSHOP)
    late, later = (a_customer(ctx, WEBSHOP, "email:late@example.com"),
                   a_customer(ctx, WEBSHOP, "email:later@example.com"))

    # 23:30 in New York is already 21 June in UTC: the window is in the program's zone
    last_evening = order(ctx, late, new_york("2026-06-20 23:30"), SWEATER,
                         promo_codes=("SPRING26",))
    next_morning = order(ctx, later, new_york("2026-06-21 00:30"), SWEATER,
                         promo_codes=("SPRING26",))

    assert points_by_rule(last_evening) == {"online": 40, "first-order": 100,
                                            "spring-promo": 150}
    assert points_by_rule(next_morning) == {"online": 40, "first-order": 100}
    assert explained(next_morning, "spring-promo")["text"] == "outside its validity window"


def test_customers_who_spent_500_dollars_in_90_days_earn_half_as_much_again(ctx):
    open_program(ctx, WEBSHOP)
    sam = a_customer(ctx, WEBSHOP, "email:sam@example.com")
    coat, boots = a_product("COAT-WOOL", "300.00"), a_product("BOOTS-CHELSEA", "250.00")

    january = order(ctx, sam, new_york("2026-01-05 12:00"), coat)
    february = order(ctx, sam, new_york("2026-02-16 12:00"), boots)
    march = order(ctx, sam, new_york("2026-03-20 12:00"), a_product("BAG", "99.99"),
                  promo_codes=("SPRING26",))
    april = order(ctx, sam, new_york("2026-04-10 12:00"), a_product("SCARF", "100.00"))

    assert points_by_rule(january) == {"online": 300, "first-order": 100}
    # 300.00 spent in the 90 days before: not yet
    assert points_by_rule(february) == {"online": 250}
    assert explained(february, "loyal-customer")["text"] == "its conditions are not met"
    # 550.00 in the 90 days before: 99 + floor(99 x 0.5 = 49.5) = 49; the promo's 150 comes
    # after the multiplier, so it is not multiplied
    assert points_by_rule(march) == {"online": 99, "loyal-customer": 49, "spring-promo": 150}
    # since 10 January: 250.00 + 99.99 = 349.99, the January coat no longer counts
    assert points_by_rule(april) == {"online": 100}


def test_a_verified_review_earns_25_points_up_to_three_a_month(ctx):
    open_program(ctx, WEBSHOP)
    sam = a_customer(ctx, WEBSHOP, "email:sam@example.com")

    unverified = post(ctx, WEBSHOP, sam, "review", new_york("2026-04-02 09:00"), verified=False)
    april = [post(ctx, WEBSHOP, sam, "review", new_york(f"2026-04-{day} 09:00"), verified=True)
             for day in ("03", "10", "17", "24")]
    # 23:30 on 30 April in New York is 1 May in UTC: still April's cap
    last_night = post(ctx, WEBSHOP, sam, "review", new_york("2026-04-30 23:30"), verified=True)
    may = post(ctx, WEBSHOP, sam, "review", new_york("2026-05-01 09:00"), verified=True)

    assert unverified.points_earned == 0
    assert explained(unverified, "review")["text"] == "its conditions are not met"
    assert [review.points_earned for review in april] == [25, 25, 25, 0]
    assert explained(april[3], "review")["cut"] == "capped at 75 per member per month (0 left)"
    assert last_night.points_earned == 0
    assert points_by_rule(may) == {"review": 25}
    assert balance_of(ctx, WEBSHOP, sam, new_york("2026-05-01 09:00")).available == 100


@pytest.mark.parametrize("event_type", sorted(ENGINE_EVENTS))
def test_events_the_engine_fires_itself_cannot_be_posted_to_earn_their_rewards(ctx,
                                                                                event_type):
    open_program(ctx, WEBSHOP)
    sam = a_customer(ctx, WEBSHOP, "email:sam@example.com")

    with pytest.raises(InvalidRequest) as refused:
        record_event(ctx, RecordEvent(WEBSHOP, MemberRef(member_id=sam.id), event_type,
                                      "forged-1", datetime.now(UTC), {}))

    assert refused.value.field == "type"
    assert balance_of(ctx, WEBSHOP, sam, datetime.now(UTC)).available == 0


def test_each_referred_friend_earns_500_points_up_to_five_a_year(ctx):
    open_program(ctx, WEBSHOP)
    sam = a_customer(ctx, WEBSHOP, "email:sam@example.com")

    this_year = [post(ctx, WEBSHOP, sam, "referral_completed",
                      new_york(f"2026-{month:02d}-15 12:00"), friend=f"friend-{month}")
                 for month in range(1, 7)]
    next_year = post(ctx, WEBSHOP, sam, "referral_completed", new_york("2027-01-04 12:00"),
                     friend="friend-7")

    assert [referral.points_earned for referral in this_year] == [500] * 5 + [0]
    assert explained(this_year[5], "referral")["cut"] == (
        "capped at 2500 per member per year (0 left)")
    assert points_by_rule(next_year) == {"referral": 500}
    assert balance_of(ctx, WEBSHOP, sam, new_york("2027-01-04 12:00")).available == 3000
