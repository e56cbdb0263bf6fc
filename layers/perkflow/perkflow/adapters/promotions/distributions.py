"""Distributions (``DIST#<id>``), listed in gsi1 (``DISTRIBUTIONS``) and found by their trigger segment in
gsi2 (``DISTSEG#<segment id>``), so a segment entry reads only the distributions it triggers."""

from __future__ import annotations

from perkflow.adapters.dynamo import GSI1, GSI2, ConditionFailed, Table
from perkflow.adapters.promotions.items import distribution_item, distribution_key, distribution_of
from perkflow.domain.promotions.distributions import Distribution


class DistributionStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, distribution: Distribution) -> None:
        self.table.put(distribution_item(distribution), condition="attribute_not_exists(pk)")

    def put(self, distribution: Distribution) -> None:
        self.table.put(distribution_item(distribution), condition="attribute_exists(pk)")

    def get(self, distribution_id: str) -> Distribution | None:
        item = self.table.get(distribution_key(distribution_id), consistent=True)
        return distribution_of(item) if item else None

    def delete(self, distribution_id: str) -> bool:
        try:
            self.table.delete(distribution_key(distribution_id), condition="attribute_exists(pk)")
        except ConditionFailed:
            return False
        return True

    def all(self) -> list[Distribution]:
        items = self.table.query_all("gsi1pk = :pk", {":pk": "DISTRIBUTIONS"}, index=GSI1, forward=False)
        return [distribution_of(item) for item in items]

    def for_segment(self, segment_id: str) -> list[Distribution]:
        items = self.table.query_all("gsi2pk = :pk", {":pk": f"DISTSEG#{segment_id}"}, index=GSI2)
        return [distribution_of(item) for item in items]
