"""Realistic dossier lifecycle simulation, for demos, tests and benchmarks.

A dossier (hồ sơ) is received by a unit, goes through one to three processing steps, and
usually gets a result and sometimes feedback. :class:`LifecycleSimulator` draws receipts as
a Poisson process spread over the registry's units (big units send far more than small
ones), plans each dossier's whole lifecycle at receipt time, and emits the follow-up events
when their time comes, in event-time order. Every event is a decoded event as defined in
:mod:`streams.core.events` (schema field names, epoch-millisecond UTC times, lower-case enum
symbols, optional fields present as ``None`` or set).

Pure Python + numpy: no broker. A producer calls :meth:`LifecycleSimulator.events_between`
with consecutive windows ``[last, now)``; tests and benchmarks use :func:`generate`.

Units: every time is epoch milliseconds (UTC); every duration in
:class:`SimulationProfile` is in real-world milliseconds, multiplied by the simulator's
``time_scale`` before use; rates are per second.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from heapq import heappop, heappush
from itertools import accumulate
from typing import Any

import numpy as np

from streams.core.events import Event, EventType
from streams.core.localtime import local_day_number
from streams.core.registry import Unit, UnitRegistry

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

STEP_NAMES: dict[int, str] = {
    1: "Mới đăng ký",
    2: "Tiếp nhận hồ sơ",
    3: "Từ chối tiếp nhận",
    4: "Đang xử lý",
    5: "Yêu cầu bổ sung hồ sơ",
    6: "Chờ nộp phí, lệ phí",
    7: "Công dân rút hồ sơ",
    8: "Dừng xử lý",
    9: "Đã xử lý xong",
    10: "Đã trả kết quả",
}
"""Vietnamese step names for the national portal statuses (``step_name`` field)."""

# Processing-status paths by (fate, number of processed events). Statuses only go up.
_PATHS: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    "result": ((9,), (2, 9), (2, 4, 9)),
    "refused": ((3,), (2, 3), (1, 2, 3)),
    "withdrawn": ((7,), (2, 7), (2, 4, 7)),
    "stopped": ((8,), (4, 8), (2, 4, 8)),
    "open": ((2,), (2, 4), (2, 4, 5)),
}
_SUPPLEMENT_PATH = (2, 5, 9)
UNFINISHED_FATES: tuple[str, ...] = ("refused", "withdrawn", "stopped", "open")

_POPULAR_PROCEDURES: tuple[str, ...] = (
    "Chứng thực bản sao từ bản chính giấy tờ, văn bản",
    "Đăng ký khai sinh",
    "Đăng ký thường trú",
    "Cấp phiếu lý lịch tư pháp",
    "Đăng ký biến động quyền sử dụng đất",
    "Đăng ký thành lập hộ kinh doanh",
    "Đăng ký kết hôn",
    "Cấp giấy phép xây dựng nhà ở riêng lẻ",
    "Cấp đổi giấy phép lái xe",
    "Đăng ký thành lập doanh nghiệp",
    "Cấp bản sao trích lục hộ tịch",
    "Đăng ký khai tử",
    "Giải quyết hưởng trợ cấp thất nghiệp",
    "Cấp giấy chứng nhận đủ điều kiện an toàn thực phẩm",
    "Cấp giấy chứng nhận quyền sử dụng đất lần đầu",
)


@dataclass
class SimulationProfile:
    """Shares, timings and sizes that shape the simulated traffic.

    Shares are probabilities in [0, 1]; durations are real-world milliseconds (the
    simulator multiplies them by its ``time_scale``). Defaults follow the orders of magnitude
    in the domain notes (seed documents): ~40 % of dossiers online, ~90 % on time, ~90 %
    satisfied, 4–5 events per dossier.
    """

    # --- receipt (tiếp nhận) ---
    online_share: float = 0.40
    """Share of receipts submitted online (channel ``online``); only level 3/4 procedures."""
    officer_assisted_share: float = 0.15
    """Share of ONLINE receipts entered by a one-stop officer (submitter_type ``officer``)."""
    postal_share: float = 0.03
    """Share of all receipts submitted by post (channel ``postal``)."""
    via_national_portal_share: float = 0.35
    """Share of ONLINE receipts submitted through the national portal (never by officers)."""
    national_account_share: float = 0.5
    """Share of other online citizen/business receipts whose submitter has an ID_QG."""
    business_share: float = 0.2
    """Share of non-officer submitters that are businesses (the rest are citizens)."""
    level_shares: dict[int, float] = field(default_factory=lambda: {0: 0.2, 3: 0.35, 4: 0.45})
    """Share of receipts by procedure level (0 not online, 3 partly, 4 fully online)."""
    fee_share: float = 0.6
    """Share of receipts whose procedure charges a fee."""
    online_payment_share: float = 0.5
    """Share of fee-paying ONLINE receipts paid online (others, and offline ones, in person)."""
    postal_return_share: float = 0.05
    """Share of non-postal receipts asking for the result by post (postal ones always do)."""
    accounts_per_unit: int = 200_000
    """Size of each unit's pool of submitter accounts (ids ``<unit>-U0000123``)."""
    officers_per_unit: int = 400
    """Size of each unit's pool of one-stop officers (ids ``<unit>-CB0042``)."""

    # --- processing (xử lý) and result (trả kết quả) ---
    processed_step_shares: tuple[float, float, float] = (0.2, 0.4, 0.4)
    """Share of dossiers with 1, 2 and 3 processed events."""
    supplement_share: float = 0.1
    """Share of 3-step finished dossiers whose middle step is a supplement request (5)."""
    result_share: float = 0.9
    """Share of receipts that get a result_returned event."""
    unfinished_fate_shares: dict[str, float] = field(
        default_factory=lambda: {"refused": 0.3, "withdrawn": 0.2, "stopped": 0.1, "open": 0.4}
    )
    """How dossiers without a result end: refused (3), withdrawn (7), stopped (8), open."""
    on_time_share: float = 0.9
    """Share of results with finished_at <= due_at."""
    electronic_result_share_online: float = 0.85
    """Share of results of online receipts issued electronically."""
    electronic_result_share_offline: float = 0.25
    """Share of results of in-person/postal receipts issued electronically."""
    digitised_share_online: float = 0.8
    """Share of results of online receipts whose components were digitised."""
    digitised_share_offline: float = 0.4
    """Share of results of in-person/postal receipts whose components were digitised."""
    paid_online_later_share: float = 0.1
    """Share of results of dossiers whose fee was due in person that say the fee was paid
    online after all (``paid_online``: online payment counts at any step)."""

    # --- feedback (đánh giá) ---
    feedback_share: float = 0.3
    """Share of results followed by a feedback event."""
    rating_shares: dict[str, float] = field(
        default_factory=lambda: {
            "very_satisfied": 0.55,
            "satisfied": 0.35,
            "neutral": 0.07,
            "dissatisfied": 0.03,
        }
    )
    """Share of feedback per rating (satisfied or better: 90 %)."""
    rerating_share: float = 0.05
    """Share of feedback followed by a second rating of the same dossier (a citizen changing
    the rating; the latest one counts)."""
    complaint_share_dissatisfied: float = 0.5
    """Share of dissatisfied feedback flagged as a complaint (PAKN)."""
    complaint_share_other: float = 0.01
    """Share of other feedback flagged as a complaint."""

    # --- transport ---
    duplicate_share: float = 0.01
    """Share of events re-sent once more with the same event_id (a retry)."""
    duplicate_delay_mean_ms: float = 30 * SECOND_MS
    """Mean delay of a re-sent copy after the original's event_time (exponential), ms."""

    # --- timing (real-world ms) ---
    deadline_choices_ms: tuple[int, ...] = (
        4 * HOUR_MS,
        1 * DAY_MS,
        3 * DAY_MS,
        5 * DAY_MS,
        7 * DAY_MS,
        10 * DAY_MS,
        15 * DAY_MS,
        20 * DAY_MS,
    )
    """Statutory deadlines a procedure may have (due_at = receipt + deadline), ms."""
    deadline_weights: tuple[float, ...] = (0.08, 0.17, 0.2, 0.2, 0.1, 0.12, 0.08, 0.05)
    """Relative frequency of each deadline among a unit's procedures."""
    min_processing_fraction: float = 0.02
    """Shortest on-time processing, as a fraction of the deadline."""
    late_overrun_mean: float = 0.3
    """Mean overrun of a late dossier past its deadline, as a fraction of the deadline."""
    feedback_delay_mean_ms: float = 1 * DAY_MS
    """Mean delay of feedback after the result (exponential), ms."""

    # --- units and catalogues ---
    unit_size_sigma: float = 1.0
    """Sigma of the lognormal drawn once per unit as its relative receipt volume."""
    large_units: tuple[str, ...] = (
        "HO_CHI_MINH",
        "HA_NOI",
        "BO_CONG_AN",
        "BHXH_VN",
        "BINH_DUONG",
        "DONG_NAI",
    )
    """Units given the largest volume draws, in this order (codes absent are ignored)."""
    province_catalogue_size: int = 2000
    """Procedures in a province's catalogue."""
    ministry_catalogue_size: int = 300
    """Procedures in a ministry's catalogue."""
    procedure_popularity_exponent: float = 1.0
    """Zipf exponent of procedure popularity within a unit and level."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` if shares are out of range or inconsistent."""
        for name in (
            "online_share",
            "officer_assisted_share",
            "postal_share",
            "via_national_portal_share",
            "national_account_share",
            "business_share",
            "fee_share",
            "online_payment_share",
            "postal_return_share",
            "supplement_share",
            "result_share",
            "on_time_share",
            "electronic_result_share_online",
            "electronic_result_share_offline",
            "digitised_share_online",
            "digitised_share_offline",
            "feedback_share",
            "rerating_share",
            "paid_online_later_share",
            "complaint_share_dissatisfied",
            "complaint_share_other",
            "duplicate_share",
            "min_processing_fraction",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        _check_distribution("level_shares", self.level_shares, (0, 3, 4))
        _check_distribution("rating_shares", self.rating_shares, _RATING_ORDER)
        _check_distribution("unfinished_fate_shares", self.unfinished_fate_shares, UNFINISHED_FATES)
        _check_distribution(
            "processed_step_shares", dict(enumerate(self.processed_step_shares)), (0, 1, 2)
        )
        if self.online_share > self.online_capable_share + 1e-9:
            raise ValueError(
                f"online_share {self.online_share} exceeds the share of level 3/4 receipts "
                f"{self.online_capable_share}"
            )
        if self.online_share + self.postal_share > 1.0 + 1e-9:
            raise ValueError("online_share + postal_share must not exceed 1")
        if self.via_national_portal_share > 1.0 - self.officer_assisted_share + 1e-9:
            raise ValueError("via_national_portal_share exceeds the non-officer online share")
        if len(self.deadline_choices_ms) != len(self.deadline_weights) or not self.deadline_weights:
            raise ValueError("deadline_choices_ms and deadline_weights must have equal length")
        if min(self.deadline_choices_ms) <= 0 or min(self.deadline_weights) < 0:
            raise ValueError("deadlines must be positive and weights non-negative")
        for name in ("province_catalogue_size", "ministry_catalogue_size"):
            if getattr(self, name) < 3:
                raise ValueError(f"{name} must be at least 3")
        if self.accounts_per_unit < 1 or self.officers_per_unit < 1:
            raise ValueError("account pools must not be empty")

    @property
    def online_capable_share(self) -> float:
        """Share of receipts for level 3 or 4 procedures (the ceiling of online_share)."""
        return self.level_shares.get(3, 0.0) + self.level_shares.get(4, 0.0)

    def mean_processed_events(self) -> float:
        """Expected processed events per dossier."""
        return sum((k + 1) * share for k, share in enumerate(self.processed_step_shares))

    def events_per_dossier(self) -> float:
        """Expected events per dossier once lifecycles complete, duplicates included."""
        distinct = (
            1.0
            + self.mean_processed_events()
            + self.result_share * (1.0 + self.feedback_share * (1.0 + self.rerating_share))
        )
        return distinct * (1.0 + self.duplicate_share)


_RATING_ORDER: tuple[str, ...] = ("very_satisfied", "satisfied", "neutral", "dissatisfied")


def _check_distribution(name: str, shares: Mapping[Any, float], allowed: Sequence[Any]) -> None:
    """Shares keyed by allowed symbols, non-negative, summing to 1."""
    unknown = set(shares) - set(allowed)
    if unknown:
        raise ValueError(f"{name} has unknown keys {sorted(map(str, unknown))}")
    if any(v < 0 for v in shares.values()) or abs(sum(shares.values()) - 1.0) > 1e-6:
        raise ValueError(f"{name} must be non-negative and sum to 1, got {dict(shares)}")


@dataclass(frozen=True, slots=True)
class Procedure:
    """One procedure of a unit's simulated catalogue.

    ``code`` is the CodeTTHC / ID MCDT sent in events; ``deadline_ms`` the statutory
    deadline in real-world milliseconds; ``popularity`` its relative weight within the
    unit's procedures of the same level.
    """

    code: str
    name: str
    level: int
    deadline_ms: int
    popularity: float


@dataclass(slots=True)
class _Catalogue:
    """A unit's procedures grouped by level, with cumulative popularity for bisect."""

    procedures: tuple[Procedure, ...]
    by_level: dict[int, tuple[list[Procedure], list[float]]]


class _Uniforms:
    """Uniform [0, 1) floats from a seeded numpy generator, drawn in blocks for speed."""

    __slots__ = ("_block", "_pos", "_rng")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._block: list[float] = []
        self._pos = 0

    def __call__(self) -> float:
        if self._pos >= len(self._block):
            self._block = self._rng.random(4096).tolist()
            self._pos = 0
        value = self._block[self._pos]
        self._pos += 1
        return value

    def exponential(self, mean: float) -> float:
        """Exponential variate with this mean."""
        return -math.log(1.0 - self()) * mean

    def pick(self, cumulative: Sequence[float]) -> int:
        """Index drawn proportionally to the weights whose running sums are ``cumulative``."""
        index = bisect_right(cumulative, self() * cumulative[-1])
        return min(index, len(cumulative) - 1)


class _Dossier:
    """A planned lifecycle: event times by step and what each follow-up event carries."""

    __slots__ = (
        "complaint",
        "digitised",
        "dossier_id",
        "electronic",
        "paid_online",
        "ratings",
        "received",
        "result_channel",
        "serial",
        "statuses",
        "times",
        "unit_code",
    )

    def __init__(self, serial: int, unit_code: str, dossier_id: str) -> None:
        self.serial = serial
        self.unit_code = unit_code
        self.dossier_id = dossier_id
        self.received: Event | None = None
        self.times: list[int] = []
        self.statuses: tuple[int, ...] = ()
        self.electronic = False
        self.result_channel = "in_person"
        self.digitised = False
        self.paid_online = False
        self.ratings: list[str] = []
        """The feedback steps' ratings, in order (the last one is the dossier's rating)."""
        self.complaint = False


# Heap entry: (emit_ms, dossier serial, step, copy flag, payload). The first four are unique,
# so the payload (a _Dossier, or an (EventType, Event) re-send) is never compared.
_Entry = tuple[int, int, int, int, Any]


class LifecycleSimulator:
    """Simulates the dossier traffic of every valid unit of a registry.

    - Receipts arrive as a Poisson process whose rate is chosen so that, once lifecycles
      are in steady state, all events together (duplicates included) average
      ``rate_per_s`` per second. A fresh simulation starts with no open dossiers, so it
      emits mostly receipts until its first lifecycles complete: about the longest
      deadline × ``time_scale`` (20 days at ``time_scale=1``, ~29 minutes at 0.001).
    - Each receipt picks a unit valid at that instant (``registry.valid_at``) with
      probability proportional to the unit's size, a lognormal drawn once per seed.
    - The whole lifecycle is planned at receipt; follow-up events wait on a heap and come out
      when the window reaches their time. Follow-ups of a unit that is no longer valid at
      their time are dropped.
    - ``time_scale`` multiplies every duration (deadlines, processing, feedback and re-send
      delays): 1.0 is real time (hours to days), 0.001 squeezes a 5-day deadline into
      7.2 minutes for a live demo. On-time shares are preserved because due_at scales too.

    Determinism: the output depends only on (registry, profile, seed, time_scale, the first
    window's start, rate_per_s) and not on how the time range is cut into windows. Ids embed
    a run tag derived from the seed and the first window's start, so a live producer
    restarted later does not reuse event ids.

    Memory grows with the number of open dossiers: receipt rate × lifecycle duration.
    """

    def __init__(
        self,
        registry: UnitRegistry,
        profile: SimulationProfile | None = None,
        seed: int = 0,
        time_scale: float = 1.0,
    ) -> None:
        """Prepare unit sizes and catalogues; ``time_scale`` must be positive."""
        if not time_scale > 0.0 or not math.isfinite(time_scale):
            raise ValueError(f"time_scale must be a positive number, got {time_scale}")
        if len(registry) == 0:
            raise ValueError("the unit registry is empty")
        self.registry = registry
        self.profile = profile if profile is not None else SimulationProfile()
        self.profile.validate()
        self.seed = seed
        self.time_scale = time_scale

        self._units: tuple[Unit, ...] = registry.units
        self._weights: dict[str, float] = self._draw_unit_weights()
        self._bounds: dict[str, tuple[int, int]] = {
            u.code: (u.valid_from_ms, u.valid_until_ms or 2**62) for u in self._units
        }
        self._catalogues: dict[str, _Catalogue] = {}
        self._arrivals = _Uniforms(np.random.default_rng([seed, 1]))
        self._resends = _Uniforms(np.random.default_rng([seed, 2]))

        p = self.profile
        self._level_keys = [lvl for lvl, s in p.level_shares.items() if s > 0]
        self._level_cum = list(accumulate(p.level_shares[lvl] for lvl in self._level_keys))
        self._fate_cum = list(accumulate(p.unfinished_fate_shares[f] for f in UNFINISHED_FATES))
        self._rating_cum = list(accumulate(p.rating_shares[r] for r in _RATING_ORDER))
        self._steps_cum = list(accumulate(p.processed_step_shares))
        self._p_online_capable = (
            p.online_share / p.online_capable_share if p.online_capable_share > 0 else 0.0
        )
        self._p_postal_offline = (
            p.postal_share / (1.0 - p.online_share) if p.online_share < 1 else 0
        )
        self._p_portal = (
            p.via_national_portal_share / (1.0 - p.officer_assisted_share)
            if p.officer_assisted_share < 1
            else 0.0
        )

        self._heap: list[_Entry] = []
        self._clock: int | None = None
        self._next_arrival: float = 0.0
        self._arrival_rate: float | None = None
        self._serial = 0
        self._unit_seq: dict[str, int] = dict.fromkeys(registry.codes, 0)
        self._run_tag = ""
        self._day_cache: tuple[int, list[str], list[float]] | None = None

    # ------------------------------------------------------------------ public API

    @property
    def unit_weights(self) -> dict[str, float]:
        """Relative receipt volume of each unit (lognormal draw, fixed per seed)."""
        return dict(self._weights)

    @property
    def pending(self) -> int:
        """Events (and re-sends) planned but not yet emitted."""
        return len(self._heap)

    def receipt_rate(self, rate_per_s: float) -> float:
        """Receipts per second giving ``rate_per_s`` total events per second in steady state."""
        return rate_per_s / self.profile.events_per_dossier()

    def catalogue(self, unit_code: str) -> tuple[Procedure, ...]:
        """The simulated procedure catalogue of a unit (deterministic per seed)."""
        return self._catalogue(unit_code).procedures

    def events_between(
        self, start_ms: int, end_ms: int, rate_per_s: float
    ) -> Iterator[tuple[EventType, Event]]:
        """Yield the events whose time falls in ``[start_ms, end_ms)`` (epoch ms UTC).

        ``rate_per_s`` is the steady-state total of events per second (all types,
        duplicates included). Events come in non-decreasing ``event_time`` order, except
        re-sent duplicates, which repeat an earlier event exactly a little later.

        Consecutive calls continue one simulation: call with ``[last_end, now)`` each time.
        ``start_ms`` may not go back before the previous ``end_ms`` (``ValueError``). If it
        jumps ahead, no receipts are drawn in the gap and follow-ups that fell due in it
        come out first (as a late batch would). The iterator must be exhausted before the
        next call.
        """
        if end_ms < start_ms:
            raise ValueError(f"end_ms {end_ms} is before start_ms {start_ms}")
        if rate_per_s < 0 or not math.isfinite(rate_per_s):
            raise ValueError(f"rate_per_s must be a finite non-negative number, got {rate_per_s}")
        if self._clock is None:
            self._start(start_ms)
        elif start_ms < self._clock:
            raise ValueError(
                f"start_ms {start_ms} goes back before the previous window's end {self._clock}"
            )
        assert self._clock is not None
        if start_ms > self._clock:
            # A gap: receipts restart at start_ms (memoryless, so this stays a Poisson process).
            self._arrival_rate = None
        if self._arrival_rate != rate_per_s:
            self._arrival_rate = rate_per_s
            self._next_arrival = self._draw_next_arrival(float(start_ms))
        self._clock = end_ms
        return self._emit(end_ms)

    # ------------------------------------------------------------------ internals

    def _start(self, origin_ms: int) -> None:
        digest = hashlib.blake2b(f"{self.seed}:{origin_ms}".encode(), digest_size=4)
        self._run_tag = digest.hexdigest()
        self._clock = origin_ms

    def _draw_next_arrival(self, after_ms: float) -> float:
        rate = self.receipt_rate(self._arrival_rate or 0.0)
        if rate <= 0.0:
            return math.inf
        return after_ms + self._arrivals.exponential(SECOND_MS / rate)

    def _emit(self, end_ms: int) -> Iterator[tuple[EventType, Event]]:
        while self._next_arrival < end_ms:
            at = int(self._next_arrival)
            self._plan_dossier(at)
            self._next_arrival = self._draw_next_arrival(self._next_arrival)

        heap = self._heap
        p = self.profile
        scale = self.time_scale
        while heap and heap[0][0] < end_ms:
            emit_ms, serial, step, copy, payload = heappop(heap)
            if copy:
                kind, event = payload
                yield kind, dict(event)
                continue
            dossier: _Dossier = payload
            if step + 1 < len(dossier.times):
                heappush(heap, (dossier.times[step + 1], serial, step + 1, 0, dossier))
            valid_from, valid_until = self._bounds[dossier.unit_code]
            if not valid_from <= emit_ms < valid_until:
                continue
            kind, event = self._build_event(dossier, step)
            if self._resends() < p.duplicate_share:
                delay = max(1, round(self._resends.exponential(p.duplicate_delay_mean_ms) * scale))
                heappush(heap, (emit_ms + delay, serial, step, 1, (kind, dict(event))))
            yield kind, event

    def _build_event(self, d: _Dossier, step: int) -> tuple[EventType, Event]:
        """Materialise step ``step`` of a planned dossier as a decoded event."""
        if step == 0:
            event = d.received
            assert event is not None
            d.received = None  # no longer needed: free it
            return EventType.RECEIVED, event
        base: Event = {
            "event_id": f"{self._run_tag}-{d.serial:x}-{step}",
            "unit_code": d.unit_code,
            "dossier_id": d.dossier_id,
            "event_time": d.times[step],
        }
        n_processed = len(d.statuses)
        if step <= n_processed:
            status = d.statuses[step - 1]
            base["status"] = status
            base["step_name"] = STEP_NAMES[status]
            base["supplement_requested"] = status == 5
            return EventType.PROCESSED, base
        if step == n_processed + 1:
            base["finished_at"] = d.times[step]
            base["electronic_result"] = d.electronic
            base["result_channel"] = d.result_channel
            base["digitised"] = d.digitised
            base["paid_online"] = d.paid_online
            return EventType.RESULT_RETURNED, base
        base["rating"] = d.ratings[step - n_processed - 2]
        base["complaint"] = d.complaint
        return EventType.FEEDBACK, base

    def _plan_dossier(self, t0: int) -> None:
        """Draw one receipt at ``t0`` and plan its whole lifecycle onto the heap."""
        u = self._arrivals
        p = self.profile
        codes, cumulative = self._valid_units(t0)
        unit_pick = u()
        if not codes:
            return
        code = codes[min(bisect_right(cumulative, unit_pick * cumulative[-1]), len(codes) - 1)]

        level = self._level_keys[u.pick(self._level_cum)]
        procs, proc_cum = self._catalogue(code).by_level[level]
        procedure = procs[u.pick(proc_cum)]

        online = level > 0 and u() < self._p_online_capable
        channel = "online"
        if not online:
            channel = "postal" if u() < self._p_postal_offline else "in_person"
        officer = online and u() < p.officer_assisted_share
        if officer:
            submitter_type = "officer"
        else:
            submitter_type = "business" if u() < p.business_share else "citizen"
        via_portal = online and not officer and u() < self._p_portal
        account = int(u() * (p.officers_per_unit if officer else p.accounts_per_unit))
        id_local: str | None
        id_qg: str | None = None
        if officer:
            id_local = f"{code}-CB{account:04d}"
        elif online:
            id_local = f"{code}-U{account:07d}"
            if via_portal or u() < p.national_account_share:
                id_qg = f"QG{self.registry.index_of(code):02d}{account:07d}"
        else:
            id_local = None  # entered at the one-stop counter, no account
        if u() < p.fee_share:
            fee = "online" if online and u() < p.online_payment_share else "in_person"
        else:
            fee = "none"
        postal_return = channel == "postal" or u() < p.postal_return_share

        deadline = max(10, round(procedure.deadline_ms * self.time_scale))
        due_at = t0 + deadline

        self._serial += 1
        self._unit_seq[code] += 1
        dossier = _Dossier(self._serial, code, f"{self._run_tag}-{self._unit_seq[code]:07d}")
        dossier.received = {
            "event_id": f"{self._run_tag}-{dossier.serial:x}-0",
            "unit_code": code,
            "dossier_id": dossier.dossier_id,
            "event_time": t0,
            "procedure_code": procedure.code,
            "procedure_level": level,
            "channel": channel,
            "submitter_type": submitter_type,
            "submitter_id_local": id_local,
            "submitter_id_qg": id_qg,
            "via_national_portal": via_portal,
            "due_at": due_at,
            "fee_payment": fee,
            "postal_return": postal_return,
            "procedure_name": procedure.name,
        }

        has_result = u() < p.result_share
        n_steps = u.pick(self._steps_cum) + 1
        lo = p.min_processing_fraction
        if has_result:
            statuses = _PATHS["result"][n_steps - 1]
            if n_steps == 3 and u() < p.supplement_share:
                statuses = _SUPPLEMENT_PATH
            if u() < p.on_time_share:
                end = t0 + max(n_steps + 1, min(deadline, round(deadline * (lo + (1 - lo) * u()))))
            else:
                overrun = u.exponential(p.late_overrun_mean)
                end = max(due_at + 1, t0 + round(deadline * (1.0 + overrun)))
        else:
            fate = UNFINISHED_FATES[u.pick(self._fate_cum)]
            statuses = _PATHS[fate][n_steps - 1]
            end = t0 + max(n_steps + 1, round(deadline * (lo + (1 - lo) * u())))
        dossier.statuses = statuses
        dossier.times = [t0, *_spread(t0, end, n_steps, u)]
        if has_result:
            dossier.times.append(end)
            dossier.electronic = u() < (
                p.electronic_result_share_online if online else p.electronic_result_share_offline
            )
            if postal_return:
                dossier.result_channel = "postal"
            elif dossier.electronic and online:
                dossier.result_channel = "online"
            dossier.digitised = u() < (
                p.digitised_share_online if online else p.digitised_share_offline
            )
            dossier.paid_online = fee == "online" or (
                fee == "in_person" and u() < p.paid_online_later_share
            )
            if u() < p.feedback_share:
                rating = _RATING_ORDER[u.pick(self._rating_cum)]
                dossier.ratings = [rating]
                dossier.complaint = u() < (
                    p.complaint_share_dissatisfied
                    if rating == "dissatisfied"
                    else p.complaint_share_other
                )
                delay = max(1, round(u.exponential(p.feedback_delay_mean_ms) * self.time_scale))
                dossier.times.append(end + delay)
                if u() < p.rerating_share:
                    dossier.ratings.append(_RATING_ORDER[u.pick(self._rating_cum)])
                    delay = max(1, round(u.exponential(p.feedback_delay_mean_ms) * self.time_scale))
                    dossier.times.append(dossier.times[-1] + delay)
        heappush(self._heap, (t0, dossier.serial, 0, 0, dossier))

    def _valid_units(self, ts_ms: int) -> tuple[list[str], list[float]]:
        """Codes valid at ``ts_ms`` and their cumulative weights (cached per local day)."""
        day = local_day_number(ts_ms)
        cache = self._day_cache
        if cache is None or cache[0] != day:
            valid = [u.code for u in self.registry.valid_at(ts_ms)]
            cache = (day, valid, list(accumulate(self._weights[c] for c in valid)))
            self._day_cache = cache
        return cache[1], cache[2]

    def _draw_unit_weights(self) -> dict[str, float]:
        """One lognormal size per unit; the largest go to ``profile.large_units``."""
        rng = np.random.default_rng([self.seed, 0])
        draws = sorted(
            rng.lognormal(0.0, self.profile.unit_size_sigma, len(self._units)).tolist(),
            reverse=True,
        )
        codes = set(self.registry.codes)
        large = [c for c in dict.fromkeys(self.profile.large_units) if c in codes]
        others = [c for c in self.registry.codes if c not in set(large)]
        order = rng.permutation(len(others)).tolist()
        assigned = large + [others[i] for i in order]
        return dict(zip(assigned, draws, strict=True))

    def _catalogue(self, code: str) -> _Catalogue:
        cached = self._catalogues.get(code)
        if cached is None:
            cached = self._build_catalogue(code)
            self._catalogues[code] = cached
        return cached

    def _build_catalogue(self, code: str) -> _Catalogue:
        """Deterministic per (seed, unit): levels by level_shares, Zipf popularity."""
        p = self.profile
        index = self.registry.index_of(code)
        unit = self._units[index]
        rng = np.random.default_rng([self.seed, 3, index])
        size = p.ministry_catalogue_size if unit.kind == "ministry" else p.province_catalogue_size
        levels: list[int] = []
        for level, share in p.level_shares.items():
            if share > 0:
                levels.extend([level] * max(1, round(size * share)))
        levels = levels[:size] if len(levels) >= size else levels + [4] * (size - len(levels))
        levels = [levels[i] for i in rng.permutation(len(levels)).tolist()]
        ranks = rng.permutation(size).tolist()
        weights = np.asarray(p.deadline_weights, dtype=float)
        deadline_idx = rng.choice(len(weights), size=size, p=weights / weights.sum()).tolist()
        procedures = []
        for i in range(size):
            name = (
                _POPULAR_PROCEDURES[ranks[i]]
                if ranks[i] < len(_POPULAR_PROCEDURES)
                else f"Thủ tục hành chính số {i + 1}"
            )
            procedures.append(
                Procedure(
                    code=f"{code}.{i + 1:04d}",
                    name=name,
                    level=levels[i],
                    deadline_ms=int(p.deadline_choices_ms[deadline_idx[i]]),
                    popularity=1.0 / (ranks[i] + 1) ** p.procedure_popularity_exponent,
                )
            )
        by_level: dict[int, tuple[list[Procedure], list[float]]] = {}
        for level in {proc.level for proc in procedures}:
            group = [proc for proc in procedures if proc.level == level]
            by_level[level] = (group, list(accumulate(proc.popularity for proc in group)))
        return _Catalogue(tuple(procedures), by_level)


def _spread(t0: int, end: int, n: int, u: _Uniforms) -> list[int]:
    """``n`` strictly increasing integer times strictly between ``t0`` and ``end``.

    Requires ``end - t0 >= n + 1``.
    """
    room = end - t0 - 1 - n  # >= 0
    offsets = sorted(int(u() * (room + 1)) for _ in range(n))
    return [t0 + 1 + off + i for i, off in enumerate(offsets)]


def generate(
    registry: UnitRegistry,
    n_events: int,
    start_ms: int,
    seed: int = 0,
    rate_per_s: float = 200.0,
    profile: SimulationProfile | None = None,
    time_scale: float = 1.0,
) -> list[tuple[EventType, Event]]:
    """The first ``n_events`` events of a fresh simulation starting at ``start_ms``.

    ``rate_per_s`` is the steady-state total events per second; times are epoch ms UTC.
    With ``time_scale=1.0`` (real durations) a few minutes of traffic are mostly receipts
    and first steps, since results take days; pass e.g. ``time_scale=1e-4`` to get complete
    lifecycles (results, feedback) within the generated span.
    """
    if n_events < 0:
        raise ValueError("n_events must be non-negative")
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be positive")
    if not any(u.valid_until_ms is None or u.valid_until_ms > start_ms for u in registry.units):
        raise ValueError("no unit of the registry is valid at or after start_ms")
    simulator = LifecycleSimulator(registry, profile, seed=seed, time_scale=time_scale)
    window_ms = 10 * SECOND_MS
    events: list[tuple[EventType, Event]] = []
    t = start_ms
    while len(events) < n_events:
        for item in simulator.events_between(t, t + window_ms, rate_per_s):
            events.append(item)
            if len(events) >= n_events:
                break
        else:
            t += window_ms
            continue
        break
    return events
