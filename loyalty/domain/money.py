"""Money and points as exact values.

Money is an integer number of minor units plus an ISO 4217 currency code at every boundary
(storage and API), and ``Decimal`` inside calculations. Points are plain integers. Floats never
appear: a float cannot say 0.10 exactly, and an engine that treats points as money must not guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum

from loyalty.domain.errors import InvalidAmount

# Largest amount, in minor units, that a line or a basket may reach (10 trillion euros): far
# beyond any real basket, and far inside the 64-bit integers in which amounts are stored.
MAX_MINOR_UNITS = 10**15

# ISO 4217 currencies whose minor unit is not 1/100. Every other well-formed code has two decimals.
_ZERO_DECIMALS = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX")
_ZERO_DECIMALS_TOO = ("UYI", "VND", "VUV", "XAF", "XOF", "XPF")
_THREE_DECIMALS = ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")
_EXPONENTS = {
    **dict.fromkeys(_ZERO_DECIMALS + _ZERO_DECIMALS_TOO, 0),
    **dict.fromkeys(_THREE_DECIMALS, 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,4})?")  # ASCII digits only, whole string


def validate_currency(code: str) -> str:
    """Return ``code`` if it has the shape of an ISO 4217 code, else raise ``ValueError``."""
    if not _CURRENCY.match(code):
        raise ValueError(f"{code!r} is not an ISO 4217 currency code (three capital letters)")
    return code


def currency_exponent(code: str) -> int:
    """Number of decimals of the currency's minor unit (2 for EUR, 0 for JPY, 3 for KWD)."""
    return _EXPONENTS.get(validate_currency(code), 2)


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``minor`` units of ``currency`` (1234 EUR = 12.34 EUR)."""

    minor: int
    currency: str

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a decimal string such as ``"12.34"``.

        An amount the currency cannot hold exactly (``"1.234"`` EUR) is an error, never a rounding;
        trailing zeros (``"1.230"``) are exact and accepted.
        """
        exponent = currency_exponent(currency)
        if not isinstance(text, str) or not _DECIMAL.fullmatch(text):
            raise InvalidAmount(f'{text!r} is not a decimal amount such as "12.34"')
        value = Decimal(text)
        minor = value.scaleb(exponent)
        if minor != minor.to_integral_value():
            raise InvalidAmount(
                f"{currency} amounts have at most {exponent} decimals, not {text!r}"
            )
        return cls(int(minor), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def to_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-currency_exponent(self.currency))

    def __str__(self) -> str:
        return format_minor(self.minor, self.currency)


def format_minor(minor: int, currency: str) -> str:
    """The API's decimal string of an amount: ``format_minor(1234, "EUR") == "12.34"``
    (``format_minor(-5, "EUR") == "-0.05"``, ``format_minor(1234, "JPY") == "1234"``). In
    whole numbers: every answer formats two or three amounts."""
    exponent = currency_exponent(currency)
    if not exponent:
        return str(minor)
    whole, fraction = divmod(abs(minor), 10**exponent)
    return f"{'-' if minor < 0 else ''}{whole}.{fraction:0{exponent}d}"


class RoundingMode(StrEnum):
    """How a fractional number of points becomes an integer; every rounding names one."""

    FLOOR = "floor"
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    CEIL = "ceil"

    @property
    def decimal_rounding(self) -> str:
        """The ``decimal`` module's name for this mode (``ROUND_FLOOR``...)."""
        return _DECIMAL_ROUNDING[self]

    def round(self, value: Decimal) -> int:
        """Round ``value`` to whole points in this mode (floor and ceil go toward -inf and +inf)."""
        return int(value.to_integral_value(rounding=_DECIMAL_ROUNDING[self]))


_DECIMAL_ROUNDING = {
    RoundingMode.FLOOR: ROUND_FLOOR,
    RoundingMode.HALF_UP: ROUND_HALF_UP,
    RoundingMode.HALF_EVEN: ROUND_HALF_EVEN,
    RoundingMode.CEIL: ROUND_CEILING,
}
