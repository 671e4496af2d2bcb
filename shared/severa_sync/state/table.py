"""The state table: its schema, its item layout, and typed item-level access to it.

One DynamoDB table per stack, items readable by an operator.
``template.yaml`` declares the same table (``tests/infra`` compares it with these constants); tests
and the local run create it with ``create_state_table``. Item layout (``pk = TENANT#<tenant>``):

==============================  =================================================================
``sk``                          attributes
==============================  =================================================================
``WATERMARK#<type>``            watermark, tenant, data_type, updated_at, updated_by, window_seconds,
                                resume, unavailable_attempts, last_run
``LOCK#<type>``                 owner (one invocation's token), run_id, expires_at (TTL, epoch
                                seconds), acquired_at
``RETRY#<type>#<key>``          key, display_key, attempts, last_error_code, last_error_message,
                                first_failed_at, last_failed_at
``VERSIONS``                    api_version, schema_version, checked_at
``HALT`` / ``HALT#<type>``      code, reason, since, data_type (the retry state machine writes these too)
``MAP#<type>#<key>``            target_key, content_hash, delivered_at, extra
==============================  =================================================================
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Protocol

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from severa_sync.awscalls import error_code, failure
from severa_sync.engine.ports import Mapping, PendingJob, WatermarkRow
from severa_sync.errors import CallInfo, SyncError
from severa_sync.timeutil import format_watermark

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
BILLING_MODE: Final = "PAY_PER_REQUEST"

KEY_SCHEMA: tuple[dict[str, str], ...] = (
    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
)
ATTRIBUTE_DEFINITIONS: tuple[dict[str, str], ...] = (
    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
    {"AttributeName": SORT_KEY, "AttributeType": "S"},
)

# Sort-key prefixes and fixed sort keys.
WATERMARK = "WATERMARK"
LOCK = "LOCK"
RETRY = "RETRY"
VERSIONS = "VERSIONS"
HALT = "HALT"
MAP = "MAP"

BATCH_GET_LIMIT = 100
BATCH_WRITE_LIMIT = 25
UNPROCESSED_ATTEMPTS = 8


def tenant_pk(tenant: str) -> str:
    return f"TENANT#{tenant}"


def watermark_sk(data_type: str) -> str:
    return f"{WATERMARK}#{data_type}"


def lock_sk(data_type: str) -> str:
    return f"{LOCK}#{data_type}"


def retry_prefix(data_type: str) -> str:
    # The trailing '#' keeps "RETRY#case#" from matching "RETRY#cases#..." in a begins_with query.
    return f"{RETRY}#{data_type}#"


def retry_sk(data_type: str, key: str) -> str:
    return retry_prefix(data_type) + key


def halt_sk(data_type: str | None) -> str:
    """``HALT`` stops the whole tenant, ``HALT#<type>`` one data type."""
    return HALT if data_type is None else f"{HALT}#{data_type}"


def mapping_prefix(data_type: str) -> str:
    return f"{MAP}#{data_type}#"


def mapping_sk(data_type: str, key: str) -> str:
    return mapping_prefix(data_type) + key


#: Invoice writes queued on the Visma.net background API and not seen to end (``ports.PendingJob``):
#: stored as the mapping items of this namespace, ``MAP#visma-invoice-jobs#<externalReference>``
#: with ``target_key`` = the job id and ``delivered_at`` = when it was queued, as since the first
#: release, so a deployed table's pending jobs are still found.
PENDING_JOBS = "visma-invoice-jobs"


def pending_job_sk(reference: str) -> str:
    return mapping_sk(PENDING_JOBS, reference)


def pending_job_mapping(job: PendingJob) -> Mapping:
    """The item's mapping attributes, as the Visma.net target wrote them before jobs had a port."""
    return Mapping(job.job_id, "", job.queued_at, {"external_reference": job.reference})


class _Mappings(Protocol):
    def get_mapping(self, tenant: str, data_type: str, key: str) -> Mapping | None: ...

    def put_mapping(self, tenant: str, data_type: str, key: str, mapping: Mapping) -> None: ...

    def forget_mappings(self, tenant: str, data_type: str, keys: Sequence[str]) -> None: ...


class PendingJobsInMappings:
    """``StateStore``'s background jobs on a store's own mapping items (``PENDING_JOBS``): one
    implementation for both stores (and the tests' mapping fake)."""

    def pending_job(self: _Mappings, tenant: str, reference: str) -> PendingJob | None:
        found = self.get_mapping(tenant, PENDING_JOBS, reference)
        return None if found is None else PendingJob(reference, found.target_key, found.delivered_at)

    def remember_job(self: _Mappings, tenant: str, job: PendingJob) -> None:
        self.put_mapping(tenant, PENDING_JOBS, job.reference, pending_job_mapping(job))

    def forget_job(self: _Mappings, tenant: str, reference: str) -> None:
        self.forget_mappings(tenant, PENDING_JOBS, [reference])


def watermark_row(item: dict[str, Any]) -> WatermarkRow:
    """A watermark item (either store) as the operator's list reads it; the type from the sort key
    where the item does not say (a hand-made one)."""
    last_run = item.get("last_run")
    watermark, updated_by = item.get("watermark"), item.get("updated_by")
    return WatermarkRow(
        data_type=str(item.get("data_type") or str(item[SORT_KEY]).split("#", 1)[1]),
        watermark=None if watermark is None else str(watermark),
        updated_by=None if updated_by is None else str(updated_by),
        last_run=dict(last_run) if isinstance(last_run, dict) else {},
    )


def item_key(tenant: str, sk: str) -> dict[str, Any]:
    """Low-level ``Key`` of one item."""
    return {PARTITION_KEY: {"S": tenant_pk(tenant)}, SORT_KEY: {"S": sk}}


def create_state_table(client: DynamoDBClient, name: str) -> None:
    """Create the table as the template declares it (on-demand, TTL on ``expires_at``) and wait."""
    client.create_table(
        TableName=name,
        KeySchema=[dict(k) for k in KEY_SCHEMA],  # type: ignore[misc]
        AttributeDefinitions=[dict(a) for a in ATTRIBUTE_DEFINITIONS],  # type: ignore[misc]
        BillingMode=BILLING_MODE,
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


# --- access -------------------------------------------------------------------------------------
class StateStoreUnavailable(SyncError):
    """DynamoDB refused or could not be reached: the run stops, nothing is checkpointed blindly."""

    code = "state_store_unavailable"


class ConditionFailed(Exception):
    """A conditional write lost (an operator or another run changed the item first)."""


_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_attribute(value: Any) -> Any:
    """A Python value as a low-level attribute: floats become numbers, times ISO strings."""
    return _serializer.serialize(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str | int | Decimal):
        return value
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, datetime):
        return format_watermark(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__} in the state table")


def _python(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_python(v) for v in value]
    return value


def from_item(raw: dict[str, Any]) -> dict[str, Any]:
    """A low-level item as plain Python (numbers as int/float)."""
    return {k: _python(_deserializer.deserialize(v)) for k, v in raw.items()}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StateTable:
    """Item-level access to the state table: errors typed, last call remembered, names aliased."""

    def __init__(self, client: DynamoDBClient, name: str, *, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.name = name
        self._sleep = sleep
        self.last_call: CallInfo | None = None

    def call(self, method: str, sk: str | None = None, **kwargs: Any) -> Any:
        operation = "".join(part.capitalize() for part in method.split("_"))
        params: dict[str, Any] = {"table": self.name}
        if sk is not None:
            params["sk"] = sk
        call = CallInfo(system="dynamodb", operation=operation, params=params)
        self.last_call = call
        try:
            return getattr(self.client, method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise ConditionFailed from None
            self.last_call, error = failure(
                exc, call, StateStoreUnavailable, f"DynamoDB {operation} on {self.name}"
            )
            raise error from None

    def get(self, tenant: str, sk: str) -> dict[str, Any] | None:
        resp = self.call("get_item", sk, TableName=self.name, Key=item_key(tenant, sk), ConsistentRead=True)
        return from_item(resp["Item"]) if "Item" in resp else None

    @staticmethod
    def full_item(tenant: str, sk: str, attrs: dict[str, Any]) -> dict[str, Any]:
        item = {PARTITION_KEY: tenant_pk(tenant), SORT_KEY: sk, "tenant": tenant, **attrs}
        return {k: to_attribute(v) for k, v in item.items() if v is not None}

    def put(self, tenant: str, sk: str, attrs: dict[str, Any], **kwargs: Any) -> None:
        self.call("put_item", sk, TableName=self.name, Item=self.full_item(tenant, sk, attrs), **kwargs)

    def update(
        self,
        tenant: str,
        sk: str,
        *,
        set_: dict[str, Any],
        remove: Sequence[str] = (),
        add: dict[str, int] | None = None,
        set_if_absent: dict[str, Any] | None = None,
        condition: str | None = None,
        values: dict[str, Any] | None = None,
        return_values: str = "NONE",
    ) -> dict[str, Any]:
        """UpdateItem with every attribute name aliased (``owner``, ``key``, ``status`` are reserved).

        ``condition`` names attributes as ``#name`` and values as keys of ``values``.
        """
        names: dict[str, str] = {}
        vals: dict[str, Any] = {}
        sets = []
        for attr, value in {"tenant": tenant, **set_}.items():
            names[f"#{attr}"], vals[f":{attr}"] = attr, to_attribute(value)
            sets.append(f"#{attr} = :{attr}")
        for attr, value in (set_if_absent or {}).items():
            names[f"#{attr}"], vals[f":{attr}"] = attr, to_attribute(value)
            sets.append(f"#{attr} = if_not_exists(#{attr}, :{attr})")
        expression = "SET " + ", ".join(sets)
        if remove:
            names.update({f"#{a}": a for a in remove})
            expression += " REMOVE " + ", ".join(f"#{a}" for a in remove)
        if add:
            for attr, amount in add.items():
                names[f"#{attr}"], vals[f":{attr}"] = attr, to_attribute(amount)
            expression += " ADD " + ", ".join(f"#{a} :{a}" for a in add)
        kwargs: dict[str, Any] = {}
        if condition:
            names.update({token: token[1:] for token in re.findall(r"#\w+", condition)})
            vals.update({k: to_attribute(v) for k, v in (values or {}).items()})
            kwargs["ConditionExpression"] = condition
        resp = self.call(
            "update_item",
            sk,
            TableName=self.name,
            Key=item_key(tenant, sk),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=vals,
            ReturnValues=return_values,
            **kwargs,
        )
        return from_item(resp.get("Attributes", {}))

    def delete(self, tenant: str, sk: str, **kwargs: Any) -> dict[str, Any]:
        resp = self.call("delete_item", sk, TableName=self.name, Key=item_key(tenant, sk), **kwargs)
        return from_item(resp.get("Attributes", {}))

    def query_prefix(self, tenant: str, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#sk": SORT_KEY},
            "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant)}, ":prefix": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            resp = self.call("query", prefix, **kwargs)
            yield from (from_item(raw) for raw in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def batch_get(self, tenant: str, sort_keys: Sequence[str]) -> Iterator[dict[str, Any]]:
        """BatchGetItem, 100 keys a call; unprocessed keys are asked again with a growing pause."""
        for chunk in _chunks(list(dict.fromkeys(sort_keys)), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.name: {"Keys": [item_key(tenant, sk) for sk in chunk], "ConsistentRead": True}
            }
            for attempt in range(UNPROCESSED_ATTEMPTS):
                resp = self.call("batch_get_item", chunk[0], RequestItems=request)
                yield from (from_item(raw) for raw in resp.get("Responses", {}).get(self.name, []))
                request = resp.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise StateStoreUnavailable(
                    f"DynamoDB BatchGetItem left keys unprocessed {UNPROCESSED_ATTEMPTS} times on {self.name}",
                    call=self.last_call,
                )

    def batch_put(self, tenant: str, items: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """BatchWriteItem of ``(sk, attributes)``, 25 a call; unprocessed items are written again."""
        self._batch_write(
            [(sk, {"PutRequest": {"Item": self.full_item(tenant, sk, attrs)}}) for sk, attrs in items]
        )

    def batch_delete(self, tenant: str, sort_keys: Sequence[str]) -> None:
        """BatchWriteItem deletes, 25 a call; unprocessed ones are sent again."""
        self._batch_write([(sk, {"DeleteRequest": {"Key": item_key(tenant, sk)}}) for sk in sort_keys])

    def _batch_write(self, requests: Sequence[tuple[str, dict[str, Any]]]) -> None:
        for chunk in _chunks(requests, BATCH_WRITE_LIMIT):
            request: dict[str, Any] = {self.name: [write for _sk, write in chunk]}
            for attempt in range(UNPROCESSED_ATTEMPTS):
                resp = self.call("batch_write_item", chunk[0][0], RequestItems=request)
                request = resp.get("UnprocessedItems") or {}
                if not request:
                    break
                self._sleep(min(0.05 * 2**attempt, 2.0))
            else:
                raise StateStoreUnavailable(
                    f"DynamoDB BatchWriteItem left items unprocessed {UNPROCESSED_ATTEMPTS} times on {self.name}",
                    call=self.last_call,
                )
