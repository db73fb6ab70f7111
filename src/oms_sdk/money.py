"""Exact money: integer minor units with an ISO 4217 currency.

An amount is never a float and never rounded by accident. Parsing text that has more
decimals than the currency allows ("10.5" JPY, "1.2345" KWD) is an error; splitting an
amount (``allocate``) hands out every minor unit, none lost and none created.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Underflow,
)
from fractions import Fraction
from typing import Any, Final

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from .errors import CurrencyMismatch, MoneyError

__all__ = ["CURRENCY_EXPONENTS", "Money", "currency_exponent"]

#: ISO 4217 minor-unit exponents of the currencies oms-sdk accepts.
CURRENCY_EXPONENTS: Final[dict[str, int]] = {
    # exponent 2
    "AED": 2, "ARS": 2, "AUD": 2, "BRL": 2, "CAD": 2, "CHF": 2, "CNY": 2, "COP": 2,
    "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "ILS": 2,
    "INR": 2, "MAD": 2, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2, "PEN": 2, "PHP": 2,
    "PLN": 2, "RON": 2, "RUB": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2,
    "TWD": 2, "UAH": 2, "USD": 2, "ZAR": 2, "NGN": 2, "PKR": 2, "QAR": 2, "BGN": 2,
    # exponent 0
    "JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "VND": 0, "XOF": 0, "XAF": 0, "UGX": 0,
    "PYG": 0,
    # exponent 3
    "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3, "LYD": 3, "IQD": 3,
}  # fmt: skip

#: Decimal context for exact work: no rounding, no overflow, every signal trapped. Only
#: operations whose result is exact by construction (``scaleb``, comparison) run under it.
_EXACT: Final[Context] = Context(
    prec=MAX_PREC,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    traps=[InvalidOperation, DivisionByZero, Inexact, Rounded, Overflow, Underflow],
)

#: Largest number of digits ``Money.parse`` builds a minor-unit int from ("1e999999999"
#: would otherwise allocate a billion-digit int). Matches Python's int-to-str limit.
_MAX_MINOR_DIGITS: Final[int] = 4300

#: Largest decimal exponent (either sign) of a ``percent``/``included_tax`` rate.
_MAX_RATE_EXPONENT: Final[int] = 100

_SYMBOLS: Final[dict[str, str]] = {
    "EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "CNY": "CN¥", "INR": "₹", "KRW": "₩",
}  # fmt: skip


def currency_exponent(currency: str) -> int:
    """Number of decimals of ``currency``; raises ``MoneyError`` for an unknown code."""
    if not isinstance(currency, str):
        raise MoneyError(f"currency must be an ISO 4217 code (str), not {type(currency).__name__}")
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r} (expected an ISO 4217 code)") from None


def _rate(rate: Decimal | int) -> Fraction:
    """``rate`` as an exact fraction; floats, bools, NaN, infinity, absurd exponents refused."""
    if isinstance(rate, bool) or not isinstance(rate, Decimal | int):
        raise MoneyError(f"a rate must be a Decimal or an int, not {type(rate).__name__}")
    if isinstance(rate, Decimal):
        if not rate.is_finite():
            raise MoneyError(f"rate {rate} is not finite")
        exponent = rate.as_tuple().exponent
        if isinstance(exponent, int) and abs(exponent) > _MAX_RATE_EXPONENT:
            raise MoneyError(f"rate {rate} is out of range")
    return Fraction(rate)


class Money:
    """An amount in minor units of one currency. Immutable, hashable, totally ordered per currency.

    >>> Money.parse("10.50", "EUR")
    Money(1050, 'EUR')
    >>> Money.parse("10.50", "EUR").format()
    '€10.50'
    """

    __slots__ = ("_currency", "_minor")

    _minor: int
    _currency: str

    def __init__(self, minor: int, currency: str) -> None:
        if type(minor) is not int:  # the common case checked first: Money is made often
            if isinstance(minor, bool) or not isinstance(minor, int):
                raise MoneyError(f"minor units must be an int, not {type(minor).__name__}")
            minor = int(minor)  # an int subclass (IntEnum) becomes int
        if type(currency) is not str or currency not in CURRENCY_EXPONENTS:
            currency_exponent(currency)  # raises the error that says why
        _set_minor(self, minor)
        _set_currency(self, currency)

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, value: str | int | Decimal, currency: str) -> Money:
        """Read a major-unit amount ("10.50", 10, Decimal("10.5")) exactly, or refuse it.

        Floats are refused: 0.1 has no exact binary value, so no float is ever money.
        """
        if isinstance(value, float):
            raise MoneyError(f"refusing float {value!r}: give money as a string, int or Decimal")
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise MoneyError(f"cannot read money from {type(value).__name__}")
        exponent = currency_exponent(currency)
        try:
            amount = (
                Decimal(value.strip().replace("_", ""))
                if isinstance(value, str)
                else (Decimal(value))
            )
        except InvalidOperation:
            raise MoneyError(f"{value!r} is not an amount") from None
        if not amount.is_finite():
            raise MoneyError(f"{value!r} is not a finite amount")
        if amount.is_zero():
            return cls(0, currency)
        # Exact: the default context would round to 28 digits (silently changing the amount).
        minor = amount.scaleb(exponent, _EXACT)
        if minor != minor.to_integral_value(context=_EXACT):
            raise MoneyError(
                f"{value} has more decimals than {currency} allows ({exponent}); "
                "it would have to be rounded"
            )
        if minor.adjusted() >= _MAX_MINOR_DIGITS:
            raise MoneyError(f"{value} is too large an amount")
        return cls(int(minor), currency)

    # -- accessors ------------------------------------------------------------------------

    @property
    def minor(self) -> int:
        """The amount in minor units (cents for EUR, yen for JPY, fils for KWD)."""
        return self._minor

    @property
    def currency(self) -> str:
        return self._currency

    @property
    def exponent(self) -> int:
        return CURRENCY_EXPONENTS[self._currency]

    @property
    def amount(self) -> Decimal:
        """The amount in major units as an exact Decimal."""
        return Decimal(self._minor).scaleb(-self.exponent, _EXACT)

    def is_zero(self) -> bool:
        return self._minor == 0

    # -- arithmetic -----------------------------------------------------------------------

    def _same(self, other: object, op: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {op} Money and {type(other).__name__}")
        if other._currency != self._currency:
            raise CurrencyMismatch(f"cannot {op} {self._currency} and {other._currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self._minor + self._same(other, "add")._minor, self._currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self._minor - self._same(other, "subtract")._minor, self._currency)

    def __neg__(self) -> Money:
        return Money(-self._minor, self._currency)

    def __mul__(self, factor: int) -> Money:
        """Multiply by an integer quantity; fractional factors need ``percent`` or ``allocate``."""
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise MoneyError(f"Money can only be multiplied by an int, not {type(factor).__name__}")
        return Money(self._minor * factor, self._currency)

    __rmul__ = __mul__

    def min(self, other: Money) -> Money:
        return self if self <= other else other

    def max(self, other: Money) -> Money:
        return self if self >= other else other

    def percent(self, rate: Decimal | int) -> Money:
        """``rate`` percent of this amount, rounded half-even to the minor unit.

        The rounding is explicit: use it for a computed share (a 10% discount, a tax), and
        ``allocate`` when an amount must be split with nothing lost. The share is computed as
        an exact fraction and rounded once (``round`` on a ``Fraction`` is half-even).
        """
        return Money(round(self._minor * _rate(rate) / 100), self._currency)

    def included_tax(self, rate: Decimal | int) -> Money:
        """The tax contained in this tax-included amount at ``rate`` percent (half-even)."""
        exact_rate = _rate(rate)
        if exact_rate < 0:
            raise MoneyError(f"a tax rate cannot be negative ({rate})")
        return Money(round(self._minor * exact_rate / (100 + exact_rate)), self._currency)

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split this amount in proportion to integer ``weights``; the parts sum exactly to it.

        Largest-remainder method: every part gets its floor share, then the minor units left
        over go one each to the parts with the largest remainders (earliest first on ties).
        """
        if not weights:
            raise MoneyError("cannot allocate over no weights")
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 0 for w in weights):
            raise MoneyError("allocation weights must be non-negative ints")
        total_weight = sum(weights)
        if total_weight == 0:
            raise MoneyError("allocation weights must not all be zero")
        sign = -1 if self._minor < 0 else 1
        magnitude = abs(self._minor)
        shares = [magnitude * w // total_weight for w in weights]
        remainders = [magnitude * w % total_weight for w in weights]
        leftover = magnitude - sum(shares)
        for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:leftover]:
            shares[index] += 1
        return [Money(sign * share, self._currency) for share in shares]

    # -- comparison -----------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        return self._minor == other._minor and self._currency == other._currency

    def __hash__(self) -> int:
        return hash((self._minor, self._currency))

    def __lt__(self, other: Money) -> bool:
        return self._minor < self._same(other, "compare")._minor

    def __le__(self, other: Money) -> bool:
        return self._minor <= self._same(other, "compare")._minor

    def __gt__(self, other: Money) -> bool:
        return self._minor > self._same(other, "compare")._minor

    def __ge__(self, other: Money) -> bool:
        return self._minor >= self._same(other, "compare")._minor

    def __bool__(self) -> bool:
        return self._minor != 0

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Money is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Money is immutable")

    def __reduce__(self) -> tuple[type[Money], tuple[int, str]]:
        # copy, deepcopy and pickle rebuild through __init__: the default slot-state
        # restore would go through __setattr__ and fail.
        return (Money, (self._minor, self._currency))

    # -- display --------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Money({self._minor}, {self._currency!r})"

    def __str__(self) -> str:
        return f"{self.amount:,.{self.exponent}f} {self._currency}"

    def format(self, *, symbol: bool = True) -> str:
        """Human display: ``€1,234.50``, ``¥1,000``, ``1.250 KWD``, ``-$3.00``."""
        text = f"{self.amount.copy_abs():,.{self.exponent}f}"  # abs() would round to 28 digits
        sign = "-" if self._minor < 0 else ""
        prefix = _SYMBOLS.get(self._currency) if symbol else None
        return f"{sign}{prefix}{text}" if prefix else f"{sign}{text} {self._currency}"

    def to_dict(self) -> dict[str, Any]:
        return {"minor": self._minor, "currency": self._currency}

    # -- pydantic -------------------------------------------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate from ``Money`` or ``{"minor": int, "currency": str}``; dump as the latter."""

        def from_dict(value: dict[str, Any]) -> Money:
            return cls(value["minor"], value["currency"])

        shape = core_schema.typed_dict_schema(
            {
                "minor": core_schema.typed_dict_field(core_schema.int_schema(strict=True)),
                "currency": core_schema.typed_dict_field(core_schema.str_schema()),
            }
        )
        dict_schema = core_schema.chain_schema(
            [shape, core_schema.no_info_plain_validator_function(from_dict)]
        )
        return core_schema.json_or_python_schema(
            json_schema=dict_schema,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), dict_schema]
            ),
            # return_schema: OrderView has a JSON Schema in serialization mode too (OpenAPI).
            serialization=core_schema.plain_serializer_function_ser_schema(
                cls.to_dict, return_schema=shape
            ),
        )


# The slots' own setters: ``__init__`` cannot assign (``__setattr__`` refuses, to keep Money
# immutable), and calling these is cheaper than ``object.__setattr__``; Money is made often.
_set_minor = vars(Money)["_minor"].__set__
_set_currency = vars(Money)["_currency"].__set__
