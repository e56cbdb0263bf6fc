"""What a destination's answer means, and how long to wait before trying again.

- 2xx: delivered.
- 429: throttled. ``Retry-After`` (seconds or an HTTP date) is honoured; a short one is waited out inside the
  invocation, a long one hands the message back to SQS.
- 401: the credentials are refused (an OAuth token is refreshed once; a second 401 is a lost authorisation).
- 5xx, 408, 425, timeouts and connection errors: transient, retried with exponential backoff and full jitter.
- Any other 4xx: permanent; retrying cannot help, the message goes to the DLQ with the reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    THROTTLED = "throttled"
    UNAUTHORIZED = "unauthorized"
    PERMANENT = "permanent"


_TRANSIENT_4XX = {408, 425}


def classify(status: int | None) -> Outcome:
    """``status`` None means no answer (a timeout or a connection failure)."""
    if status is None:
        return Outcome.TRANSIENT
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 429:
        return Outcome.THROTTLED
    if status == 401:
        return Outcome.UNAUTHORIZED
    if status >= 500 or status in _TRANSIENT_4XX:
        return Outcome.TRANSIENT
    return Outcome.PERMANENT


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now (None when absent or unreadable)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Tries inside one invocation; after them the message falls back to SQS redelivery."""

    attempts: int = 4
    base_seconds: float = 0.2
    cap_seconds: float = 4.0
    max_retry_after_seconds: float = 10.0
    # Time kept back from the invocation's remaining time: answers must be written before the deadline.
    reserve_seconds: float = 3.0

    def backoff(self, attempt: int, draw: float) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^attempt)]; ``draw`` is uniform in [0, 1)."""
        return draw * min(self.cap_seconds, self.base_seconds * float(2**attempt))

    def wait_for_retry_after(self, retry_after: float, draw: float) -> float | None:
        """How long to wait for a 429 before the next try, or None to hand back to SQS."""
        if retry_after > self.max_retry_after_seconds:
            return None
        return retry_after + draw * self.base_seconds  # a little jitter so that waiters do not return together
