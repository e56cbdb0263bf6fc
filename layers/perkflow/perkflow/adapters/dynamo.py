"""The single table: key names, index names and a thin, typed wrapper over the low-level client.

Key design (docs/data-model.md has every access pattern):
- ``pk``/``sk``: the item's home. Entities are prefixed (``CUST#``, ``EVT#``, ``SCHEMA#`` ...).
- ``gsi1`` (lookup): alternative ids and per-owner listings (``cust_`` id -> customer, activity by customer).
- ``gsi2`` (collection): members of a collection (segment members, codes of a campaign).
- ``gsi3`` (schedule): sharded, time-ordered work (next check times, expiry dates).
All three are sparse: an item is in an index only when it carries that index's key attributes.

Every write that is a domain change carries its events in the ``outbox`` attribute (see
:mod:`perkflow.adapters.outbox`); the table's stream hands them to the relay, so "stored" implies
"published" without a second write.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from perkflow.adapters import aws

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PK, SK = "pk", "sk"
GSI1, GSI2, GSI3 = "gsi1", "gsi2", "gsi3"
INDEX_KEYS: dict[str, tuple[str, str]] = {
    GSI1: ("gsi1pk", "gsi1sk"),
    GSI2: ("gsi2pk", "gsi2sk"),
    GSI3: ("gsi3pk", "gsi3sk"),
}
TTL_ATTRIBUTE = "expires_at"

Item = dict[str, Any]
Key = dict[str, str]


class ConditionFailed(Exception):
    """A conditional write found its condition false; ``item`` is the stored item, if any."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("condition failed")
        self.item = item


@dataclass(frozen=True)
class CancellationReason:
    code: str | None
    item: Item | None = None


class TransactionCancelled(Exception):
    """A TransactWriteItems was cancelled; one reason per action, in order (code None: that action was ok)."""

    def __init__(self, reasons: list[CancellationReason]) -> None:
        super().__init__(", ".join(str(reason.code) for reason in reasons))
        self.reasons = reasons

    def failed_at(self, code: str = "ConditionalCheckFailed") -> list[int]:
        return [index for index, reason in enumerate(self.reasons) if reason.code == code]


@dataclass
class Page:
    items: list[Item]
    next_key: Key | None


@dataclass
class Put:
    item: Item
    condition: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Update:
    key: Key
    expression: str
    condition: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Delete:
    key: Key
    condition: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class ConditionCheck:
    key: Key
    condition: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


Action = Put | Update | Delete | ConditionCheck


class _Codec:
    """boto3's own (de)serializers, taught that JSON numbers may be floats and that N reads back as int."""

    def __init__(self) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        class Serializer(TypeSerializer):
            def _is_number(self, value: Any) -> bool:
                return isinstance(value, int | Decimal | float) and not isinstance(value, bool)

            def _serialize_n(self, value: Any) -> str:
                return str(value) if isinstance(value, float) else super()._serialize_n(value)  # type: ignore[misc]

        class Deserializer(TypeDeserializer):
            def _deserialize_n(self, value: str) -> int | float:
                number = Decimal(value)
                return int(number) if number == number.to_integral_value() else float(number)

        self.serializer = Serializer()
        self.deserializer = Deserializer()

    def dump(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.serializer.serialize(value) for name, value in item.items() if value is not None}

    def dump_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {name: self.serializer.serialize(value) for name, value in values.items()}

    def load(self, raw: Mapping[str, Any]) -> Item:
        return {name: self.deserializer.deserialize(value) for name, value in raw.items()}


_codec: _Codec | None = None


def codec() -> _Codec:
    global _codec
    if _codec is None:
        _codec = _Codec()
    return _codec


class Table:
    """The perkflow table. Methods raise ConditionFailed / TransactionCancelled for refused writes."""

    def __init__(self, name: str, client: DynamoDBClient | None = None) -> None:
        self.name = name
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            self._client = aws.dynamodb()
        return self._client

    # -- reads --------------------------------------------------------------------------------------------
    def get(self, key: Key, *, consistent: bool = False) -> Item | None:
        response = self.client.get_item(TableName=self.name, Key=codec().dump(key), ConsistentRead=consistent)
        raw = response.get("Item")
        return codec().load(raw) if raw else None

    def batch_get(self, keys: Sequence[Key], *, consistent: bool = False) -> list[Item]:
        """Every existing item among ``keys`` (any number; chunks of 100, unprocessed keys retried)."""
        found: list[Item] = []
        unique = list({(key[PK], key[SK]): key for key in keys}.values())
        for start in range(0, len(unique), 100):
            pending: dict[str, Any] = {
                self.name: {
                    "Keys": [codec().dump(key) for key in unique[start : start + 100]],
                    "ConsistentRead": consistent,
                }
            }
            while pending:
                response = self.client.batch_get_item(RequestItems=pending)
                found.extend(codec().load(raw) for raw in response["Responses"].get(self.name, []))
                pending = dict(response.get("UnprocessedKeys") or {})
        return found

    def query(
        self,
        key_condition: str,
        values: Mapping[str, Any],
        *,
        names: Mapping[str, str] | None = None,
        index: str | None = None,
        filter_expression: str | None = None,
        limit: int | None = None,
        forward: bool = True,
        start: Key | None = None,
        consistent: bool = False,
    ) -> Page:
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": codec().dump_values(values),
            "ScanIndexForward": forward,
        }
        if names:
            params["ExpressionAttributeNames"] = dict(names)
        if index:
            params["IndexName"] = index
        else:
            params["ConsistentRead"] = consistent
        if filter_expression:
            params["FilterExpression"] = filter_expression
        if limit:
            params["Limit"] = limit
        if start:
            params["ExclusiveStartKey"] = codec().dump(start)
        response = self.client.query(**params)
        last = response.get("LastEvaluatedKey")
        return Page(
            items=[codec().load(raw) for raw in response.get("Items", [])],
            next_key=codec().load(last) if last else None,
        )

    def count(self, key_condition: str, values: Mapping[str, Any], *, index: str | None = None) -> int:
        """How many items match (Select COUNT, every page): reads no attributes."""
        params: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": key_condition,
            "ExpressionAttributeValues": codec().dump_values(values),
            "Select": "COUNT",
        }
        if index:
            params["IndexName"] = index
        total = 0
        while True:
            response = self.client.query(**params)
            total += int(response.get("Count", 0))
            if not response.get("LastEvaluatedKey"):
                return total
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def query_all(self, key_condition: str, values: Mapping[str, Any], **kwargs: Any) -> Iterator[Item]:
        start: Key | None = None
        while True:
            page = self.query(key_condition, values, start=start, **kwargs)
            yield from page.items
            if page.next_key is None:
                return
            start = page.next_key

    # -- writes -------------------------------------------------------------------------------------------
    def put(
        self,
        item: Item,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        params: dict[str, Any] = {"TableName": self.name, "Item": codec().dump(item)}
        self._conditional(params, condition, names, values)
        self._guarded(lambda: self.client.put_item(**params))

    def update(
        self,
        key: Key,
        expression: str,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        return_new: bool = False,
    ) -> Item | None:
        params: dict[str, Any] = {
            "TableName": self.name,
            "Key": codec().dump(key),
            "UpdateExpression": expression,
        }
        self._conditional(params, condition, names, values)
        if return_new:
            params["ReturnValues"] = "ALL_NEW"
        response = self._guarded(lambda: self.client.update_item(**params))
        attributes = response.get("Attributes")
        return codec().load(attributes) if attributes else None

    def delete(
        self,
        key: Key,
        *,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        params: dict[str, Any] = {"TableName": self.name, "Key": codec().dump(key)}
        self._conditional(params, condition, names, values)
        self._guarded(lambda: self.client.delete_item(**params))

    def batch_put(self, items: Sequence[Item]) -> None:
        """Unconditional puts, 25 per call, unprocessed items retried (for bulk loads that need no guard)."""
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {
                self.name: [{"PutRequest": {"Item": codec().dump(item)}} for item in items[start : start + 25]]
            }
            while pending:
                response = self.client.batch_write_item(RequestItems=pending)
                pending = dict(response.get("UnprocessedItems") or {})

    def transact(self, actions: Sequence[Action]) -> None:
        """One all-or-nothing TransactWriteItems (at most 100 actions)."""
        if not actions:
            return
        items = [self._action(action) for action in actions]
        try:
            self.client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except self.client.exceptions.TransactionCanceledException as exc:
            raw_reasons: list[Any] = list(exc.response.get("CancellationReasons", []))
            reasons = [
                CancellationReason(
                    code=None if reason.get("Code") in (None, "None") else reason.get("Code"),
                    item=codec().load(reason["Item"]) if reason.get("Item") else None,
                )
                for reason in raw_reasons
            ]
            raise TransactionCancelled(reasons) from exc

    # -- helpers ------------------------------------------------------------------------------------------
    def _action(self, action: Action) -> dict[str, Any]:
        body: dict[str, Any] = {"TableName": self.name}
        if isinstance(action, Put):
            body["Item"] = codec().dump(action.item)
            kind = "Put"
        elif isinstance(action, Update):
            body["Key"] = codec().dump(action.key)
            body["UpdateExpression"] = action.expression
            kind = "Update"
        elif isinstance(action, Delete):
            body["Key"] = codec().dump(action.key)
            kind = "Delete"
        else:
            body["Key"] = codec().dump(action.key)
            kind = "ConditionCheck"
        self._conditional(body, action.condition, action.names, action.values)
        return {kind: body}

    @staticmethod
    def _conditional(
        params: dict[str, Any],
        condition: str | None,
        names: Mapping[str, str] | None,
        values: Mapping[str, Any] | None,
    ) -> None:
        if condition:
            params["ConditionExpression"] = condition
            # The stored item comes back with the refusal: callers answer replays without a second read.
            params["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if names:
            params["ExpressionAttributeNames"] = dict(names)
        if values:
            params["ExpressionAttributeValues"] = codec().dump_values(values)

    def _guarded(self, call: Any) -> Any:
        try:
            return call()
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            raw: Any = exc.response.get("Item")
            raise ConditionFailed(codec().load(raw) if raw else None) from exc
