"""Which segments a customer is in, as the segments capability keeps it.

The customer's segment state item (``CUST#<cust id>`` / ``SEGSTATE``) carries ``members``: the ids of every
segment the customer is currently in (computed and static). Rules (``customer.segment``) read it with one
GetItem.
"""

from __future__ import annotations

from perkflow.adapters.dynamo import Table

STATE_SK = "SEGSTATE"


def segment_state_key(customer_id: str) -> dict[str, str]:
    return {"pk": f"CUST#{customer_id}", "sk": STATE_SK}


class SegmentMembershipStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    def segment_ids(self, customer_id: str) -> set[str]:
        response = self.table.client.get_item(
            TableName=self.table.name,
            Key={"pk": {"S": f"CUST#{customer_id}"}, "sk": {"S": STATE_SK}},
            ProjectionExpression="members",
        )
        members = response.get("Item", {}).get("members", {}).get("SS", [])
        return set(members)
