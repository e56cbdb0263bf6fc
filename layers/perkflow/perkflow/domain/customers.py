"""Customers: the profile, where Segment traits land on it, merging, and its Voucherify shape.

A customer known by a ``source_id`` (Segment ``userId``) has the id ``cust_`` + a hash of that source id, so
every function can address a customer without a lookup. A visitor known only by an ``anonymousId`` is the
customer with source id ``anonymous:<anonymousId>`` (DESIGN §6); ``identify``/``alias`` merge it into the
known customer, after which it only points there (``merged_into``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from perkflow.domain.activities import Activity, activity_id
from perkflow.domain.events import CustomerRef
from perkflow.domain.ids import new_id, stable_id
from perkflow.domain.timeutil import iso

ANONYMOUS_PREFIX = "anonymous:"
ADDRESS_FIELDS = ("city", "state", "line_1", "line_2", "country", "postal_code")
PROFILE_FIELDS = ("name", "email", "phone", "description", "birthdate", "address", "metadata")


def customer_id_for(source_id: str) -> str:
    return stable_id("cust_", source_id)


def anonymous_source_id(anonymous_id: str) -> str:
    return ANONYMOUS_PREFIX + anonymous_id


class Profile(BaseModel):
    """The editable part of a customer (Voucherify's customer fields)."""

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    email: str | None = None
    phone: str | None = None
    description: str | None = None
    birthdate: str | None = Field(default=None, description="YYYY-MM-DD")
    address: dict[str, str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def merged_with(self, update: Profile) -> Profile:
        """This profile with the fields ``update`` sets; metadata and address merge key by key."""
        data = self.model_dump()
        for name, value in update.model_dump(exclude_unset=True).items():
            if name in ("metadata", "address") and value is not None:
                data[name] = {**(data.get(name) or {}), **value}
            elif value is not None:
                data[name] = value
        return Profile.model_validate(data)

    def filled_from(self, other: Profile) -> Profile:
        """This profile with gaps filled from ``other`` (a merged-in anonymous profile loses ties)."""
        mine = self.model_dump()
        theirs = other.model_dump()
        for name in PROFILE_FIELDS:
            if name in ("metadata", "address"):
                merged = {**(theirs.get(name) or {}), **(mine.get(name) or {})}
                mine[name] = merged or (None if name == "address" else {})
            elif mine.get(name) is None:
                mine[name] = theirs.get(name)
        return Profile.model_validate(mine)

    def changed_paths(self, before: Profile) -> list[str]:
        """Profile paths whose value differs from ``before`` (``metadata.plan``, ``email`` ...)."""
        changed: list[str] = []
        for name in PROFILE_FIELDS:
            old, new = getattr(before, name), getattr(self, name)
            if name in ("metadata", "address"):
                old, new = old or {}, new or {}
                changed.extend(f"{name}.{key}" for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key))
            elif old != new:
                changed.append(name)
        return sorted(changed)


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    source_id: str | None = None
    profile: Profile = Field(default_factory=Profile)
    created_at: datetime
    updated_at: datetime | None = None
    version: int = 0
    merged_into: str | None = Field(default=None, description="source id this profile was merged into")
    merged_from: tuple[str, ...] = ()

    @classmethod
    def new(cls, source_id: str | None, profile: Profile, now: datetime) -> Customer:
        customer_id = customer_id_for(source_id) if source_id else new_id("cust_")
        return cls(id=customer_id, source_id=source_id, profile=profile, created_at=now)

    @property
    def is_anonymous(self) -> bool:
        return bool(self.source_id and self.source_id.startswith(ANONYMOUS_PREFIX))

    def created_activity(self) -> Activity:
        """The ``customer.created`` activity; its id derives from the customer, so it never needs storing."""
        return Activity(
            id=activity_id(self.created_at, self.id, "customer.created"),
            type="customer.created",
            customer=self.ref(),
            created_at=self.created_at,
        )

    def snapshot(self) -> dict[str, Any]:
        """The profile as segment conditions read it: profile fields, ``metadata``, ``created_at``."""
        return {
            **self.profile.model_dump(exclude_none=True),
            "source_id": self.source_id,
            "created_at": iso(self.created_at),
        }

    def ref(self) -> CustomerRef:
        return CustomerRef(id=self.id, source_id=self.source_id, email=self.profile.email, name=self.profile.name)

    def with_profile(self, profile: Profile, now: datetime) -> Customer:
        return self.model_copy(update={"profile": profile, "updated_at": now})

    def absorbing(self, other: Customer, now: datetime) -> Customer:
        """This customer after merging ``other`` (an anonymous or older profile) into it."""
        merged_from = tuple(dict.fromkeys((*self.merged_from, str(other.source_id), *other.merged_from)))
        return self.model_copy(
            update={
                "profile": self.profile.filled_from(other.profile),
                "merged_from": merged_from,
                "updated_at": now,
            }
        )

    def merged_into_customer(self, target_source_id: str, now: datetime) -> Customer:
        return self.model_copy(update={"merged_into": target_source_id, "updated_at": now})

    def as_voucherify(
        self, summary: Mapping[str, Any] | None = None, memberships: Sequence[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """The Voucherify customer object (GET /v1/customers/{id}); ``summary`` holds the counters that
        redemptions keep (the customer's SUMMARY item), ``memberships`` the loyalty program memberships."""
        profile = self.profile
        return {
            "id": self.id,
            "source_id": self.source_id,
            "name": profile.name,
            "description": profile.description,
            "email": profile.email,
            "phone": profile.phone,
            "birthdate": profile.birthdate,
            "address": _voucherify_address(profile.address),
            "metadata": profile.metadata,
            "summary": voucherify_summary(summary or {}),
            "loyalty": voucherify_loyalty(memberships),
            "referrals": {"total": 0, "campaigns": []},
            "system_metadata": {"merged_from": list(self.merged_from)} if self.merged_from else {},
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at) if self.updated_at else None,
            "object": "customer",
        }


def voucherify_loyalty(memberships: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Voucherify's customer ``loyalty``: totals over the programs, and each program by name."""
    return {
        "points": sum(int(member.get("points") or 0) for member in memberships),
        "referred_customers": sum(int(member.get("referred_customers") or 0) for member in memberships),
        "campaigns": {
            str(member.get("program_name") or member.get("program_id")): {
                "points": int(member.get("points") or 0),
                "loyalty_tier": member.get("tier_id"),
                "referred_customers": int(member.get("referred_customers") or 0),
            }
            for member in memberships
        },
    }


def voucherify_summary(counters: Mapping[str, Any]) -> dict[str, Any]:
    """Voucherify's ``summary`` from the stored counters (absent counters are zero)."""

    def count(name: str) -> int:
        return int(counters.get(name) or 0)

    orders = count("orders_total_count")
    return {
        "redemptions": {
            "total_redeemed": count("redemptions_total_redeemed"),
            "total_failed": count("redemptions_total_failed"),
            "total_succeeded": count("redemptions_total_succeeded"),
            "total_rolled_back": count("redemptions_total_rolled_back"),
            "total_rollback_failed": count("redemptions_total_rollback_failed"),
            "total_rollback_succeeded": count("redemptions_total_rollback_succeeded"),
            "gift": {"redeemed_amount": count("gift_redeemed_amount"), "amount_to_go": count("gift_amount_to_go")},
            "loyalty_card": {"redeemed_points": count("loyalty_redeemed_points"),
                             "points_to_go": count("loyalty_points_to_go")},
        },
        "orders": {
            "total_amount": count("orders_total_amount"),
            "total_count": orders,
            "average_amount": count("orders_total_amount") // orders if orders else 0,
            "last_order_amount": count("orders_last_order_amount"),
            "last_order_date": counters.get("orders_last_order_date"),
        },
    }  # fmt: skip


def _voucherify_address(address: dict[str, str] | None) -> dict[str, str | None] | None:
    if not address:
        return None
    return {name: address.get(name) for name in ADDRESS_FIELDS}


# -- where incoming traits land -------------------------------------------------------------------------------

_NAME_TRAITS = ("name", "firstName", "lastName", "first_name", "last_name")
_MAPPED_TRAITS = {
    *_NAME_TRAITS,
    "email",
    "phone",
    "description",
    "birthday",
    "birthdate",
    "address",
    "metadata",
}


def profile_from_traits(traits: dict[str, Any]) -> Profile:
    """Segment identify traits -> the profile fields they set (only those present).

    Reserved traits map onto Voucherify's fields (``birthday`` -> ``birthdate``, ``address.street`` ->
    ``line_1``, ``firstName`` + ``lastName`` -> ``name``); every other trait, and the keys of a ``metadata``
    trait, go to ``metadata`` so segments can use them.
    """
    fields: dict[str, Any] = {}
    name = _full_name(traits)
    if name:
        fields["name"] = name
    for source, target in (("email", "email"), ("phone", "phone"), ("description", "description")):
        value = traits.get(source)
        if value is not None and value != "":
            fields[target] = str(value)
    birthdate = traits.get("birthdate") or traits.get("birthday")
    if isinstance(birthdate, str) and birthdate:
        fields["birthdate"] = birthdate[:10]
    address = traits.get("address")
    if isinstance(address, dict):
        fields["address"] = _address(address)
    metadata = {key: value for key, value in traits.items() if key not in _MAPPED_TRAITS}
    if isinstance(traits.get("metadata"), dict):
        metadata.update(traits["metadata"])
    if metadata:
        fields["metadata"] = metadata
    return Profile(**fields)


VOUCHERIFY_FIELDS = ("name", "email", "phone", "description", "birthdate", "birthday", "address", "metadata")


def voucherify_profile(body: dict[str, Any]) -> Profile:
    """The profile fields of a Voucherify customer body (POST/PUT /v1/customers, ``customer`` of an event).

    Only Voucherify's own fields count; anything else in the body (``object``, ``summary`` ...) is ignored
    rather than landing in metadata as an unknown Segment trait would.
    """
    return profile_from_traits({name: body[name] for name in VOUCHERIFY_FIELDS if body.get(name) is not None})


def _full_name(traits: dict[str, Any]) -> str | None:
    if isinstance(traits.get("name"), str) and traits["name"]:
        return str(traits["name"])
    first = traits.get("firstName") or traits.get("first_name")
    last = traits.get("lastName") or traits.get("last_name")
    joined = " ".join(str(part) for part in (first, last) if part)
    return joined or None


def _address(address: dict[str, Any]) -> dict[str, str]:
    mapping = {
        "city": "city",
        "state": "state",
        "street": "line_1",
        "line_1": "line_1",
        "line_2": "line_2",
        "country": "country",
        "postalCode": "postal_code",
        "postal_code": "postal_code",
    }
    return {target: str(address[source]) for source, target in mapping.items() if address.get(source) is not None}
