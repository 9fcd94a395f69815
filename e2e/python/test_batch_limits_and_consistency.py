"""Behaviour the real-client suites found missing at first, kept as regression tests:
the 1 MiB batch limit, and read-your-writes of a short poll on another node."""

import pytest
from botocore.exceptions import ClientError
from conftest import assert_error


def test_batch_over_one_mib_in_total_is_too_long(nodes, name):
    n1, n2, n3 = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(ClientError) as e:
        n2.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 600_000} for i in range(2)]
        )
    assert_error(e, "BatchRequestTooLong")
    attrs = n3.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_short_poll_on_another_node_sees_an_acknowledged_send(nodes, name):
    n1, n2, _ = nodes
    url = n1.create_queue(QueueName=name)["QueueUrl"]
    misses = 0
    for i in range(30):
        n1.send_message(QueueUrl=url, MessageBody=f"m{i}")
        got = n2.receive_message(QueueUrl=url).get("Messages", [])
        if not got:
            misses += 1
            got = n2.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
        n1.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert misses == 0, f"{misses} of 30 short polls missed an acknowledged message"
