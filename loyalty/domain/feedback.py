"""Survey answers: how a member rated the program, a purchase or a contact.

Three scales, as the survey tools send them: NPS (would you recommend us, 0-10), CSAT (how
satisfied are you, 1-5) and CES (how easy was it, 1-7). An answer has the survey tool's own id
(``external_id``), which makes recording it idempotent, the channel it came through, and an
optional comment: free text, so personal data that an erasure blanks.
"""

from __future__ import annotations

import re
from enum import StrEnum

from loyalty.domain.errors import InvalidRequest


class SurveyKind(StrEnum):
    NPS = "nps"  # Net Promoter Score: 0 (not at all likely to recommend) to 10
    CSAT = "csat"  # customer satisfaction: 1 (very unsatisfied) to 5
    CES = "ces"  # customer effort: 1 (very difficult) to 7 (very easy)


SCALES: dict[SurveyKind, tuple[int, int]] = {
    SurveyKind.NPS: (0, 10),
    SurveyKind.CSAT: (1, 5),
    SurveyKind.CES: (1, 7),
}

COMMENT_MAX = 2000  # characters
CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")  # email, sms, app, pos, web...


def check_answer(kind: str, score: int, channel: str) -> SurveyKind:
    """The survey kind of a well-formed answer; ``InvalidRequest`` naming the field otherwise."""
    if not CHANNEL.match(channel):
        raise InvalidRequest(
            "a channel has 1 to 32 lower-case letters, digits, '-', '_' or '.'", field="channel"
        )
    try:
        survey = SurveyKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in SurveyKind)
        raise InvalidRequest(f"the kind of survey is one of {kinds}", field="kind") from None
    low, high = SCALES[survey]
    if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
        raise InvalidRequest(
            f"a {survey.value.upper()} score is a whole number from {low} to {high}",
            field="score",
            minimum=low,
            maximum=high,
        )
    return survey
