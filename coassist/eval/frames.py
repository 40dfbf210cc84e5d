"""The DataFrames the notebook tasks ask about, built in code so every run sees the same data.

Small, realistic tables with the flaws real ones have (missing values, a duplicated row,
mixed dtypes), so that questions about them have one right answer that can be computed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

NaN = np.nan


def sales() -> pd.DataFrame:
    """Twelve orders: `region` and `discount` have gaps, `quantity` has one."""
    return pd.DataFrame(
        {
            "order_id": range(1001, 1013),
            "region": ["north", "south", None, "east", "west", "north", "south", "east", "west", "north", "east", "south"],
            "product": ["laptop", "phone", "tablet", "phone", "laptop", "monitor", "phone", "tablet", "monitor", "laptop", "phone", "tablet"],
            "quantity": [2, 5, 1, 3, NaN, 4, 6, 2, 1, 3, 7, 2],
            "unit_price": [899.0, 499.0, 329.0, 499.0, 899.0, 219.0, 479.0, 329.0, 199.0, 949.0, 499.0, 349.0],
            "discount": [0.1, NaN, 0.0, 0.05, NaN, 0.0, 0.15, NaN, 0.0, 0.1, 0.05, 0.0],
            "order_date": pd.date_range("2024-03-01", periods=12, freq="D"),
        }
    )


def patients() -> pd.DataFrame:
    """Ten patients: `diagnosis` is mostly empty, `weight_kg` and `systolic_bp` have gaps."""
    return pd.DataFrame(
        {
            "patient_id": ["P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08", "P09", "P10"],
            "age": [34, 58, 41, 72, 29, 65, 50, 47, 38, 61],
            "sex": ["F", "M", "F", "M", "F", "F", "M", "M", "F", "M"],
            "weight_kg": [61.5, 88.0, NaN, 79.2, 55.1, NaN, 92.4, 70.3, 64.8, 83.0],
            "systolic_bp": [118.0, 142.0, 125.0, NaN, 110.0, 150.0, 135.0, 128.0, 121.0, 139.0],
            "smoker": ["no", "yes", "no", "no", "yes", "no", "no", "yes", "no", "no"],
            "diagnosis": ["asthma", None, None, "hypertension", None, "diabetes", None, None, "asthma", "hypertension"],
        }
    )


def weather() -> pd.DataFrame:
    """Two weeks of daily readings at one station: `wind_kmh` and `temp_c` have gaps."""
    return pd.DataFrame(
        {
            "obs_date": pd.date_range("2024-07-01", periods=14, freq="D"),
            "station": ["KEW"] * 14,
            "temp_c": [18.2, 19.5, 21.0, NaN, 23.4, 24.1, 22.8, 20.3, 19.9, 25.6, 26.2, 24.7, 21.5, 20.1],
            "rainfall_mm": [0.0, 2.4, 0.0, 5.1, 0.0, 0.0, 1.2, 8.6, 3.3, 0.0, 0.0, 0.4, 6.0, 2.2],
            "humidity_pct": [71, 78, 65, 88, 60, 58, 66, 91, 84, 55, 52, 63, 86, 80],
            "wind_kmh": [12.0, 18.5, NaN, 22.1, 9.4, 7.7, NaN, 25.3, 16.0, 8.8, 6.5, 11.2, 19.4, 14.6],
        }
    )


def orders() -> pd.DataFrame:
    """Eight order lines with two exact duplicates (a double-submitted form, pasted twice)."""
    return pd.DataFrame(
        {
            "customer_id": [17, 23, 17, 42, 23, 17, 8, 42],
            "sku": ["A-100", "B-220", "C-310", "A-100", "B-220", "C-310", "D-400", "A-100"],
            "qty": [1, 2, 1, 5, 2, 1, 3, 5],
            "price": [9.99, 24.5, 4.25, 9.99, 24.5, 4.25, 14.0, 9.99],
        }
    )


def regions() -> pd.DataFrame:
    """The managers of the sales regions, for merge tasks."""
    return pd.DataFrame({"region": ["north", "south", "east", "west"], "manager": ["Ana", "Ben", "Chen", "Dara"]})


FRAMES: dict[str, Callable[[], pd.DataFrame]] = {
    "sales": sales,
    "patients": patients,
    "weather": weather,
    "orders": orders,
    "regions": regions,
}
"""The frames by the variable name the task templates use for them."""


def build_frames() -> dict[str, pd.DataFrame]:
    """A fresh copy of every frame (a task's cell may modify what it is given)."""
    return {name: build() for name, build in FRAMES.items()}
