"""Errors of the period assessment.

EmcError (streams.core.errors)
└── AssessmentError      the assessment could not be computed
    └── NoDataError      no receipts at all in the period asked for
"""

from __future__ import annotations

from streams.core.errors import EmcError


class AssessmentError(EmcError):
    """The assessment (indicators, scores, report) could not be produced."""


class NoDataError(AssessmentError):
    """The period holds no receipt of any unit: nothing to score."""
