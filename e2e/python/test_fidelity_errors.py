"""Error shapes, error texts and regions as an unchanged AWS client meets them.

Raw requests (signed with botocore's SigV4 signer, sent in either protocol whatever the
installed botocore speaks) check the bytes AWS defines: JSON `__type` names next to the
Query code in `x-amzn-query-error`, the XML `Code`, and the message texts. boto3 clients
check what an application sees: the parsed error code, and queues of a second region."""

import json
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (
    ACCESS_KEY,
    OTHER_REGION,
    REGION,
    SECRET_KEY,
    Cluster,
    error_of,
    local_binary,
    make_client,
    urlopen,
)

XMLNS = {"sqs": "http://queue.amazonaws.com/doc/2012-11-05/"}


def raw(endpoint, protocol, action, params, region=REGION):
    """Sends `action` with `params` in `protocol` ("json" or "query"); returns
    (status, headers, body bytes)."""
    if protocol == "json":
        headers = {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"AmazonSQS.{action}",
        }
        body = json.dumps(params).encode()
    else:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        body = urllib.parse.urlencode(
            {"Action": action, "Version": "2012-11-05", **params}
        ).encode()
    request = AWSRequest(method="POST", url=endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "sqs", region).add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(
        prepared.url, data=body, headers=dict(prepared.headers), method="POST"
    )
    try:
        with urlopen(http) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def json_error(endpoint, action, params):
    """(status, __type, message, x-amzn-query-error) of a JSON request that fails."""
    status, headers, body = raw(endpoint, "json", action, params)
    doc = json.loads(body)
    return status, doc["__type"], doc.get("message"), headers.get("x-amzn-query-error")


def query_error(endpoint, action, params):
    """(status, Code, Message) of a Query request that fails."""
    status, _, body = raw(endpoint, "query", action, params)
    error = ET.fromstring(body).find("sqs:Error", XMLNS)
    return (
        status,
        error.findtext("sqs:Code", namespaces=XMLNS),
        error.findtext("sqs:Message", namespaces=XMLNS),
    )


@pytest.fixture
def queue_url(nodes, name):
    return nodes[0].create_queue(QueueName=name)["QueueUrl"]


RANGE_TEXT = (
    "Value 11 for parameter MaxNumberOfMessages is invalid. "
    "Reason: Must be between 1 and 10, if provided."
)


def test_json_error_types_are_the_service_model_names_next_to_the_query_code(
    cluster, queue_url
):
    endpoint = cluster.endpoints[0]
    assert json_error(
        endpoint, "ReceiveMessage", {"QueueUrl": queue_url, "MaxNumberOfMessages": 11}
    ) == (
        400,
        "com.amazon.coral.service#InvalidParameterValueException",
        RANGE_TEXT,
        "InvalidParameterValue;Sender",
    )
    status, type_, message, header = json_error(endpoint, "GetQueueUrl", {})
    assert (status, type_, header) == (
        400,
        "com.amazon.coral.service#MissingRequiredParameterException",
        "MissingParameter;Sender",
    )
    assert message == "The request must contain the parameter QueueName."
    assert json_error(endpoint, "GetQueueUrl", {"QueueName": "no-such-queue-fid"}) == (
        400,
        "com.amazonaws.sqs#QueueDoesNotExist",
        "The specified queue does not exist.",
        "AWS.SimpleQueueService.NonExistentQueue;Sender",
    )


def test_query_errors_keep_the_query_codes_and_texts(cluster, queue_url):
    endpoint = cluster.endpoints[0]
    assert query_error(
        endpoint, "ReceiveMessage", {"QueueUrl": queue_url, "MaxNumberOfMessages": "11"}
    ) == (400, "InvalidParameterValue", RANGE_TEXT)
    assert query_error(endpoint, "GetQueueUrl", {}) == (
        400,
        "MissingParameter",
        "The request must contain the parameter QueueName.",
    )
    assert query_error(endpoint, "GetQueueUrl", {"QueueName": "no-such-queue-fid"}) == (
        400,
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist for this wsdl version.",
    )
    assert query_error(endpoint, "FooBar", {}) == (
        400,
        "InvalidAction",
        "The action FooBar is not valid for this endpoint.",
    )


def test_clients_see_the_query_codes_and_aws_texts(nodes, queue_url):
    with pytest.raises(ClientError) as e:
        nodes[1].receive_message(QueueUrl=queue_url, MaxNumberOfMessages=11)
    assert error_of(e) == ("InvalidParameterValue", 400)
    assert e.value.response["Error"]["Message"] == RANGE_TEXT
    with pytest.raises(ClientError) as e:
        nodes[1].delete_message(QueueUrl=queue_url, ReceiptHandle="X")
    assert error_of(e) == ("ReceiptHandleIsInvalid", 400)
    assert e.value.response["Error"]["Message"] == (
        'The input receipt handle "X" is not a valid receipt handle.'
    )


def test_change_visibility_of_a_gone_message_quotes_the_receipt_handle(nodes, queue_url):
    client = nodes[0]
    client.send_message(QueueUrl=queue_url, MessageBody="m")
    handle = client.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)["Messages"][0][
        "ReceiptHandle"
    ]
    client.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
    with pytest.raises(ClientError) as e:
        client.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=10
        )
    assert error_of(e) == ("InvalidParameterValue", 400)
    assert e.value.response["Error"]["Message"] == (
        f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not "
        "exist or is not available for visibility timeout change."
    )
    failed = client.change_message_visibility_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": "entry-1", "ReceiptHandle": handle, "VisibilityTimeout": 10}],
    )["Failed"]
    assert [(f["Id"], f["Code"]) for f in failed] == [("entry-1", "InvalidParameterValue")]
    assert handle in failed[0]["Message"] and "entry-1" not in failed[0]["Message"]


def test_queues_of_an_accepted_region_are_distinct_and_named_for_it(cluster, name):
    home = make_client(cluster.endpoints[0])
    other = make_client(cluster.endpoints[1], region=OTHER_REGION)
    home_url = home.create_queue(QueueName=name)["QueueUrl"]
    other_url = other.create_queue(QueueName=name)["QueueUrl"]
    assert home_url.endswith(f"/{name}") and other_url.endswith(f"/{name}")
    arn = lambda client, url: client.get_queue_attributes(  # noqa: E731
        QueueUrl=url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert arn(home, home_url) == f"arn:aws:sqs:{REGION}:000000000000:{name}"
    assert arn(other, other_url) == f"arn:aws:sqs:{OTHER_REGION}:000000000000:{name}"
    assert other.get_queue_url(QueueName=name)["QueueUrl"] == other_url

    # Same name, two queues: a message sent in one region is not in the other.
    other.send_message(QueueUrl=other_url, MessageBody="eu")
    assert "Messages" not in home.receive_message(QueueUrl=home_url, WaitTimeSeconds=1)
    got = other.receive_message(QueueUrl=other_url, WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in got] == ["eu"]

    listed = lambda client: client.list_queues(QueueNamePrefix=name).get("QueueUrls", [])  # noqa: E731
    assert listed(home) == [home_url] and listed(other) == [other_url]
    # The home region cannot reach the other region's queue by spelling its storage key.
    assert home.list_queues(QueueNamePrefix=f"{OTHER_REGION}/").get("QueueUrls", []) == []
    with pytest.raises(ClientError) as e:
        home.get_queue_url(QueueName=f"{OTHER_REGION}/{name}")
    assert error_of(e) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    home.delete_queue(QueueUrl=home_url)
    assert other.get_queue_url(QueueName=name)["QueueUrl"] == other_url
    with pytest.raises(ClientError) as e:
        home.get_queue_url(QueueName=name)
    assert error_of(e) == ("AWS.SimpleQueueService.NonExistentQueue", 400)


def test_dead_letter_queues_resolve_in_their_region(cluster, name):
    other = make_client(cluster.endpoints[0], region=OTHER_REGION)
    dlq_url = other.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = other.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    source_url = other.create_queue(
        QueueName=name,
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}
            ),
            "VisibilityTimeout": "0",
        },
    )["QueueUrl"]
    assert other.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [
        source_url
    ]
    other.send_message(QueueUrl=source_url, MessageBody="to the dlq")
    assert len(other.receive_message(QueueUrl=source_url, WaitTimeSeconds=5)["Messages"]) == 1
    # The second receive would exceed maxReceiveCount: the message moves instead.
    assert "Messages" not in other.receive_message(QueueUrl=source_url, WaitTimeSeconds=1)
    moved = other.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in moved] == ["to the dlq"]


def test_a_region_not_accepted_is_refused(cluster):
    elsewhere = make_client(cluster.endpoints[0], region="ap-south-1")
    with pytest.raises(ClientError) as e:
        elsewhere.list_queues()
    assert error_of(e) == ("SignatureDoesNotMatch", 403)
    assert "Credential should be scoped to a valid region" in str(e.value)


def test_any_region_is_accepted_when_configured(name):
    with tempfile.TemporaryDirectory(prefix="sqsraft-pytest-regions-") as data_dir:
        running = Cluster(local_binary(), data_dir, nodes=1, accepted_regions="*")
        try:
            for region in ("ap-south-1", "sa-east-1"):
                client = make_client(running.endpoints[0], region=region)
                url = client.create_queue(QueueName=name)["QueueUrl"]
                client.send_message(QueueUrl=url, MessageBody=region)
            for region in ("ap-south-1", "sa-east-1"):
                client = make_client(running.endpoints[0], region=region)
                url = client.get_queue_url(QueueName=name)["QueueUrl"]
                got = client.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
                assert [m["Body"] for m in got] == [region]
        finally:
            running.stop()
