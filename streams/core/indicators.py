"""Receipt indicators: which counters a received dossier adds to, and the rates over them.

Counters are int64 columns of a bucket vector, in the order of :data:`RECEIPT_COUNTERS`.
Rates are fractions in [0, 1] (``None`` when the denominator is zero), following domain.md:

- online rate = online receipts / receipts;
- remote rate = online receipts not submitted by a one-stop officer / receipts (proposed
  definition of "trực tuyến từ xa");
- via-national-portal rate = receipts through the national portal / receipts;
- online payment rate = fees paid online / receipts with a fee.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

RECEIPT_COUNTERS: Final[tuple[str, ...]] = (
    "received",
    "online",
    "remote",
    "via_national_portal",
    "fee_dossiers",
    "online_payment",
)
N_COUNTERS: Final = len(RECEIPT_COUNTERS)
COUNTER_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(RECEIPT_COUNTERS)}

RATES: Final[dict[str, tuple[str, str]]] = {
    "online_rate": ("online", "received"),
    "remote_rate": ("remote", "received"),
    "via_national_portal_rate": ("via_national_portal", "received"),
    "online_payment_rate": ("online_payment", "fee_dossiers"),
}
"""Rate name → (numerator counter, denominator counter)."""


def receipt_vector(event: dict[str, Any]) -> npt.NDArray[np.int64]:
    """Counter increments (one row of :data:`RECEIPT_COUNTERS`) for one received event."""
    online = event["channel"] == "online"
    fee = event["fee_payment"] != "none"
    return np.array(
        [
            1,
            online,
            online and event["submitter_type"] != "officer",
            bool(event["via_national_portal"]),
            fee,
            event["fee_payment"] == "online",
        ],
        dtype=np.int64,
    )


def receipt_matrix(events: list[dict[str, Any]]) -> npt.NDArray[np.int64]:
    """Counter increments for many received events: shape ``(len(events), N_COUNTERS)``."""
    out = np.zeros((len(events), N_COUNTERS), dtype=np.int64)
    if not events:
        return out
    channel = np.array([e["channel"] for e in events])
    submitter = np.array([e["submitter_type"] for e in events])
    fee = np.array([e["fee_payment"] for e in events])
    online = channel == "online"
    out[:, 0] = 1
    out[:, 1] = online
    out[:, 2] = online & (submitter != "officer")
    out[:, 3] = np.fromiter((bool(e["via_national_portal"]) for e in events), bool, len(events))
    out[:, 4] = fee != "none"
    out[:, 5] = fee == "online"
    return out


def rates(counts: npt.NDArray[np.int64] | list[int]) -> dict[str, float | None]:
    """Every rate of :data:`RATES` from one counter vector; ``None`` where undefined."""
    result: dict[str, float | None] = {}
    for name, (num, den) in RATES.items():
        d = int(counts[COUNTER_INDEX[den]])
        result[name] = int(counts[COUNTER_INDEX[num]]) / d if d else None
    return result
