"""Message behaviour where sqsraft once differed from Amazon SQS (issue 19, items 2–5 and
7–9), driven by boto3 against a real cluster over JSON and Query: FIFO `DelaySeconds=0`,
FIFO batches failing as a whole, PurgeQueue dropping FIFO deduplication records, the
lifetime of receipt handles, dead-letter provenance, `X-Amzn-Trace-Id`, and the order a
message comes back in after its visibility timeout."""

import json
import time

import pytest
from botocore.exceptions import ClientError
from conftest import assert_error

EXPIRED = "The receipt handle has expired"


def counts(client, url):
    """(visible, in flight, delayed) as ApproximateNumberOfMessages* report them."""
    a = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(a["ApproximateNumberOfMessages"]),
        int(a["ApproximateNumberOfMessagesNotVisible"]),
        int(a["ApproximateNumberOfMessagesDelayed"]),
    )


def receive_one(client, url, **kwargs):
    """The one message a receive returns (waiting up to 5 s for it)."""
    got = client.receive_message(QueueUrl=url, WaitTimeSeconds=5, **kwargs).get("Messages", [])
    assert len(got) == 1, got
    return got[0]


def fifo_queue(client, name, **attributes):
    attributes = {"FifoQueue": "true", **attributes}
    return client.create_queue(QueueName=f"{name}.fifo", Attributes=attributes)["QueueUrl"]


def queue_arn(client, url):
    return client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


# Item 2: an explicit DelaySeconds=0 is accepted on FIFO queues and means the queue's delay.
def test_fifo_accepts_delay_seconds_zero_as_the_queue_delay(nodes, name):
    n1, n2, n3 = nodes
    url = fifo_queue(n1, name, DelaySeconds="60", ContentBasedDeduplication="true")
    n2.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", DelaySeconds=0)
    batch = n3.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": "a", "MessageBody": "two", "MessageGroupId": "g", "DelaySeconds": 0}],
    )
    assert [s["Id"] for s in batch["Successful"]] == ["a"]
    assert not batch.get("Failed"), batch
    assert counts(n1, url) == (0, 0, 2), "the queue's 60 s delay applies to both"
    with pytest.raises(ClientError) as e:
        n1.send_message(QueueUrl=url, MessageBody="three", MessageGroupId="g", DelaySeconds=1)
    assert_error(e, "InvalidParameterValue")


# Item 3: a FIFO batch with an entry lacking its group or deduplication id stores nothing.
@pytest.mark.parametrize("missing", ["MessageGroupId", "MessageDeduplicationId"])
def test_fifo_batch_with_an_entry_missing_an_id_fails_as_a_whole(nodes, name, missing):
    n1, n2, _ = nodes
    url = fifo_queue(n1, name)
    bad = {"Id": "bad", "MessageBody": "bad", "MessageGroupId": "g", "MessageDeduplicationId": "b"}
    del bad[missing]
    good = {"Id": "ok", "MessageBody": "ok", "MessageGroupId": "g", "MessageDeduplicationId": "o"}
    with pytest.raises(ClientError) as e:
        n2.send_message_batch(QueueUrl=url, Entries=[good, bad])
    assert_error(e, "InvalidParameterValue")
    assert counts(n1, url) == (0, 0, 0)
    # The good entry was not stored: sent alone now it is new, not a duplicate.
    sent = n2.send_message_batch(QueueUrl=url, Entries=[good])["Successful"]
    assert receive_one(n1, url)["MessageId"] == sent[0]["MessageId"]


# Item 4: PurgeQueue drops the FIFO deduplication records.
def test_purge_forgets_fifo_deduplication_ids(nodes, name):
    n1, n2, n3 = nodes
    url = fifo_queue(n1, name)
    send = {"QueueUrl": url, "MessageBody": "m", "MessageGroupId": "g"}
    first = n2.send_message(MessageDeduplicationId="d1", **send)["MessageId"]
    n1.purge_queue(QueueUrl=url)
    again = n3.send_message(MessageDeduplicationId="d1", **send)["MessageId"]
    assert again != first, "after a purge the same deduplication id is a new message"
    assert receive_one(n1, url)["MessageId"] == again


# Item 5: receipt-handle lifetime (see docs/compatibility.md for the whole rule).
def test_standard_visibility_change_through_an_expired_handle_applies(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    n1.send_message(QueueUrl=url, MessageBody="m")
    handle = receive_one(n2, url, VisibilityTimeout=1)["ReceiptHandle"]
    time.sleep(1.5)
    n3.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=30)
    assert counts(n1, url) == (0, 1, 0), "in flight again"
    n2.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert counts(n3, url) == (0, 0, 0), "the handle is still the message's latest"


def test_standard_visibility_change_through_a_superseded_handle_applies(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    n1.send_message(QueueUrl=url, MessageBody="m")
    old = receive_one(n2, url, VisibilityTimeout=1)["ReceiptHandle"]
    time.sleep(1.5)
    new = receive_one(n3, url, VisibilityTimeout=30)["ReceiptHandle"]
    n1.change_message_visibility_batch(
        QueueUrl=url, Entries=[{"Id": "o", "ReceiptHandle": old, "VisibilityTimeout": 0}]
    )
    assert counts(n2, url) == (1, 0, 0), "the old handle released the message"
    latest = receive_one(n1, url, VisibilityTimeout=30)["ReceiptHandle"]
    # A superseded handle never deletes: neither the old nor the second one.
    for stale in (old, new):
        n2.delete_message(QueueUrl=url, ReceiptHandle=stale)
    assert counts(n3, url) == (0, 1, 0)
    n3.delete_message(QueueUrl=url, ReceiptHandle=latest)
    assert counts(n1, url) == (0, 0, 0)


def test_fifo_handle_whose_timeout_expired_is_refused(nodes, name):
    n1, n2, n3 = nodes
    url = fifo_queue(n1, name, ContentBasedDeduplication="true")
    n1.send_message(QueueUrl=url, MessageBody="m", MessageGroupId="g")
    handle = receive_one(n2, url, VisibilityTimeout=1)["ReceiptHandle"]
    time.sleep(1.5)
    with pytest.raises(ClientError) as e:
        n3.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert_error(e, "InvalidParameterValue")
    assert EXPIRED in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        n3.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=30)
    assert_error(e, "InvalidParameterValue")
    failed = n1.delete_message_batch(QueueUrl=url, Entries=[{"Id": "x", "ReceiptHandle": handle}])[
        "Failed"
    ]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in failed] == [
        ("x", "InvalidParameterValue", True)
    ]
    assert EXPIRED in failed[0]["Message"]
    # Nothing was deleted, and the handle of the next receive works.
    current = receive_one(n3, url)["ReceiptHandle"]
    n1.delete_message(QueueUrl=url, ReceiptHandle=current)
    assert counts(n2, url) == (0, 0, 0)


# Item 7: a dead letter keeps its receive count and names the queue it came from.
def test_dead_letter_keeps_its_receive_count_and_source_arn(nodes, name):
    n1, n2, n3 = nodes
    dlq = n1.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    src = n2.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": queue_arn(n1, dlq), "maxReceiveCount": 2}
            ),
        },
    )["QueueUrl"]
    n1.send_message(QueueUrl=src, MessageBody="poison")
    for _ in range(2):
        receive_one(n2, src)
    assert n3.receive_message(QueueUrl=src).get("Messages", []) == [], "moved, not delivered"
    dead = receive_one(n1, dlq, AttributeNames=["All"], VisibilityTimeout=0)
    assert dead["Attributes"]["ApproximateReceiveCount"] == "3"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == queue_arn(n3, src)
    only = receive_one(n2, dlq, AttributeNames=["DeadLetterQueueSourceArn"])
    assert only["Attributes"] == {"DeadLetterQueueSourceArn": queue_arn(n3, src)}


# Item 8: the X-Amzn-Trace-Id header is stored as AWSTraceHeader; the attribute wins.
def test_trace_id_header_becomes_the_aws_trace_header(nodes, name):
    n1, n2, _ = nodes

    def add_trace_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = "Root=1-5759e988-bd862e3fe1be46a994272793"

    n2.meta.events.register("before-sign.sqs.SendMessage", add_trace_header)
    n2.meta.events.register("before-sign.sqs.SendMessageBatch", add_trace_header)
    try:
        url = n1.create_queue(QueueName=name)["QueueUrl"]
        n2.send_message(QueueUrl=url, MessageBody="single")
        n2.send_message_batch(QueueUrl=url, Entries=[{"Id": "b", "MessageBody": "batch"}])
        explicit = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=explicit"}}
        n2.send_message(QueueUrl=url, MessageBody="explicit", MessageSystemAttributes=explicit)
    finally:
        n2.meta.events.unregister("before-sign.sqs.SendMessage", add_trace_header)
        n2.meta.events.unregister("before-sign.sqs.SendMessageBatch", add_trace_header)
    n1.send_message(QueueUrl=url, MessageBody="none")
    traces = {}
    while len(traces) < 4:
        m = receive_one(n1, url, AttributeNames=["AWSTraceHeader"])
        traces[m["Body"]] = m.get("Attributes", {}).get("AWSTraceHeader")
        n1.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert traces == {
        "single": "Root=1-5759e988-bd862e3fe1be46a994272793",
        "batch": "Root=1-5759e988-bd862e3fe1be46a994272793",
        "explicit": "Root=explicit",
        "none": None,
    }


# Item 9: a message back from its visibility timeout precedes messages sent after it.
def test_standard_message_back_from_its_timeout_comes_before_later_sends(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    n1.send_message(QueueUrl=url, MessageBody="older")
    assert receive_one(n2, url, VisibilityTimeout=1)["Body"] == "older"
    n3.send_message(QueueUrl=url, MessageBody="newer")
    time.sleep(1.5)
    assert receive_one(n1, url)["Body"] == "older"
    assert receive_one(n2, url)["Body"] == "newer"
