"""One request to a destination, tried until it is answered for good or the invocation must give up.

Inside one invocation: rate-limit slots are booked first (shared by every container through the limiter);
a transient failure (5xx, timeout, no answer) is retried with exponential backoff and full jitter; a 429
is waited out when its ``Retry-After`` is short (and every container is held back for that long); a 401 gets
one chance to refresh the credentials. What is still failing when the tries or the time run out goes back
to SQS, which redelivers it later. Throttling is back-pressure, not failure: a long ``Retry-After`` or no
rate-limit slot before the deadline defers the message (queued again with a delay), so waiting for a busy
destination never uses up the receives that lead to the DLQ.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from perkflow.domain.outbound.model import Answer
from perkflow.domain.outbound.ratelimit import Pacing
from perkflow.domain.outbound.retry import Outcome, RetryPolicy, classify, retry_after_seconds
from perkflow.domain.outbound.wire import HttpRequest, json_body
from perkflow.services.outbound.ports import RateLimiter, Timer, Transport


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    SKIPPED = "skipped"  # nothing to send for this destination (e.g. no customer to address)
    RETRY = "retry"  # transient: SQS redelivers
    DEFER = "defer"  # throttled (a 429 or no rate-limit slot in time): queued again after ``retry_after``
    DEAD = "dead"  # permanent: to the DLQ with the reason
    AUTH_LOST = "auth_lost"  # the destination refuses our credentials: park until reconnected


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    reason: str = ""
    status: int | None = None
    retry_after: float | None = None


DELIVERED = Result(Verdict.DELIVERED)
DEFER_SECONDS = 5.0  # when the rate limiter has no slot within the invocation
SKIPPED = Result(Verdict.SKIPPED)


@dataclass(frozen=True)
class Scope:
    """A rate-limited quantity: ``cost`` units of ``name`` under ``rule``."""

    name: str
    rule: Pacing
    cost: int = 1


def error_reason(destination: str, answer: Answer) -> str:
    """A short, secret-free description of a refusal (the service's own error text, truncated)."""
    if answer.status is None:
        return f"{destination}: no answer ({answer.error or 'timeout'})"
    detail = ""
    body = json_body(answer.body)
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            detail = f"{first.get('code', '')}: {first.get('detail') or first.get('title') or ''}"
        elif body.get("message") or body.get("code") or body.get("error"):
            detail = f"{body.get('code') or body.get('error') or ''}: {body.get('message') or ''}"
    return f"{destination} answered {answer.status} {detail}".strip()[:500]


class Runner:
    def __init__(self, transport: Transport, limiter: RateLimiter, timer: Timer, policy: RetryPolicy) -> None:
        self.transport = transport
        self.limiter = limiter
        self.timer = timer
        self.policy = policy

    def run(
        self,
        destination: str,
        build: Callable[[], HttpRequest],
        *,
        timeout: float,
        deadline: float,
        scopes: Sequence[Scope] = (),
        refresh: Callable[[], bool] | None = None,
    ) -> tuple[Result, Answer | None]:
        """Send until answered for good. ``refresh`` (for a 401) renews the credentials ``build`` uses and
        says whether that worked; it is called at most once."""
        policy = self.policy
        refreshed = False
        attempt = 0
        last: Answer | None = None
        while True:
            left = deadline - self.timer.time() - policy.reserve_seconds
            if left < timeout:
                return self._give_up(destination, last, "the invocation's time ran out"), last
            send_at = self.timer.time()
            for scope in scopes:
                slot = self.limiter.reserve(scope.name, scope.rule, scope.cost, left - timeout)
                if slot is None:
                    reason = f"{destination}: no rate-limit slot before the deadline"
                    return Result(Verdict.DEFER, reason, retry_after=DEFER_SECONDS), last
                send_at = max(send_at, slot)
            wait = send_at - self.timer.time()
            if wait > 0:
                self.timer.sleep(wait)
            answer = self.transport.send(build(), timeout)
            last = answer
            self._respect_remaining(answer, scopes)
            outcome = classify(answer.status)
            if outcome is Outcome.DELIVERED:
                return Result(Verdict.DELIVERED, status=answer.status), answer
            if outcome is Outcome.PERMANENT:
                return Result(Verdict.DEAD, error_reason(destination, answer), answer.status), answer
            if outcome is Outcome.UNAUTHORIZED:
                if refresh is not None and not refreshed:
                    refreshed = True
                    if refresh():
                        continue
                return Result(Verdict.AUTH_LOST, error_reason(destination, answer), answer.status), answer
            attempt += 1
            if outcome is Outcome.THROTTLED:
                retry_after = retry_after_seconds(answer.headers.get("retry-after"))
                if retry_after is None:
                    retry_after = policy.backoff(attempt, self.timer.draw()) + policy.base_seconds
                for scope in scopes:
                    self.limiter.hold(scope.name, scope.rule, retry_after)
                pause = policy.wait_for_retry_after(retry_after, self.timer.draw())
                if pause is None or attempt >= policy.attempts:
                    reason = error_reason(destination, answer)
                    return Result(Verdict.DEFER, reason, answer.status, max(retry_after, 1.0)), answer
                self.timer.sleep(pause)
                continue
            if attempt >= policy.attempts:
                return self._give_up(destination, answer, "transient failures"), answer
            self.timer.sleep(policy.backoff(attempt, self.timer.draw()))

    def _respect_remaining(self, answer: Answer, scopes: Sequence[Scope]) -> None:
        """Klaviyo's RateLimit-Remaining / RateLimit-Reset: at 0, hold every scope until the window resets."""
        remaining = answer.headers.get("ratelimit-remaining")
        reset = answer.headers.get("ratelimit-reset")
        if remaining is None or reset is None or answer.status == 429:
            return
        try:
            if int(remaining) > 0:
                return
            seconds = float(reset)
        except ValueError:
            return
        for scope in scopes:
            self.limiter.hold(scope.name, scope.rule, seconds)

    @staticmethod
    def _give_up(destination: str, answer: Answer | None, why: str) -> Result:
        reason = error_reason(destination, answer) if answer is not None else f"{destination}: {why}"
        return Result(Verdict.RETRY, reason, answer.status if answer else None)
