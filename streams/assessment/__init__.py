"""The period assessment: exact indicators from the per-dossier fact table, QĐ 766 scores,
levels A–E, ranks, targets, and the report EMC publishes (seed 003)."""

from streams.assessment.assess import Assessment, UnitResult, assess, read_scores, store
from streams.assessment.config import load_scoring
from streams.assessment.errors import AssessmentError, NoDataError

__all__ = [
    "Assessment",
    "AssessmentError",
    "NoDataError",
    "UnitResult",
    "assess",
    "load_scoring",
    "read_scores",
    "store",
]
