"""The aws CLI (awscli from PyPI, beside this Python) against a real 3-node cluster, each
command through `--endpoint-url` of a different node than the one before, over HTTPS
trusting the launcher's CA bundle through `AWS_CA_BUNDLE` (or `--ca-bundle`)."""

import base64
import json
import os
import pathlib
import subprocess
import sys

import pytest
from conftest import ACCESS_KEY, REGION, SECRET_KEY, md5_of_attributes, md5_of_body, unavailable

AWS = pathlib.Path(sys.executable).parent / "aws"
pytestmark = [pytest.mark.protocol("json")]


@pytest.fixture
def aws(cluster, tmp_path):
    """Runs `aws sqs ...` against node `node` (0-based); returns parsed JSON output, or the
    failed process when `fail=True`. `ca` says how the CLI gets the CA bundle: "env"
    (`AWS_CA_BUNDLE`), "flag" (`--ca-bundle`) or None (not at all)."""
    if not AWS.exists():
        unavailable(f"no aws CLI at {AWS} (e2e/python/requirements.txt installs awscli)")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        # Nothing from the invoking user's configuration.
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
    }

    def run(node, *args, fail=False, ca="env"):
        # The launcher's development CA, as its output says.
        bundle = cluster.ca_bundle
        extra_env = {"AWS_CA_BUNDLE": bundle} if bundle and ca == "env" else {}
        options = ["--ca-bundle", bundle] if bundle and ca == "flag" else []
        proc = subprocess.run(
            [str(AWS), "--endpoint-url", cluster.endpoints[node], *options, "--output", "json"]
            + ["sqs", *args],
            env=dict(env, **extra_env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if fail:
            assert proc.returncode != 0, proc.stdout
            return proc
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    return run


def test_aws_cli_queue_and_message_lifecycle(aws, name):
    url = aws(
        0,
        "create-queue",
        "--queue-name",
        name,
        "--attributes",
        "VisibilityTimeout=40,DelaySeconds=0",
    )["QueueUrl"]
    assert url.endswith(f"/000000000000/{name}")
    listed = aws(1, "list-queues", "--queue-name-prefix", name)["QueueUrls"]
    assert [u.rsplit("/", 1)[1] for u in listed] == [name]

    attributes = {
        "kind": {"DataType": "String.label", "StringValue": "cli"},
        "n": {"DataType": "Number", "StringValue": "7"},
        "raw": {"DataType": "Binary", "BinaryValue": "bytes as typed"},
    }
    sent = aws(
        2,
        "send-message",
        "--queue-url",
        url,
        "--message-body",
        "from the cli ✓",
        "--message-attributes",
        json.dumps(attributes),
    )
    assert sent["MD5OfMessageBody"] == md5_of_body("from the cli ✓")
    # awscli v1 sends a blob parameter as typed and prints blobs base64-encoded.
    raw = {"DataType": "Binary", "BinaryValue": b"bytes as typed"}
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(dict(attributes, raw=raw))

    received = aws(
        0,
        "receive-message",
        "--queue-url",
        url,
        "--wait-time-seconds",
        "5",
        "--attribute-names",
        "All",
        "--message-attribute-names",
        "All",
    )
    (msg,) = received["Messages"]
    assert msg["MessageId"] == sent["MessageId"]
    assert msg["Body"] == "from the cli ✓"
    printed = {"DataType": "Binary", "BinaryValue": base64.b64encode(raw["BinaryValue"]).decode()}
    assert msg["MessageAttributes"] == dict(attributes, raw=printed)
    assert msg["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert msg["Attributes"]["ApproximateReceiveCount"] == "1"

    counts = aws(
        1,
        "get-queue-attributes",
        "--queue-url",
        url,
        "--attribute-names",
        "ApproximateNumberOfMessagesNotVisible",
        "VisibilityTimeout",
    )["Attributes"]
    assert counts == {"ApproximateNumberOfMessagesNotVisible": "1", "VisibilityTimeout": "40"}
    assert (
        aws(1, "delete-message", "--queue-url", url, "--receipt-handle", msg["ReceiptHandle"]) == {}
    )
    counts = aws(2, "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")[
        "Attributes"
    ]
    assert counts["ApproximateNumberOfMessages"] == "0"
    assert counts["ApproximateNumberOfMessagesNotVisible"] == "0"

    aws(2, "send-message", "--queue-url", url, "--message-body", "to be purged")
    assert aws(0, "purge-queue", "--queue-url", url) == {}
    assert aws(1, "receive-message", "--queue-url", url, "--wait-time-seconds", "1") == {}
    failed = aws(2, "purge-queue", "--queue-url", url, fail=True)
    assert "PurgeQueueInProgress" in failed.stderr


def test_aws_cli_reports_errors(aws, name):
    failed = aws(0, "get-queue-url", "--queue-name", name, fail=True)
    assert "AWS.SimpleQueueService.NonExistentQueue" in failed.stderr
    failed = aws(
        1,
        "get-queue-attributes",
        "--queue-url",
        f"http://127.0.0.1/000000000000/{name}",
        "--attribute-names",
        "All",
        fail=True,
    )
    assert "NonExistentQueue" in failed.stderr


def test_aws_cli_trusts_the_ca_bundle_it_is_given_and_nothing_else(aws, cluster, name):
    assert cluster.endpoints[0].startswith("https://"), cluster.endpoints
    url = aws(0, "create-queue", "--queue-name", name, ca="flag")["QueueUrl"]
    assert url.startswith(cluster.endpoints[0] + "/"), url
    assert aws(1, "get-queue-url", "--queue-name", name, ca="env")["QueueUrl"].endswith(name)
    refused = aws(2, "get-queue-url", "--queue-name", name, fail=True, ca=None)
    assert "SSL validation failed" in refused.stderr, refused.stderr
