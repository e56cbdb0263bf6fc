"""The ``order`` of a validation or redemption: its amount in cents and its Voucherify (OrderCalculated) shape.

perkflow discounts at order level only, so item-level fields (``items_discount_amount`` ...) are always 0 and
every discount is ``discount_amount``. Amounts: ``discount_amount`` is the order-level discount so far,
``applied_discount_amount`` what this request (or this redeemable, in its own order snapshot) applied, and
``total_amount = amount - total_discount_amount``. Discounts from earlier requests on the same order are not
carried here: the service owns orders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.timeutil import iso

OrderStatus = Literal["CREATED", "PAID", "CANCELED", "FULFILLED"]


class OrderItem(BaseModel):
    """One order line; fields perkflow does not read (``product``, ``sku`` ...) are kept and echoed."""

    model_config = ConfigDict(frozen=True, extra="allow")

    source_id: str | None = None
    product_id: str | None = None
    sku_id: str | None = None
    related_object: str | None = None
    quantity: int | None = Field(default=None, ge=0)
    price: int | None = Field(default=None, ge=0, description="unit price, cents")
    amount: int | None = Field(default=None, ge=0, description="line amount, cents (price x quantity)")
    metadata: dict[str, Any] | None = None

    def line_amount(self) -> int | None:
        if self.amount is not None:
            return self.amount
        if self.price is not None:
            return self.price * (1 if self.quantity is None else self.quantity)
        return None

    def as_voucherify(self) -> dict[str, Any]:
        line = self.line_amount()
        return {**self.model_dump(exclude_none=True), "amount": line, "subtotal_amount": line, "object": "order_item"}


class OrderRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str | None = None
    source_id: str | None = None
    status: OrderStatus | None = None
    amount: int | None = Field(default=None, ge=0, description="cents; else the sum of the items' amounts")
    items: list[OrderItem] | None = None
    metadata: dict[str, Any] | None = None

    def total(self) -> int | None:
        """The order amount: ``amount``, else the sum of its lines (None if a line has no amount)."""
        if self.amount is not None:
            return self.amount
        if not self.items:
            return None
        lines = [item.line_amount() for item in self.items]
        return None if any(line is None for line in lines) else sum(line or 0 for line in lines)

    def as_voucherify(
        self,
        *,
        discount_amount: int,
        applied_discount_amount: int,
        customer_id: str | None,
        order_id: str | None = None,
        status: OrderStatus | None = None,
        created_at: datetime | None = None,
    ) -> dict[str, Any]:
        """The order with ``discount_amount`` (order-level, so far) and ``applied_discount_amount`` taken off."""
        amount = self.total()
        body: dict[str, Any] = {
            "source_id": self.source_id,
            "amount": amount,
            "discount_amount": discount_amount,
            "items_discount_amount": 0,
            "total_discount_amount": discount_amount,
            "total_amount": None if amount is None else amount - discount_amount,
            "applied_discount_amount": applied_discount_amount,
            "items_applied_discount_amount": 0,
            "total_applied_discount_amount": applied_discount_amount,
            "items": [item.as_voucherify() for item in self.items or ()],
            "metadata": self.metadata or {},
            "customer_id": customer_id,
            "referrer_id": None,
            "object": "order",
        }
        if order_id or self.id:  # a validated order has no id until a redemption stores it
            body["id"] = order_id or self.id
        if status or self.status:
            body["status"] = status or self.status
        if created_at is not None:
            body["created_at"] = iso(created_at)
        if customer_id is not None:
            body["customer"] = {"id": customer_id, "object": "customer"}
        return body
