"""How numbers and counts read in human output: one style everywhere, pure.

Human output groups thousands (`1,000 credits`, `2,000/hour`) and says `1 credit` / `2 credits`;
`--json` keeps plain integers and never goes through here.
"""

from __future__ import annotations


def number(value: int | float) -> str:
    """`1000` → `1,000`; floats keep up to two decimals (`0.5`, `1,234.25`)."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def count(value: int, singular: str, plural: str | None = None) -> str:
    """`1 credit`, `0 credits`, `1,000 credits`; `plural` for irregular words (`1 entry`)."""
    word = singular if value == 1 else (plural or singular + "s")
    return f"{number(value)} {word}"


def rates(per_minute: int, per_hour: int, per_day: int) -> str:
    """A rate-limit tier's limits: `60/min, 2,000/hour, 20,000/day` (requests)."""
    return f"{number(per_minute)}/min, {number(per_hour)}/hour, {number(per_day)}/day"
