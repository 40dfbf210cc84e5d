"""The curriculum's own tables: domains, their columns, and how each column's values are drawn.

None of these names is a table or column of the evaluation's notebook tasks or of the quickstart
(`tests/test_curriculum.py` checks it), so a model that answers the evaluation's questions right
has learnt to read a schema, not to remember one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["code", "category", "int", "float", "date", "bool"]
"""How a column's values are drawn: an id like ``IT-0042``, a label from a short list, whole
numbers, decimals, dates, or true/false."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column a domain's tables may have.

    `low`/`high` bound numbers, `decimals` rounds decimals, `labels` are a category's values,
    `prefix` starts a code, and `start` is a date column's first day.
    """

    name: str
    kind: ColumnKind
    low: float = 0
    high: float = 100
    decimals: int = 2
    labels: tuple[str, ...] = ()
    prefix: str = ""
    start: str = "2024-01-01"


@dataclass(frozen=True)
class Domain:
    """A kind of table, the variable names people give it, and the columns it may have."""

    variables: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]


def _c(name: str, *labels: str) -> ColumnSpec:
    return ColumnSpec(name, "category", labels=labels)


def _i(name: str, low: float, high: float) -> ColumnSpec:
    return ColumnSpec(name, "int", low=low, high=high)


def _f(name: str, low: float, high: float, decimals: int = 2) -> ColumnSpec:
    return ColumnSpec(name, "float", low=low, high=high, decimals=decimals)


def _d(name: str, start: str) -> ColumnSpec:
    return ColumnSpec(name, "date", start=start)


def _code(name: str, prefix: str) -> ColumnSpec:
    return ColumnSpec(name, "code", prefix=prefix)


def _b(name: str) -> ColumnSpec:
    return ColumnSpec(name, "bool")


DOMAINS: dict[str, Domain] = {
    "inventory": Domain(
        ("inventory", "stock", "inv"),
        (
            _code("item_code", "IT"),
            _c("warehouse", "Leeds", "Porto", "Lyon", "Graz", "Turku"),
            _i("stock_level", 0, 500),
            _i("reorder_point", 10, 80),
            _f("unit_cost", 0.5, 90),
            _d("last_counted", "2023-06-01"),
            _b("discontinued"),
        ),
    ),
    "students": Domain(
        ("students", "grades", "cohort_df"),
        (
            _code("student_no", "S"),
            _c("cohort", "2021", "2022", "2023"),
            _c("programme", "physics", "history", "law", "biology", "music"),
            _f("exam_score", 20, 100, 1),
            _f("attendance", 0.4, 1.0, 2),
            _i("credits", 0, 180),
            _d("enrolled_on", "2021-09-01"),
            _b("scholarship"),
        ),
    ),
    "flights": Domain(
        ("flights", "departures", "legs"),
        (
            _code("flight_no", "FL"),
            _c("origin", "OSL", "LIS", "DUB", "ATH", "YUL"),
            _c("destination", "BER", "MAD", "CPH", "VIE", "SFO"),
            _i("delay_min", 0, 240),
            _f("distance_km", 150, 9000, 1),
            _i("seats_sold", 20, 300),
            _d("departed", "2024-02-01"),
        ),
    ),
    "sensors": Domain(
        ("sensors", "telemetry", "probe_log"),
        (
            _code("sensor_id", "PR"),
            _c("site", "dock", "roof", "lab", "basement"),
            _f("reading", -5, 45, 2),
            _f("battery_v", 2.8, 4.2, 2),
            _c("status", "ok", "fault", "idle"),
            _d("logged", "2024-05-01"),
        ),
    ),
    "employees": Domain(
        ("employees", "staff", "hr"),
        (
            _code("staff_id", "E"),
            _c("department", "finance", "legal", "support", "research", "design"),
            _f("salary", 28000, 140000, 0),
            _i("tenure_years", 0, 30),
            _f("rating", 1, 5, 1),
            _d("hired", "2010-01-01"),
            _b("remote"),
        ),
    ),
    "books": Domain(
        ("books", "catalogue", "library"),
        (
            _code("isbn", "978-"),
            _c("genre", "mystery", "poetry", "travel", "cookery", "fantasy"),
            _i("pages", 80, 900),
            _f("stars", 1, 5, 1),
            _i("copies", 0, 40),
            _d("published", "1990-01-01"),
        ),
    ),
    "trips": Domain(
        ("trips", "rides", "journeys"),
        (
            _code("trip_id", "T"),
            _c("city", "Quito", "Perth", "Accra", "Osaka", "Bergen"),
            _f("fare", 3, 85, 2),
            _f("km", 0.5, 40, 1),
            _i("passengers", 1, 6),
            _f("tip", 0, 15, 2),
            _d("pickup_day", "2024-03-01"),
        ),
    ),
    "loans": Domain(
        ("loans", "credit", "book_of_loans"),
        (
            _code("loan_ref", "LN"),
            _c("branch", "east_side", "harbour", "old_town", "airport"),
            _f("amount", 500, 50000, 0),
            _i("term_months", 6, 120),
            _f("interest_rate", 1.5, 19.9, 2),
            _b("defaulted"),
            _d("issued", "2019-01-01"),
        ),
    ),
    "shipments": Domain(
        ("shipments", "parcels", "freight"),
        (
            _code("tracking_code", "TR"),
            _c("carrier", "swiftpost", "bluewing", "cargoline"),
            _i("weight_g", 50, 30000),
            _f("postage", 1.2, 60, 2),
            _i("days_in_transit", 1, 21),
            _d("shipped_on", "2024-04-01"),
        ),
    ),
    "visits": Domain(
        ("visits", "sessions", "web_log"),
        (
            _code("visitor", "V"),
            _c("page", "home", "pricing", "docs", "blog", "signup"),
            _i("duration_s", 2, 1800),
            _b("bounced"),
            _c("country", "NO", "PT", "KE", "CA", "JP"),
            _d("visit_day", "2024-06-01"),
        ),
    ),
    "crops": Domain(
        ("crops", "harvest", "fields"),
        (
            _code("field_id", "F"),
            _c("crop", "barley", "rye", "lentil", "maize", "oats"),
            _f("yield_t", 0.5, 12, 2),
            _f("area_ha", 1, 80, 1),
            _i("irrigation_mm", 0, 600),
            _d("sown", "2023-03-01"),
        ),
    ),
    "songs": Domain(
        ("songs", "tracks", "playlist"),
        (
            _code("track_id", "TK"),
            _c("artist", "Lumen", "Okapi", "Vesna", "Harbor"),
            _i("plays", 0, 90000),
            _i("length_s", 90, 420),
            _b("explicit"),
            _d("released", "2015-01-01"),
        ),
    ),
    "energy": Domain(
        ("energy", "meters", "usage"),
        (
            _code("meter", "M"),
            _c("building", "north_wing", "annex", "gym", "library_hall"),
            _f("kwh", 10, 2000, 1),
            _f("peak_kw", 1, 90, 1),
            _c("tariff", "day", "night", "flat"),
            _d("billing_month", "2023-01-01"),
        ),
    ),
    "tickets": Domain(
        ("tickets", "issues", "helpdesk"),
        (
            _code("ticket", "HD"),
            _c("team", "network", "billing", "mobile", "web"),
            _c("priority", "low", "medium", "high"),
            _f("hours_open", 0.2, 200, 1),
            _i("reopened", 0, 4),
            _b("resolved"),
            _d("opened", "2024-01-15"),
        ),
    ),
    "matches": Domain(
        ("matches", "fixtures", "league"),
        (
            _code("match_no", "MX"),
            _c("home_team", "Rovers", "Athletic", "United", "Wanderers"),
            _i("home_goals", 0, 6),
            _i("away_goals", 0, 6),
            _i("attendance", 800, 60000),
            _d("played", "2023-08-01"),
        ),
    ),
}

GENERIC_VARIABLES = ("df", "data", "table", "frame", "raw", "clean_df")
"""Names a table gets whatever it holds."""
