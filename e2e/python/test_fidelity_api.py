"""AWS fidelity of the API surface (issue 19): what an unchanged client meets, as AWS
answers it. boto3 against a real 3-node sqsraft cluster, on the current botocore (AWS
JSON 1.0) and on botocore 1.29 (Query/XML); the Query-only edge cases go out as raw
SigV4-signed HTTP requests (botocore's signer) on either run."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from conftest import ACCESS_KEY, REGION, SECRET_KEY, assert_error, md5_of_attributes, urlopen

ACCOUNT = "000000000000"


def arn_of(client, url):
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def attributes(client, url, *names):
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=list(names) or ["All"]).get(
        "Attributes", {}
    )


def signed(method, url, params=None, headers=None):
    """Sends one SigV4-signed Query request (form body on POST, query string on GET) and
    returns (status, headers, body text)."""
    data = urllib.parse.urlencode(params or {})
    if method == "GET" and data:
        url, data = f"{url}?{data}", ""
    all_headers = dict(headers or {})
    if method == "POST":
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = AWSRequest(method=method, url=url, data=data, headers=all_headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "sqs", REGION).add_auth(request)
    prepared = request.prepare()
    raw = urllib.request.Request(
        prepared.url,
        data=prepared.body.encode() if prepared.body else None,
        headers=dict(prepared.headers),
        method=method,
    )
    try:
        with urlopen(raw) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


# 1 ---------------------------------------------------------------------------------------


def test_a_bare_queue_name_is_accepted_as_queue_url(nodes, name):
    n1, n2, n3 = nodes
    n1.create_queue(QueueName=name)
    sent = n2.send_message(QueueUrl=name, MessageBody="by name")
    (msg,) = n3.receive_message(QueueUrl=name, WaitTimeSeconds=5)["Messages"]
    assert (msg["MessageId"], msg["Body"]) == (sent["MessageId"], "by name")
    n1.delete_message(QueueUrl=name, ReceiptHandle=msg["ReceiptHandle"])
    assert attributes(n2, name, "ApproximateNumberOfMessages") == {
        "ApproximateNumberOfMessages": "0"
    }
    n3.delete_queue(QueueUrl=name)
    with pytest.raises(ClientError) as e:
        n1.get_queue_attributes(QueueUrl=name, AttributeNames=["All"])
    assert_error(e, "QueueDoesNotExist")


# 6 ---------------------------------------------------------------------------------------


def test_non_ascii_attribute_names_and_wildcard_selection(nodes, name):
    n1, n2, _ = nodes
    url = n1.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sent = {
        n: {"DataType": "String", "StringValue": n}
        for n in ["attr.1øßä", "Hello", "Help.Me", "Custom1", "Other"]
    }
    n1.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=sent)
    for selection, names in [
        (["*"], list(sent)),
        (["Hel.*"], ["Hello", "Help.Me"]),
        (["Custom.*"], ["Custom1"]),
        (["attr.1øßä"], ["attr.1øßä"]),
    ]:
        (msg,) = n2.receive_message(
            QueueUrl=url, MessageAttributeNames=selection, WaitTimeSeconds=5
        )["Messages"]
        expected = {n: sent[n] for n in names}
        assert msg["MessageAttributes"] == expected, selection
        assert msg["MD5OfMessageAttributes"] == md5_of_attributes(expected), selection


# 10 --------------------------------------------------------------------------------------


ONLY_FIFO = "only when FifoQueue is set to true."


@pytest.mark.parametrize(
    "attribute,value,message",
    [
        ("FifoQueue", "false", "Unknown Attribute FifoQueue."),
        ("ContentBasedDeduplication", "false", "Unknown Attribute ContentBasedDeduplication."),
        ("DeduplicationScope", "queue", f"You can specify the DeduplicationScope {ONLY_FIFO}"),
        ("FifoThroughputLimit", "perQueue", f"You can specify the FifoThroughputLimit {ONLY_FIFO}"),
    ],
)
def test_a_standard_queue_refuses_fifo_only_attributes(nodes, name, attribute, value, message):
    n1, n2, _ = nodes
    with pytest.raises(ClientError) as e:
        n1.create_queue(QueueName=name, Attributes={attribute: value})
    assert_error(e, "InvalidAttributeName")
    assert e.value.response["Error"]["Message"] == message
    with pytest.raises(ClientError) as e:
        n2.get_queue_url(QueueName=name)
    assert_error(e, "QueueDoesNotExist")


# 11 --------------------------------------------------------------------------------------


def test_set_queue_attributes_fifo_queue_restated_or_changed(nodes, name):
    n1, n2, _ = nodes
    url = n1.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    n2.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true", "DelaySeconds": "3"})
    assert attributes(n1, url, "FifoQueue", "DelaySeconds") == {
        "FifoQueue": "true",
        "DelaySeconds": "3",
    }
    with pytest.raises(ClientError) as e:
        n2.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})
    assert_error(e, "InvalidAttributeValue")
    assert e.value.response["Error"]["Message"] == "Modifying queue type is not supported."


# 12 --------------------------------------------------------------------------------------


def test_sse_kms_and_sse_sqs_are_exclusive(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name, Attributes={"KmsMasterKeyId": "alias/aws/sqs"})[
        "QueueUrl"
    ]
    kms = attributes(n2, url)
    assert kms["KmsMasterKeyId"] == "alias/aws/sqs"
    assert kms["KmsDataKeyReusePeriodSeconds"] == "300"
    assert kms["SqsManagedSseEnabled"] == "false"
    n3.set_queue_attributes(QueueUrl=url, Attributes={"KmsMasterKeyId": ""})
    cleared = attributes(n1, url)
    assert "KmsMasterKeyId" not in cleared
    assert "KmsDataKeyReusePeriodSeconds" not in cleared
    both = {"KmsMasterKeyId": "alias/aws/sqs", "SqsManagedSseEnabled": "true"}
    for call in (
        lambda: n2.create_queue(QueueName=f"{name}-both", Attributes=both),
        lambda: n2.set_queue_attributes(QueueUrl=url, Attributes=both),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert_error(e, "InvalidAttributeName")
        assert e.value.response["Error"]["Message"] == (
            "You can use one type of server-side encryption (SSE) at one time. "
            "You can either enable KMS SSE or SQS SSE."
        )


# 13 --------------------------------------------------------------------------------------


def test_add_permission_writes_the_policy_as_aws_does(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    arn = arn_of(n1, url)
    n2.add_permission(
        QueueUrl=url, Label="one", AWSAccountIds=["111122223333"], Actions=["SendMessage"]
    )
    n3.add_permission(
        QueueUrl=url,
        Label="two",
        AWSAccountIds=["111122223333", "444455556666"],
        Actions=["ReceiveMessage", "DeleteMessage"],
    )
    policy = json.loads(attributes(n1, url, "Policy")["Policy"])
    assert policy["Version"] == "2008-10-17"
    assert policy["Id"] == f"{arn}/SQSDefaultPolicy"
    one, two = policy["Statement"]
    assert one == {
        "Sid": "one",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "SQS:SendMessage",
        "Resource": arn,
    }
    assert two["Principal"] == {
        "AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::444455556666:root"]
    }
    assert two["Action"] == ["SQS:ReceiveMessage", "SQS:DeleteMessage"]


@pytest.mark.parametrize("action", ["AddPermission", "RemovePermission", "SetQueueAttributes"])
def test_add_permission_refuses_owner_only_actions(nodes, name, action):
    n1, n2, _ = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(ClientError) as e:
        n2.add_permission(QueueUrl=url, Label="x", AWSAccountIds=["111122223333"], Actions=[action])
    assert_error(e, "InvalidParameterValue")
    assert e.value.response["Error"]["Message"] == (
        f"Value SQS:{action} for parameter ActionName is invalid. "
        "Reason: Only the queue owner is allowed to invoke this action."
    )
    assert "Policy" not in attributes(n1, url)


# 14 --------------------------------------------------------------------------------------


def test_batch_results_omit_empty_lists(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    sent = n2.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "b", "MessageBody": "2"}]
    )
    assert "Failed" not in sent, sent
    assert [s["Id"] for s in sent["Successful"]] == ["a", "b"]
    bad = [{"Id": "x", "ReceiptHandle": "not-a-handle"}]
    deleted = n3.delete_message_batch(QueueUrl=url, Entries=bad)
    assert "Successful" not in deleted, deleted
    assert [f["Id"] for f in deleted["Failed"]] == ["x"]
    changed = n1.change_message_visibility_batch(
        QueueUrl=url, Entries=[dict(bad[0], VisibilityTimeout=5)]
    )
    assert "Successful" not in changed, changed


# 15 --------------------------------------------------------------------------------------


def test_an_invalid_character_in_an_attribute_value_is_an_invalid_parameter(nodes, name):
    n1, n2, _ = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(ClientError) as e:
        n2.send_message(
            QueueUrl=url,
            MessageBody="ok",
            MessageAttributes={"a": {"DataType": "String", "StringValue": "bad \x00 value"}},
        )
    assert_error(e, "InvalidParameterValue")
    assert attributes(n1, url, "ApproximateNumberOfMessages") == {
        "ApproximateNumberOfMessages": "0"
    }


# 16 --------------------------------------------------------------------------------------


def test_query_request_accepting_json_is_answered_in_json(cluster, nodes, name):
    url = nodes[0].create_queue(QueueName=name)["QueueUrl"]
    status, headers, body = signed(
        "POST",
        cluster.endpoints[1] + "/",
        {"Action": "GetQueueUrl", "QueueName": name, "Version": "2012-11-05"},
        {"Accept": "application/json"},
    )
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json"), headers
    document = json.loads(body)
    response = document["GetQueueUrlResponse"]
    # Queue URLs name the host the request went to.
    assert response["GetQueueUrlResult"] == {
        "QueueUrl": cluster.endpoints[1] + urllib.parse.urlparse(url).path
    }
    assert response["ResponseMetadata"]["RequestId"]
    status, _, body = signed(
        "GET",
        cluster.endpoints[2] + "/",
        {"Action": "GetQueueUrl", "QueueName": f"{name}-none", "Version": "2012-11-05"},
        {"Accept": "application/json"},
    )
    assert status == 400, body
    assert json.loads(body)["ErrorResponse"]["Error"]["Code"] == (
        "AWS.SimpleQueueService.NonExistentQueue"
    )


def test_query_get_on_a_queue_url_without_action_is_an_unknown_operation(cluster, nodes, name):
    url = nodes[0].create_queue(QueueName=name)["QueueUrl"]
    path = urllib.parse.urlparse(url).path
    status, _, body = signed("GET", cluster.endpoints[1] + path)
    assert status == 404, body
    assert "<Code>UnknownOperationException</Code>" in body, body


@pytest.mark.parametrize("action", ["CreateQueue", "ListQueues"])
def test_account_level_actions_on_a_queue_url_are_invalid(cluster, nodes, name, action):
    url = nodes[0].create_queue(QueueName=name)["QueueUrl"]
    path = urllib.parse.urlparse(url).path
    status, _, body = signed(
        "GET",
        cluster.endpoints[2] + path,
        {"Action": action, "QueueName": f"{name}-other", "Version": "2012-11-05"},
    )
    assert status == 400, body
    assert "<Code>InvalidAction</Code>" in body, body
    assert f"<Message>The action {action} is not valid for this endpoint.</Message>" in body
    with pytest.raises(ClientError) as e:
        nodes[1].get_queue_url(QueueName=f"{name}-other")
    assert_error(e, "QueueDoesNotExist")


def test_an_empty_query_receive_renders_an_empty_result_element(cluster, nodes, name):
    url = nodes[0].create_queue(QueueName=name)["QueueUrl"]
    path = urllib.parse.urlparse(url).path
    status, _, body = signed(
        "GET", cluster.endpoints[1] + path, {"Action": "ReceiveMessage", "Version": "2012-11-05"}
    )
    assert status == 200, body
    assert "<ReceiveMessageResult/>" in body, body


# 17 --------------------------------------------------------------------------------------


@pytest.mark.protocol("json")
def test_message_move_task_errors(nodes, name):
    n1, n2, n3 = nodes
    dlq = n1.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = arn_of(n1, dlq)
    n2.create_queue(
        QueueName=name,
        Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
        },
    )
    with pytest.raises(ClientError) as e:
        n1.cancel_message_move_task(TaskHandle="not a task handle")
    assert_error(e, "InvalidParameterValue")
    assert e.value.response["Error"]["Message"] == "Value for parameter TaskHandle is invalid."
    missing = f"{dlq_arn}-missing"
    for call, parameter in [
        (lambda: n2.start_message_move_task(SourceArn=missing), "SourceArn"),
        (lambda: n2.list_message_move_tasks(SourceArn=missing), "SourceArn"),
        (
            lambda: n2.start_message_move_task(SourceArn=dlq_arn, DestinationArn=missing),
            "DestinationArn",
        ),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert_error(e, "ResourceNotFoundException", 404)
        assert e.value.response["Error"]["Message"] == (
            f"The resource that you specified for the {parameter} parameter doesn't exist."
        )
    # A slow task over many messages stays running while a second one is refused.
    for i in range(0, 30, 10):
        n3.send_message_batch(
            QueueUrl=dlq,
            Entries=[{"Id": str(j), "MessageBody": f"m{j}"} for j in range(i, i + 10)],
        )
    handle = n3.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)[
        "TaskHandle"
    ]
    with pytest.raises(ClientError) as e:
        n1.start_message_move_task(SourceArn=dlq_arn)
    assert_error(e, "InvalidParameterValue")
    n2.cancel_message_move_task(TaskHandle=handle)
    with pytest.raises(ClientError) as e:
        n3.cancel_message_move_task(TaskHandle=handle)
    assert_error(e, "ResourceNotFoundException", 404)


# 18 --------------------------------------------------------------------------------------


def test_validation_order_and_empty_lists(nodes, name):
    n1, n2, n3 = nodes
    with pytest.raises(ClientError) as e:
        n1.delete_message(QueueUrl=f"{name}-missing", ReceiptHandle="garbage")
    assert_error(e, "ReceiptHandleIsInvalid")
    url = n1.create_queue(QueueName=name, tags={"keep": "me"})["QueueUrl"]
    with pytest.raises(ClientError) as e:
        n2.tag_queue(QueueUrl=url, Tags={})
    assert_error(e, "MissingParameter")
    with pytest.raises(ClientError) as e:
        n3.untag_queue(QueueUrl=url, TagKeys=[])
    assert_error(e, "MissingParameter")
    assert n1.list_queue_tags(QueueUrl=url)["Tags"] == {"keep": "me"}
    out = n2.get_queue_attributes(QueueUrl=url)
    assert "Attributes" not in out, out
    with pytest.raises(ClientError) as e:
        n3.get_queue_attributes(QueueUrl=f"{name}-missing")
    assert_error(e, "QueueDoesNotExist")


# 19 --------------------------------------------------------------------------------------


def test_redrive_policy_errors_are_invalid_parameter_values(nodes, name):
    n1, n2, _ = nodes
    dlq_arn = arn_of(n1, n1.create_queue(QueueName=f"{name}-dlq")["QueueUrl"])
    for policy, reason in [
        (
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 0},
            "Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive.",
        ),
        (
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1001},
            "Invalid value for maxReceiveCount: 1001, valid values are from 1 to 1000 both "
            "inclusive.",
        ),
        (
            {"maxReceiveCount": 3},
            "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.",
        ),
        (
            {"deadLetterTargetArn": "not-an-arn", "maxReceiveCount": 3},
            "Invalid value for deadLetterTargetArn.",
        ),
    ]:
        text = json.dumps(policy)
        with pytest.raises(ClientError) as e:
            n2.create_queue(QueueName=name, Attributes={"RedrivePolicy": text})
        assert_error(e, "InvalidParameterValue")
        assert e.value.response["Error"]["Message"] == (
            f"Value {text} for parameter RedrivePolicy is invalid. Reason: {reason}"
        )

