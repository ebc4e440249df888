"""Indicators: the counters a dossier adds to its receipt-time buckets, and the rates over them.

Counters are int64 columns of a bucket vector, in the order of :data:`COUNTERS`. Every counter
is attributed to the window of the dossier's *receipt* time, as docs/domain.md says, also when the
event that moves it (a result, a feedback) comes later. Rates are fractions in [0, 1] (``None``
when the denominator is zero), except ``avg_processing_s`` (seconds):

- online rate = online receipts / receipts;
- remote rate = online receipts not submitted by a one-stop officer / receipts (proposed
  definition of "trực tuyến từ xa");
- via-national-portal rate = receipts through the national portal / receipts;
- online payment rate = dossiers with a fee paid online at any step (the receipt's
  ``fee_payment`` is ``online`` or the result says ``paid_online``) / dossiers with a fee (the
  receipt names one, or the result says it was paid online);
- on-time rate = dossiers finished by their due time / (finished dossiers + open dossiers past
  their due time) (QĐ 766 §2.1: finished_at ≤ due_at; still-open dossiers past due count late);
- average processing time = Σ(finished_at − received time) / finished dossiers, seconds;
- fully-online rate (Decree 42/2022) = online receipts of level-4 procedures whose result went
  out electronically, or by post when the receipt asked for it (``postal_return`` and a
  ``postal`` result channel) / receipts;
- digitisation rate = results with digitised components and an electronic result / results;
- satisfaction rate = dossiers whose rating is satisfied or very satisfied / dossiers with a
  rating: one rating per dossier, its latest by ``(event_time, event_id)``, so ``feedback`` counts
  rated dossiers, not feedback events (a later rating replaces the earlier one's counts).

These are the period definitions of docs/assessment.md, applied to the live windows too.
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
"""Counters a received event sets (the first columns of every bucket vector)."""
LIFECYCLE_COUNTERS: Final[tuple[str, ...]] = (
    "finished",
    "finished_on_time",
    "overdue_open",
    "processing_ms_sum",
    "fully_online",
    "results",
    "results_digitised",
    "feedback",
    "satisfied",
)
"""Counters moved by later lifecycle events or by the passing of due times.

``processing_ms_sum`` is in milliseconds; ``overdue_open`` can go down again (a dossier past due
that then finishes moves to ``finished``)."""
COUNTERS: Final[tuple[str, ...]] = RECEIPT_COUNTERS + LIFECYCLE_COUNTERS
N_COUNTERS: Final = len(COUNTERS)
COUNTER_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(COUNTERS)}

RATES: Final[dict[str, tuple[str, tuple[str, ...], float]]] = {
    "online_rate": ("online", ("received",), 1.0),
    "remote_rate": ("remote", ("received",), 1.0),
    "via_national_portal_rate": ("via_national_portal", ("received",), 1.0),
    "online_payment_rate": ("online_payment", ("fee_dossiers",), 1.0),
    "on_time_rate": ("finished_on_time", ("finished", "overdue_open"), 1.0),
    "avg_processing_s": ("processing_ms_sum", ("finished",), 0.001),
    "fully_online_rate": ("fully_online", ("received",), 1.0),
    "digitisation_rate": ("results_digitised", ("results",), 1.0),
    "satisfaction_rate": ("satisfied", ("feedback",), 1.0),
}
"""Rate name → (numerator counter, denominator counters summed, factor)."""


def receipt_matrix(events: list[dict[str, Any]]) -> npt.NDArray[np.int64]:
    """Counter increments for many received events: shape ``(len(events), N_COUNTERS)``.

    Only the receipt counters are set; lifecycle counters are zero."""
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
    for name, (num, dens, factor) in RATES.items():
        d = sum(int(counts[COUNTER_INDEX[den]]) for den in dens)
        result[name] = int(counts[COUNTER_INDEX[num]]) * factor / d if d else None
    return result


def rate_columns(counts: npt.NDArray[np.int64]) -> list[list[float | None]]:
    """:func:`rates` of many counter vectors at once: ``counts`` has shape ``(n, N_COUNTERS)``;
    returns one list of ``n`` values per rate, in :data:`RATES` order.

    Same float operations as :func:`rates` (``numerator * factor / denominator`` in float64,
    denominators summed exactly as integers), so the values are identical."""
    numerators = counts[:, _RATE_NUMERATORS] * _RATE_FACTORS
    denominators = counts @ _RATE_DENOMINATORS
    defined = denominators != 0
    values = np.divide(
        numerators, denominators, out=np.zeros(numerators.shape), where=defined
    ).T.tolist()
    if defined.all():
        return values
    return [
        [v if ok else None for v, ok in zip(column, mask, strict=True)]
        for column, mask in zip(values, defined.T.tolist(), strict=True)
    ]


_RATE_NUMERATORS: Final = np.array([COUNTER_INDEX[num] for num, _, _ in RATES.values()])
_RATE_FACTORS: Final = np.array([factor for _, _, factor in RATES.values()])
_RATE_DENOMINATORS: Final = np.array(
    [[int(name in dens) for _, dens, _ in RATES.values()] for name in COUNTERS], dtype=np.int64
)
"""``(N_COUNTERS, len(RATES))``: 1 where a counter is in a rate's denominator."""

SATISFIED_RATINGS: Final = frozenset({"very_satisfied", "satisfied"})
FEE_CODES: Final[dict[str, int]] = {"none": 0, "in_person": 1, "online": 2}
"""A receipt's ``fee_payment`` → the code a dossier's state keeps of it."""


def _vector(**values: int) -> npt.NDArray[np.int64]:
    out = np.zeros(N_COUNTERS, dtype=np.int64)
    for name, value in values.items():
        out[COUNTER_INDEX[name]] = value
    return out


_FINISHED: Final = COUNTER_INDEX["finished"]
_FINISHED_ON_TIME: Final = COUNTER_INDEX["finished_on_time"]
_PROCESSING_MS_SUM: Final = COUNTER_INDEX["processing_ms_sum"]
_FULLY_ONLINE: Final = COUNTER_INDEX["fully_online"]
_RESULTS: Final = COUNTER_INDEX["results"]
_RESULTS_DIGITISED: Final = COUNTER_INDEX["results_digitised"]


def result_delta(
    received_ms: int,
    due_ms: int,
    finished_ms: int,
    online: bool,
    level: int,
    electronic_result: bool,
    digitised: bool,
    postal_return: bool = False,
    result_channel: str = "",
    fee: int = -1,
    paid_online: bool = False,
) -> npt.NDArray[np.int64]:
    """Counter changes when a received dossier's result is returned (times in epoch ms).

    ``postal_return`` is the receipt's; ``fee`` is the receipt's ``fee_payment`` as
    :data:`FEE_CODES` (0 none, 1 in person, 2 online; -1 unknown: a
    ``paid_online`` result then adds nothing). A result ``paid_online`` makes a dossier whose fee
    was not paid online at receipt an online payment (and a dossier with a fee, if the receipt
    named none). Taking the dossier out of ``overdue_open`` is a separate change
    (:func:`overdue_delta`), applied only to the windows that counted it overdue."""
    out = np.zeros(N_COUNTERS, dtype=np.int64)  # set one by one: a kwargs dict costs more
    out[_FINISHED] = 1
    out[_FINISHED_ON_TIME] = int(finished_ms <= due_ms)
    out[_PROCESSING_MS_SUM] = max(0, finished_ms - received_ms)
    delivered = electronic_result or (postal_return and result_channel == "postal")
    out[_FULLY_ONLINE] = int(online and level == 4 and delivered)
    out[_RESULTS] = 1
    out[_RESULTS_DIGITISED] = int(digitised and electronic_result)
    if paid_online and 0 <= fee < _FEE_ONLINE:
        out[_ONLINE_PAYMENT] = 1
        out[_FEE_DOSSIERS] = int(fee == _FEE_NONE)
    return out


def feedback_delta(rating: str) -> npt.NDArray[np.int64]:
    """Counter changes for a dossier's first rating (a received dossier)."""
    return (_SATISFIED_FEEDBACK if rating in SATISFIED_RATINGS else _OTHER_FEEDBACK).copy()


def rating_change_delta(previous: str, rating: str) -> npt.NDArray[np.int64]:
    """Counter changes when a newer rating replaces the dossier's counted one: ``feedback``
    stays (one rating per dossier), ``satisfied`` moves by -1, 0 or +1."""
    out = np.zeros(N_COUNTERS, dtype=np.int64)
    out[_SATISFIED] = int(rating in SATISFIED_RATINGS) - int(previous in SATISFIED_RATINGS)
    return out


_SATISFIED_FEEDBACK: Final = _vector(feedback=1, satisfied=1)
_OTHER_FEEDBACK: Final = _vector(feedback=1)
_SATISFIED: Final = COUNTER_INDEX["satisfied"]
_ONLINE_PAYMENT: Final = COUNTER_INDEX["online_payment"]
_FEE_DOSSIERS: Final = COUNTER_INDEX["fee_dossiers"]
_FEE_NONE: Final = FEE_CODES["none"]
_FEE_ONLINE: Final = FEE_CODES["online"]


def overdue_delta(sign: int) -> npt.NDArray[np.int64]:
    """+1 when an open dossier passes its due time, -1 when that stops being true."""
    return _vector(overdue_open=sign)
