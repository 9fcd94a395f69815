"""Known server gaps, found by the real-client suites and kept here until fixed.

Each test states AWS's behaviour and is marked xfail with what sqsraft does instead;
the marker comes off with the server fix (a strict xfail fails the run once it passes).
"""

import pytest
from botocore.exceptions import ClientError
from conftest import assert_error


@pytest.mark.xfail(
    strict=True,
    reason="server gap: SendMessageBatch accepts 1.2 MB of entries; AWS refuses a batch "
    "over 1 MiB in total with BatchRequestTooLong (no code path emits it)",
)
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


@pytest.mark.xfail(
    strict=False,
    reason="server gap: a short poll on a node that has not yet applied an acknowledged send "
    "answers empty without consulting the leader (about 1 in 5 right after the send)",
)
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
