"""``awscalls``: what an operator sees for a failed AWS call, from real botocore exceptions."""

from __future__ import annotations

from botocore.exceptions import ClientError, EndpointConnectionError

from severa_sync.awscalls import error_code, failure, http_status
from severa_sync.errors import CallInfo, SyncError


class Boom(SyncError):
    code = "boom"


CALL = CallInfo(system="dynamodb", operation="PutItem", params={"table": "t", "sk": "LOCK#cases"})


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "Item {secret-ish} was rejected"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutItem",
    )


def test_client_error_keeps_code_and_status() -> None:
    exc = client_error("ProvisionedThroughputExceededException", 400)
    assert error_code(exc) == "ProvisionedThroughputExceededException"
    assert http_status(exc) == 400

    call, error = failure(exc, CALL, Boom, "DynamoDB PutItem on t")

    assert isinstance(error, Boom)
    assert error.message == "DynamoDB PutItem on t failed: ProvisionedThroughputExceededException"
    assert call == CallInfo(system="dynamodb", operation="PutItem", params=CALL.params, status=400)
    assert error.call is call
    assert "rejected" not in error.message  # AWS's message text is not passed on
    assert CALL.status is None  # the caller's CallInfo is not changed


def test_client_error_without_code_or_status() -> None:
    exc = ClientError({}, "Publish")
    assert error_code(exc) == "ClientError"
    call, error = failure(exc, CALL, Boom, "SNS Publish")
    assert error.message == "SNS Publish failed: ClientError"
    assert call.status is None


def test_botocore_error_uses_class_name_and_no_status() -> None:
    exc = EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")
    assert error_code(exc) == "EndpointConnectionError"
    assert http_status(exc) is None

    call, error = failure(exc, CALL, Boom, "DynamoDB PutItem on t")

    assert error.message == "DynamoDB PutItem on t failed: EndpointConnectionError"
    assert call == CALL and call.status is None
    assert error.call == CALL
    assert error.as_log()["previous_call"] == CALL.as_log()


def test_missing_credentials_are_a_configuration_error_with_an_alert() -> None:
    # Issue 12 item 6: not "DynamoDB down" or "S3 down": nothing will work until someone configures it.
    from botocore.exceptions import NoCredentialsError, NoRegionError

    from severa_sync.errors import ConfigError

    for exc, words in ((NoCredentialsError(), "credentials"), (NoRegionError(), "region")):
        _, error = failure(exc, CALL, Boom, "DynamoDB PutItem on t")
        assert isinstance(error, ConfigError) and error.alert_kind == "configuration"
        assert words in error.message and "DynamoDB PutItem on t" in error.message
        assert error.call == CALL


def test_a_missing_bucket_is_a_configuration_error() -> None:
    from severa_sync.errors import ConfigError

    _, error = failure(client_error("NoSuchBucket", 404), CALL, Boom, "S3 PutObject s3://exports/x")
    assert isinstance(error, ConfigError) and "does not exist" in error.message
