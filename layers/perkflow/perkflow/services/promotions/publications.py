"""Publications (``POST /v1/publications``) and the wallet (``GET /v1/customers/{id}/redeemables``,
``GET /v1/publications?customer=``).

Guarantees, each a conditional write in the publication's one transaction: a code goes to one customer
(the claim removes it from the campaign's free-code index, conditionally), a join-once campaign gives a
customer one code (the put of the customer's holder item), and a ``source_id`` publishes once (the
publication's id derives from it; a repeat answers the first publication).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from perkflow.domain.customers import customer_id_for
from perkflow.domain.errors import NotFound, PerkflowError
from perkflow.domain.ids import new_id
from perkflow.domain.promotions import publications, summary
from perkflow.domain.promotions.campaigns import Campaign
from perkflow.domain.promotions.codes import generate
from perkflow.domain.promotions.customer_input import upsert
from perkflow.domain.promotions.errors import InvalidPublication
from perkflow.domain.promotions.publications import PublicationOrder, PublicationRequest
from perkflow.domain.promotions.state import (
    AlreadyJoined,
    CodesTaken,
    Contention,
    CustomerChanged,
    PublicationCommit,
    Replayed,
    StoredVoucher,
    VoucherChange,
)
from perkflow.domain.promotions.vouchers import Voucher
from perkflow.services.promotions.campaigns import campaign_not_found
from perkflow.services.promotions.ports import CatalogStore, PublicationStore
from perkflow.services.promotions.vouchers import voucher_not_found

MAX_ATTEMPTS = 20
_CAMPAIGN_TYPES = {"GIFT_VOUCHER": "GIFT_VOUCHERS", "DISCOUNT_VOUCHER": "DISCOUNT_COUPONS"}


def _cannot_publish(details: str) -> InvalidPublication:
    return InvalidPublication("Voucher cannot be published", key="voucher_cannot_be_published", details=details)


class PublicationService:
    def __init__(self, store: PublicationStore, catalog: CatalogStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock

    def publish(self, body: Any, join_once_query: bool | None = None) -> dict[str, Any]:
        return self.run(PublicationRequest.parse(body).order(join_once_query))

    def run(self, order: PublicationOrder) -> dict[str, Any]:
        customer_id = order.customer.customer_id
        publication_id = order.publication_id()
        if publication_id is not None:
            earlier = self.store.publication(publication_id)
            if earlier is not None:
                return _replay(earlier.answer, customer_id, order)
        campaign = self._campaign(order)
        join_once = campaign is not None and (campaign.join_once or order.join_once)
        if campaign is not None and join_once:
            joined = self.store.joined(campaign.id, customer_id)
            if joined is not None:
                return _joined(joined, order)
        existing = self.store.customer(customer_id)
        exclude: set[str] = set()
        for _ in range(MAX_ATTEMPTS):
            now = self.clock()
            customer, customer_write = upsert(existing, order.customer, now)
            picked, minted = self._codes(order, campaign, exclude, now)
            publication, after = publications.publish(
                order,
                publication_id=publication_id or new_id("pub_"),
                customer=customer,
                campaign=campaign,
                vouchers=[stored.voucher for stored in picked] + minted,
                now=now,
            )
            commit = PublicationCommit(
                publication=publication,
                claimed=tuple(
                    VoucherChange(before=stored, after=voucher) for stored, voucher in zip(picked, after, strict=False)
                ),
                minted=tuple(after[len(picked) :]),
                events=tuple(publications.succeeded_events(publication, customer, after, campaign, now)),
                activity=publications.activity(publication, customer, after, now),
                summary=summary.for_publication(after),
                customer_write=customer_write,
                join_once=join_once,
                mint_lane=secrets.randbelow(1 << 16),
            )
            try:
                self.store.commit(commit)
            except CodesTaken as taken:
                exclude |= taken.codes
                continue
            except Replayed as replayed:
                return _replay(replayed.answer, customer_id, order)
            except AlreadyJoined as joined_error:
                return _joined(joined_error.answer, order)
            except CustomerChanged:
                existing = self.store.customer(customer_id)
                continue
            except Contention:
                continue
            return publication.answer
        raise PerkflowError(
            "Too many concurrent publications", key="multiple_requests", status=409, details=order.campaign or ""
        )

    def _campaign(self, order: PublicationOrder) -> Campaign | None:
        if order.campaign is None:
            return None
        campaign = self.catalog.campaign(order.campaign)
        if campaign is None:
            raise campaign_not_found(order.campaign)
        if not campaign.active:
            raise _cannot_publish(f"campaign {campaign.name} is disabled")
        return campaign

    def _codes(
        self, order: PublicationOrder, campaign: Campaign | None, exclude: set[str], now: datetime
    ) -> tuple[list[StoredVoucher], list[Voucher]]:
        """Codes to publish: the voucher asked for, or free codes of the campaign (AUTO_UPDATE: minted)."""
        if order.voucher is not None:
            stored = self.store.voucher(order.voucher)
            if stored is None:
                raise voucher_not_found(order.voucher)
            if stored.voucher.holder_id is not None or order.voucher in exclude:
                raise InvalidPublication(
                    "Voucher already published", key="voucher_already_published", details=order.voucher
                )
            return [stored], []
        assert campaign is not None
        picked = self.store.available(campaign.id, order.count, exclude)
        missing = order.count - len(picked)
        if missing <= 0:
            return picked, []
        if campaign.type != "AUTO_UPDATE":
            raise InvalidPublication(
                "No voucher suitable for publication",
                key="no_voucher_suitable_for_publication",
                details=f"campaign {campaign.name} has no unpublished codes left",
            )
        codes = generate(campaign.voucher.code_config, missing, avoid=exclude)
        return picked, [campaign.new_voucher(code, now) for code in codes]

    # -- the wallet ---------------------------------------------------------------------------------------------
    def _customer_id(self, id_or_source_id: str) -> str:
        candidates = [id_or_source_id] if id_or_source_id.startswith("cust_") else []
        candidates.append(customer_id_for(id_or_source_id))
        for candidate in candidates:
            customer = self.store.customer(candidate)
            if customer is not None:
                return customer.id
        raise NotFound(
            f"Resource not found: customer {id_or_source_id}",
            details=id_or_source_id,
            extra={"resource_id": id_or_source_id, "resource_type": "customer"},
        )

    def of_customer(self, id_or_source_id: str, limit: int) -> dict[str, Any]:
        customer_id = self._customer_id(id_or_source_id)
        answers = [
            publications.listed(publication.answer) for publication in self.store.of_customer(customer_id, limit)
        ]
        return {"object": "list", "data_ref": "publications", "publications": answers, "total": len(answers)}

    def redeemables(self, id_or_source_id: str, limit: int) -> dict[str, Any]:
        customer_id = self._customer_id(id_or_source_id)
        found = self.store.of_customer(customer_id, limit)
        now = self.clock()
        vouchers = self.store.vouchers([code for publication in found for code in publication.codes])
        data = []
        for publication in found:
            for code in publication.codes:
                stored = vouchers.get(code)
                if stored is None or stored.voucher.holder_id != customer_id:
                    continue
                voucher = stored.voucher
                data.append(
                    publications.redeemable(
                        voucher,
                        customer_id=customer_id,
                        created_at=publication.created_at,
                        campaign_type=_CAMPAIGN_TYPES.get(voucher.type) if voucher.campaign_id else None,
                        now=now,
                    )
                )
        return {
            "object": "list",
            "data_ref": "data",
            "data": data[:limit],
            "total": len(data[:limit]),
            "has_more": len(data) > limit,
            "more_starting_after": None,
        }


def _replay(answer: dict[str, Any], customer_id: str, order: PublicationOrder) -> dict[str, Any]:
    if answer.get("customer_id") != customer_id:
        raise InvalidPublication(
            f"Publication with source_id {order.source_id} already exists",
            key="duplicate_source_id",
            details=str(order.source_id),
        )
    return answer


def _joined(answer: dict[str, Any], order: PublicationOrder) -> dict[str, Any]:
    """The customer already holds this campaign's code: the same answer (join_once asked) or a refusal."""
    if order.join_once or order.distribution_id:
        return answer
    raise _cannot_publish("Customer already joined program")
