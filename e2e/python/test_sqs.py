"""boto3 against a real 3-node sqsraft cluster, every flow crossing nodes: what one node
accepts, another serves. Runs unchanged on the current botocore (AWS JSON 1.0) and on
botocore 1.29 (Query/XML); conftest checks each request's wire form. Tests marked
`protocol("json")` use API members the old botocore does not have."""

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError
from conftest import (
    ACCESS_KEY,
    PROTOCOL,
    assert_error,
    error_of,
    make_client,
    md5_of_attributes,
    md5_of_body,
)

# Every attribute type AWS has, custom `.suffix` types included.
ATTRIBUTES = {
    "str": {"DataType": "String", "StringValue": "héllo wörld ✓"},
    "str.custom": {"DataType": "String.custom-label", "StringValue": "labelled"},
    "num": {"DataType": "Number", "StringValue": "-12.5e3"},
    "num.int": {"DataType": "Number.int", "StringValue": "42"},
    "bin": {"DataType": "Binary", "BinaryValue": bytes(range(256))},
    "bin.gif": {"DataType": "Binary.gif", "BinaryValue": b"GIF89a\x00\x01"},
}


def receive_all(client, url, expected, **kwargs):
    """Receives until `expected` messages arrived (each receive may return a subset)."""
    got = []
    deadline = time.monotonic() + 15
    while len(got) < expected and time.monotonic() < deadline:
        out = client.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kwargs
        )
        got.extend(out.get("Messages", []))
    assert len(got) == expected, got
    return got


def approximate(client, url):
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(attrs["ApproximateNumberOfMessages"]),
        int(attrs["ApproximateNumberOfMessagesNotVisible"]),
        int(attrs["ApproximateNumberOfMessagesDelayed"]),
    )


def test_wire_protocol_is_the_one_botocore_speaks(nodes):
    sent = []
    client = make_client(nodes[0].meta.endpoint_url)
    client.meta.events.register("before-send.sqs", lambda request, **_: sent.append(request))
    client.list_queues()
    (request,) = sent
    if PROTOCOL == "json":
        assert request.headers["X-Amz-Target"] in ("AmazonSQS.ListQueues", b"AmazonSQS.ListQueues")
    else:
        assert "Action=ListQueues" in (
            request.body.decode() if isinstance(request.body, bytes) else request.body
        )


def test_queue_catalog_across_nodes(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": "45"}, tags={"team": "a"}
    )["QueueUrl"]
    assert url.endswith(f"/000000000000/{name}")
    # Creating again with the same attributes is idempotent, through another node.
    again = n2.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"]
    assert again.rsplit("/", 2)[1:] == url.rsplit("/", 2)[1:]
    with pytest.raises(ClientError) as e:
        n3.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    assert_error(e, "QueueNameExists")

    assert n3.get_queue_url(QueueName=name)["QueueUrl"].endswith(f"/000000000000/{name}")
    for suffix in ("b", "c", "d"):
        n1.create_queue(QueueName=f"{name}{suffix}")
    listed = n2.list_queues(QueueNamePrefix=name)["QueueUrls"]
    assert sorted(u.rsplit("/", 1)[1] for u in listed) == [name, f"{name}b", f"{name}c", f"{name}d"]
    pages, token = [], None
    while True:
        kwargs = {"NextToken": token} if token else {}
        out = n3.list_queues(QueueNamePrefix=name, MaxResults=3, **kwargs)
        pages.append(len(out["QueueUrls"]))
        token = out.get("NextToken")
        if not token:
            break
    assert pages == [3, 1]

    n2.set_queue_attributes(
        QueueUrl=url, Attributes={"DelaySeconds": "3", "MaximumMessageSize": "2048"}
    )
    attrs = n3.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["DelaySeconds"] == "3"
    assert attrs["MaximumMessageSize"] == "2048"
    assert attrs["VisibilityTimeout"] == "45"
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    assert int(attrs["LastModifiedTimestamp"]) >= int(attrs["CreatedTimestamp"]) > 1.6e9
    some = n1.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])["Attributes"]
    assert some == {"DelaySeconds": "3"}

    n1.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        n2.get_queue_url(QueueName=name)
    assert_error(e, "QueueDoesNotExist")
    with pytest.raises(ClientError) as e:
        n3.send_message(QueueUrl=url, MessageBody="to nowhere")
    assert_error(e, "QueueDoesNotExist")


def test_attribute_errors(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(ClientError) as e:
        n2.get_queue_attributes(QueueUrl=url, AttributeNames=["NoSuchAttribute"])
    assert_error(e, "InvalidAttributeName")
    with pytest.raises(ClientError) as e:
        n3.create_queue(QueueName=f"{name}x", Attributes={"NoSuchAttribute": "1"})
    assert_error(e, "InvalidAttributeName")
    with pytest.raises(ClientError) as e:
        n3.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
    assert_error(e, "InvalidAttributeValue")
    with pytest.raises(ClientError) as e:
        n1.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "soon"})
    assert_error(e, "InvalidAttributeValue")
    # All-or-nothing: the valid half of a rejected update was not applied.
    with pytest.raises(ClientError):
        n2.set_queue_attributes(
            QueueUrl=url, Attributes={"DelaySeconds": "5", "MessageRetentionPeriod": "1"}
        )
    attrs = n3.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds"])
    assert attrs["Attributes"] == {"DelaySeconds": "0"}


def test_message_attributes_of_every_type_round_trip_with_aws_md5s(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    body = "body ✓ with \t tab, \n newline and 𝄞"
    sent = n1.send_message(
        QueueUrl=url,
        MessageBody=body,
        MessageAttributes=ATTRIBUTES,
        MessageSystemAttributes={
            "AWSTraceHeader": {
                "DataType": "String",
                "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793",
            }
        },
    )
    assert sent["MD5OfMessageBody"] == md5_of_body(body)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(ATTRIBUTES)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(
        {
            "AWSTraceHeader": {
                "DataType": "String",
                "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793",
            }
        }
    )

    (msg,) = receive_all(n2, url, 1, MessageAttributeNames=["All"], AttributeNames=["All"])
    assert msg["MessageId"] == sent["MessageId"]
    assert msg["Body"] == body
    assert msg["MD5OfBody"] == md5_of_body(body)
    assert msg["MessageAttributes"] == ATTRIBUTES
    assert msg["MD5OfMessageAttributes"] == md5_of_attributes(ATTRIBUTES)
    assert msg["Attributes"]["AWSTraceHeader"] == "Root=1-5759e988-bd862e3fe1be46a994272793"
    assert msg["Attributes"]["SenderId"] == ACCESS_KEY
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(msg["Attributes"]["ApproximateFirstReceiveTimestamp"]) >= int(
        msg["Attributes"]["SentTimestamp"]
    )
    n3.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert approximate(n1, url) == (0, 0, 0)


def test_receive_selects_attributes_by_name_and_prefix(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    n1.send_message(QueueUrl=url, MessageBody="x", MessageAttributes=ATTRIBUTES)

    def receive(client, **kwargs):
        (msg,) = receive_all(client, url, 1, **kwargs)
        return msg

    bare = receive(n2)
    assert "MessageAttributes" not in bare and "Attributes" not in bare
    assert "MD5OfMessageAttributes" not in bare

    for selection, names in [
        # `<prefix>.*` is a plain name prefix on AWS (`Hel.*` selects `Hello`).
        (["str.*"], ["str", "str.custom"]),
        (["num", "bin.gif", "missing"], ["bin.gif", "num"]),
        ([".*"], sorted(ATTRIBUTES)),
        (["All"], sorted(ATTRIBUTES)),
    ]:
        msg = receive(n3, MessageAttributeNames=selection)
        expected = {k: ATTRIBUTES[k] for k in names}
        assert msg["MessageAttributes"] == expected, selection
        # The digest covers exactly the attributes returned.
        assert msg["MD5OfMessageAttributes"] == md5_of_attributes(expected), selection

    msg = receive(n2, AttributeNames=["SentTimestamp", "ApproximateReceiveCount"])
    assert set(msg["Attributes"]) == {"SentTimestamp", "ApproximateReceiveCount"}
    assert msg["Attributes"]["ApproximateReceiveCount"] == "6"


@pytest.mark.protocol("json")
def test_receive_selects_message_system_attribute_names(nodes, name):
    n1, n2, _ = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    n1.send_message(QueueUrl=url, MessageBody="x")
    (msg,) = receive_all(n2, url, 1, MessageSystemAttributeNames=["SenderId", "SentTimestamp"])
    assert set(msg["Attributes"]) == {"SenderId", "SentTimestamp"}


def test_batches_across_nodes_with_per_entry_failures(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    entries = [
        {
            "Id": f"e-{i}",
            "MessageBody": f"body {i}",
            "MessageAttributes": {"i": {"DataType": "Number", "StringValue": str(i)}},
        }
        for i in range(10)
    ]
    out = n1.send_message_batch(QueueUrl=url, Entries=entries)
    assert "Failed" not in out or out["Failed"] == []
    assert sorted(s["Id"] for s in out["Successful"]) == sorted(e["Id"] for e in entries)
    for s in out["Successful"]:
        i = int(s["Id"].split("-")[1])
        assert s["MD5OfMessageBody"] == md5_of_body(f"body {i}")
        assert s["MD5OfMessageAttributes"] == md5_of_attributes(entries[i]["MessageAttributes"])

    got = receive_all(n2, url, 10, MessageAttributeNames=["All"])
    assert sorted(m["Body"] for m in got) == sorted(e["MessageBody"] for e in entries)
    assert approximate(n3, url) == (0, 10, 0)

    # Change visibility of three: two valid, one malformed handle.
    changed = n3.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "b", "ReceiptHandle": got[1]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "bad", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 0},
        ],
    )
    assert sorted(s["Id"] for s in changed["Successful"]) == ["a", "b"]
    (failed,) = changed["Failed"]
    assert failed["Id"] == "bad" and failed["SenderFault"] is True
    assert failed["Code"] == "ReceiptHandleIsInvalid"
    again = receive_all(n1, url, 2)
    assert sorted(m["MessageId"] for m in again) == sorted(m["MessageId"] for m in got[:2])

    handles = [m["ReceiptHandle"] for m in got[2:] + again]
    deleted = n2.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"d{i}", "ReceiptHandle": h} for i, h in enumerate(handles[:9])]
        + [{"Id": "bad", "ReceiptHandle": "not-a-handle"}],
    )
    assert sorted(s["Id"] for s in deleted["Successful"]) == [f"d{i}" for i in range(9)]
    (failed,) = deleted["Failed"]
    assert (failed["Id"], failed["Code"], failed["SenderFault"]) == (
        "bad",
        "ReceiptHandleIsInvalid",
        True,
    )
    assert approximate(n1, url) == (0, 1, 0)
    n3.delete_message(QueueUrl=url, ReceiptHandle=handles[9])
    assert approximate(n1, url) == (0, 0, 0)


def test_batch_request_errors(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    cases = [
        ("EmptyBatchRequest", n2.send_message_batch, []),
        (
            "TooManyEntriesInBatchRequest",
            n3.send_message_batch,
            [{"Id": str(i), "MessageBody": "x"} for i in range(11)],
        ),
        (
            "BatchEntryIdsNotDistinct",
            n1.send_message_batch,
            [{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}],
        ),
        ("InvalidBatchEntryId", n3.send_message_batch, [{"Id": "bad id!", "MessageBody": "x"}]),
        ("EmptyBatchRequest", n1.delete_message_batch, []),
        (
            "TooManyEntriesInBatchRequest",
            n2.delete_message_batch,
            [{"Id": str(i), "ReceiptHandle": "x"} for i in range(11)],
        ),
        (
            "BatchEntryIdsNotDistinct",
            n3.change_message_visibility_batch,
            [{"Id": "d", "ReceiptHandle": "x", "VisibilityTimeout": 1}] * 2,
        ),
        (
            "InvalidBatchEntryId",
            n1.change_message_visibility_batch,
            [{"Id": "x" * 81, "ReceiptHandle": "x", "VisibilityTimeout": 1}],
        ),
    ]
    for error, call, entries in cases:
        with pytest.raises(ClientError) as e:
            call(QueueUrl=url, Entries=entries)
        assert_error(e, error)
    assert approximate(n3, url) == (0, 0, 0), "no entry of a rejected batch was stored"


def test_message_contents_and_size_limits(nodes, name):
    n1, n2, _ = nodes
    url = n1.create_queue(QueueName=name, Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
    for body in ["null \x00 char", "vertical \x0b tab", "\ufffe non-character"]:
        with pytest.raises(ClientError) as e:
            n2.send_message(QueueUrl=url, MessageBody=body)
        assert_error(e, "InvalidMessageContents")
    # Message attributes count toward MaximumMessageSize.
    n1.send_message(QueueUrl=url, MessageBody="x" * 1024)
    with pytest.raises(ClientError) as e:
        n2.send_message(
            QueueUrl=url,
            MessageBody="x" * 1000,
            MessageAttributes={"a": {"DataType": "String", "StringValue": "y" * 100}},
        )
    assert_error(e, "InvalidParameterValue")
    assert approximate(n2, url) == (1, 0, 0)


def test_visibility_stale_handles(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    msg_id = n1.send_message(QueueUrl=url, MessageBody="v")["MessageId"]
    (first,) = receive_all(n2, url, 1)
    assert n3.receive_message(QueueUrl=url).get("Messages", []) == [], "in flight: invisible"

    n3.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    (second,) = receive_all(
        n1, url, 1, AttributeNames=["ApproximateReceiveCount"], VisibilityTimeout=30
    )
    assert second["MessageId"] == msg_id
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"], "each receive rotates the handle"

    # A stale handle's delete succeeds but deletes nothing (AWS semantics).
    n2.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert approximate(n3, url) == (0, 1, 0)
    # Changing visibility through any handle of the message applies on a standard queue
    # (AWS does so; the whole rule is in docs/compatibility.md).
    n3.change_message_visibility(
        QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
    )
    assert approximate(n1, url) == (1, 0, 0)
    n2.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=10
    )
    assert approximate(n1, url) == (0, 1, 0)

    for call in (
        lambda c: c.delete_message(QueueUrl=url, ReceiptHandle="garbage"),
        lambda c: c.change_message_visibility(
            QueueUrl=url, ReceiptHandle="garbage", VisibilityTimeout=1
        ),
    ):
        with pytest.raises(ClientError) as e:
            call(n1)
        assert_error(e, "ReceiptHandleIsInvalid")

    (third,) = receive_all(n3, url, 1)
    n1.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    assert approximate(n2, url) == (0, 0, 0)


def test_delays_per_message_and_per_queue(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name, Attributes={"DelaySeconds": "4"})["QueueUrl"]
    n1.send_message(QueueUrl=url, MessageBody="queue delay")
    n2.send_message(QueueUrl=url, MessageBody="no delay", DelaySeconds=0)
    n2.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "d", "MessageBody": "entry delay", "DelaySeconds": 3}]
    )
    assert approximate(n3, url) == (1, 0, 2)
    (now,) = receive_all(n3, url, 1)
    assert now["Body"] == "no delay"
    started = time.monotonic()
    later = receive_all(n1, url, 2)
    assert sorted(m["Body"] for m in later) == ["entry delay", "queue delay"]
    assert time.monotonic() - started >= 1


def test_long_poll_on_one_node_wakes_on_send_through_another(nodes, name):
    n1, n2, _ = nodes
    url = n1.create_queue(QueueName=name, Attributes={"ReceiveMessageWaitTimeSeconds": "1"})[
        "QueueUrl"
    ]
    result = {}

    def wait():
        started = time.monotonic()
        result["out"] = n2.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        result["done"] = time.monotonic() - started

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)
    n1.send_message(QueueUrl=url, MessageBody="wake up")
    waiter.join(25)
    assert [m["Body"] for m in result["out"]["Messages"]] == ["wake up"]
    assert result["done"] < 10, f"woken by the send, not the 20 s deadline: {result['done']:.2f}s"

    # The queue's ReceiveMessageWaitTimeSeconds is the default wait; an empty one ends at it.
    started = time.monotonic()
    assert n2.receive_message(QueueUrl=url).get("Messages", []) == []
    assert time.monotonic() - started >= 0.9


def test_purge_once_per_minute(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    n1.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "p"} for i in range(5)]
    )
    n2.purge_queue(QueueUrl=url)
    assert n3.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    assert approximate(n3, url) == (0, 0, 0)
    with pytest.raises(ClientError) as e:
        n3.purge_queue(QueueUrl=url)
    assert_error(e, "PurgeQueueInProgress")
    # Sends after the purge are kept.
    n1.send_message(QueueUrl=url, MessageBody="after")
    assert [m["Body"] for m in receive_all(n2, url, 1)] == ["after"]


def test_tags(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name, tags={"env": "test", "team": "core"})["QueueUrl"]
    assert n2.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test", "team": "core"}
    n3.tag_queue(QueueUrl=url, Tags={"team": "platform", "cost": "42"})
    assert n1.list_queue_tags(QueueUrl=url)["Tags"] == {
        "env": "test",
        "team": "platform",
        "cost": "42",
    }
    n2.untag_queue(QueueUrl=url, TagKeys=["env", "absent"])
    assert n3.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "platform", "cost": "42"}


def test_permissions_live_in_the_policy(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    n1.add_permission(
        QueueUrl=url,
        Label="readers",
        AWSAccountIds=["111122223333"],
        Actions=["ReceiveMessage", "DeleteMessage"],
    )
    policy = json.loads(
        n2.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )
    (statement,) = policy["Statement"]
    assert statement["Sid"] == "readers"
    assert statement["Effect"] == "Allow"
    assert "111122223333" in json.dumps(statement["Principal"])
    assert sorted(statement["Action"]) == ["SQS:DeleteMessage", "SQS:ReceiveMessage"]
    assert statement["Resource"] == f"arn:aws:sqs:us-east-1:000000000000:{name}"
    with pytest.raises(ClientError) as e:
        n3.add_permission(
            QueueUrl=url, Label="readers", AWSAccountIds=["111122223333"], Actions=["SendMessage"]
        )
    assert error_of(e) == ("InvalidParameterValue", 400)

    n3.remove_permission(QueueUrl=url, Label="readers")
    attrs = n1.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {})
    assert "readers" not in attrs.get("Policy", "")
    with pytest.raises(ClientError) as e:
        n2.remove_permission(QueueUrl=url, Label="readers")
    assert error_of(e) == ("InvalidParameterValue", 400)


def test_fifo_order_dedup_group_locks_and_attempt_ids(nodes, name):
    n1, n2, n3 = nodes
    fifo = f"{name}.fifo"
    with pytest.raises(ClientError) as e:
        n1.create_queue(QueueName=fifo)
    assert error_of(e)[1] == 400, "a .fifo name needs FifoQueue=true"
    url = n1.create_queue(
        QueueName=fifo, Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"}
    )["QueueUrl"]

    # Alternate producers (nodes 1 and 2) over two groups.
    sent = [
        (n1, n2)[i % 2].send_message(
            QueueUrl=url, MessageBody=f"m{i}", MessageGroupId=group, MessageDeduplicationId=f"d{i}"
        )
        for i, group in enumerate("baabaa")
    ]
    numbers = [int(s["SequenceNumber"]) for s in sent]
    assert numbers == sorted(numbers) and len(set(numbers)) == 6
    # A duplicate within the dedup window returns the first send's id and stores nothing.
    dup = n3.send_message(
        QueueUrl=url, MessageBody="m0 again", MessageGroupId="b", MessageDeduplicationId="d0"
    )
    assert dup["MessageId"] == sent[0]["MessageId"]
    with pytest.raises(ClientError) as e:
        n3.send_message(QueueUrl=url, MessageBody="no group")
    assert error_of(e) == ("MissingParameter", 400)

    # One receive with an attempt id; a retry with the same id returns the same batch.
    first = n3.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        ReceiveRequestAttemptId="attempt-1",
        AttributeNames=["All"],
    )["Messages"]
    retry = n1.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        ReceiveRequestAttemptId="attempt-1",
        AttributeNames=["All"],
    )["Messages"]
    assert [m["MessageId"] for m in retry] == [m["MessageId"] for m in first]
    assert [m["ReceiptHandle"] for m in retry] == [m["ReceiptHandle"] for m in first]
    by_group = {}
    for m in first:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
    assert by_group == {"b": ["m0", "m3"], "a": ["m1", "m2", "m4", "m5"]}
    for m in first:
        assert m["Attributes"]["MessageDeduplicationId"] == f"d{m['Body'][1:]}"
        assert m["Attributes"]["SequenceNumber"] == sent[int(m["Body"][1:])]["SequenceNumber"]

    # Both groups are locked while in flight.
    assert n2.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    n2.send_message(QueueUrl=url, MessageBody="m6", MessageGroupId="a", MessageDeduplicationId="d6")
    assert (
        n1.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        == []
    ), "group a stays locked with a new message behind its in-flight ones"
    # Releasing group b makes it receivable again, in order.
    n2.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[
            {"Id": m["Body"], "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for m in first
            if m["Body"] in ("m3", "m0")
        ],
    )
    again = n1.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in again] == ["m0", "m3"]
    n3.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(again)]
        + [
            {"Id": f"a{i}", "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(first)
            if m["Body"] not in ("m0", "m3")
        ],
    )
    assert [m["Body"] for m in receive_all(n2, url, 1)] == ["m6"]

    # Content-based deduplication.
    cbd = n1.create_queue(
        QueueName=f"{name}-cbd.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    one = n1.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    two = n2.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    assert approximate(n3, cbd) == (1, 0, 0)


def test_dead_letter_redrive_and_source_listing(nodes, name):
    n1, n2, n3 = nodes
    dlq = n1.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = n1.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    src = n2.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    policy = json.loads(
        n3.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert policy == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}
    assert n3.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"][0].endswith(f"/{name}")

    msg_id = n1.send_message(QueueUrl=src, MessageBody="poison", MessageAttributes=ATTRIBUTES)[
        "MessageId"
    ]
    for count in ("1", "2"):
        (m,) = receive_all(n2, src, 1, AttributeNames=["ApproximateReceiveCount"])
        assert m["Attributes"]["ApproximateReceiveCount"] == count
    # The third receive moves it to the dead-letter queue instead of delivering it.
    assert n3.receive_message(QueueUrl=src, WaitTimeSeconds=1).get("Messages", []) == []
    (dead,) = receive_all(n1, dlq, 1, MessageAttributeNames=["All"])
    assert (dead["MessageId"], dead["Body"]) == (msg_id, "poison")
    assert dead["MessageAttributes"] == ATTRIBUTES
    assert dead["MD5OfMessageAttributes"] == md5_of_attributes(ATTRIBUTES)
    assert approximate(n2, src) == (0, 0, 0)


@pytest.mark.protocol("json")
def test_message_move_task_redrives_the_dead_letter_queue(nodes, name):
    n1, n2, n3 = nodes
    dlq = n1.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = n1.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    src = n2.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}),
        },
    )["QueueUrl"]
    n1.send_message_batch(
        QueueUrl=src, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)]
    )
    receive_all(n2, src, 3)
    assert (
        n3.receive_message(QueueUrl=src, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        == []
    )
    assert approximate(n1, dlq) == (3, 0, 0)

    handle = n3.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    deadline = time.monotonic() + 15
    while True:
        (task,) = n1.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if task["Status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert handle and task["Status"] == "COMPLETED", task
    assert task["ApproximateNumberOfMessagesMoved"] == 3
    assert sorted(m["Body"] for m in receive_all(n2, src, 3)) == ["m0", "m1", "m2"]


def test_wrong_signature_and_unknown_key_are_refused(cluster):
    wrong_secret = make_client(cluster.endpoints[1], secret="not-the-secret")
    with pytest.raises(ClientError) as e:
        wrong_secret.list_queues()
    assert error_of(e) == ("SignatureDoesNotMatch", 403)
    unknown_key = make_client(cluster.endpoints[2], access_key="AKIDUNKNOWN")
    with pytest.raises(ClientError) as e:
        unknown_key.create_queue(QueueName="never")
    assert error_of(e) == ("InvalidClientTokenId", 403)
