"""Errors of the promotion domain, under Voucherify's keys (reference/voucherify.md §6).

Two kinds: exceptions for malformed input (a 4xx answer, raised), and :class:`Failure`, the reason one
redeemable cannot be applied. A failure is data, not an exception, because validation answers it inside a
200 body (``valid: false``); only redemption turns it into an error body (:meth:`Failure.to_error`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from perkflow.domain.errors import PerkflowError


class InvalidCodeConfig(PerkflowError):
    key = "invalid_code_config"


class InvalidCampaign(PerkflowError):
    key = "invalid_campaign_params"


class InvalidVoucher(PerkflowError):
    key = "invalid_voucher"


class InvalidValidationRules(PerkflowError):
    key = "invalid_validation_rules"


class InvalidBalance(PerkflowError):
    key = "invalid_add_balance_params"


class InvalidRedeemables(PerkflowError):
    key = "invalid_redeemables"


class InvalidCustomer(PerkflowError):
    key = "invalid_customer"


class InvalidPublication(PerkflowError):
    """Publication errors (``missing_vouchers``, ``voucher_cannot_be_published`` ...) give their own key."""

    key = "invalid_publication"


class InvalidRollback(PerkflowError):
    """Rollback errors (``already_rolled_back``, ``invalid_redemption`` ...) give their own key."""

    key = "invalid_rollback_params"


class InvalidDistribution(PerkflowError):
    key = "invalid_distribution"


@dataclass(frozen=True)
class Failure:
    """Why a redeemable is inapplicable: Voucherify's error object, minus the request id."""

    key: str
    message: str
    details: str = ""
    code: int = 400
    resource_id: str | None = None
    resource_type: str | None = None
    custom_message: str | None = None  # a validation rule's own ``error.message``

    def as_error(self, request_id: str) -> dict[str, Any]:
        """The ``error`` object of a validation answer (``redeemables[].result.error``, legacy ``error``)."""
        error: dict[str, Any] = {
            "code": self.code,
            "key": self.key,
            "message": self.message,
            "details": self.details,
            "request_id": request_id,
        }
        error.update(self._extra())
        return error

    def to_error(self, *, resource_id: str | None = None) -> PerkflowError:
        """The exception a refused redemption answers with; ``resource_id`` names its FAILURE record."""
        extra = self._extra()
        if resource_id is not None:
            extra["resource_id"] = resource_id
            extra["resource_type"] = "redemption"
        return PerkflowError(self.message, details=self.details, key=self.key, status=self.code, extra=extra)

    def _extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.resource_id is not None:
            extra["resource_id"] = self.resource_id
            extra["resource_type"] = self.resource_type
        # Voucherify includes ``error`` only when the rule defines a custom message (errors.mdx).
        if self.custom_message is not None:
            extra["error"] = {"message": self.custom_message}
        return extra


def gift_amount_exceeded(code: str) -> Failure:
    return Failure("gift_amount_exceeded", "gift amount exceeded", details=code)
