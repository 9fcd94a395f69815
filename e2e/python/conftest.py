"""One real 3-node sqsraft cluster per pytest session, started with `sqsraft-local`.

The binary comes from `$SQSRAFT_LOCAL_BIN` or `target/debug/sqsraft-local` (build it with
`cargo build -p sqsraft-server -p sqsraft-e2e --bins`); without it the suites are skipped
with the reason printed. `SQSRAFT_E2E_PROTOCOL=json|query` (set by ./test) makes the run
fail unless the installed botocore speaks that protocol; it, `CI=true` or
`SQSRAFT_REQUIRE_ALL=1` make a missing prerequisite (binary, aws CLI) a failure rather
than a skip. Tests marked `protocol(...)` for the other protocol are deselected, not
skipped: they do not apply to this botocore.

Every request of every client made here is checked on the wire (a `before-send` hook):
JSON requests carry `X-Amz-Target`, Query requests are form-encoded with `Action=`.

The launcher serves HTTPS with a development CA in its data dir (it prints the bundle);
every client made here trusts exactly that bundle for that cluster's endpoints
(`ca_bundle`): boto3 through `verify=`, urllib through `ssl_context`, the aws CLI through
`AWS_CA_BUNDLE`.
"""

import hashlib
import os
import pathlib
import queue
import random
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import boto3
import botocore.session
import pytest
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
ACCESS_KEY = "AKIDSQSRAFTLOCAL"
SECRET_KEY = "sqsraft-local-secret-key"
REGION = "us-east-1"
# A second region the session cluster accepts besides its home region REGION.
OTHER_REGION = "eu-west-1"
NODES = 3
# The line of the launcher's output naming the CA bundle of its HTTPS endpoints.
CA_LINE = "SQS endpoints: HTTPS, certificates of the development CA "
# Endpoint of every running cluster → the CA bundle its certificates chain to.
_CA_BUNDLES = {}
EXPECTED_PROTOCOL = os.environ.get("SQSRAFT_E2E_PROTOCOL")

SERVICE_MODEL = botocore.session.get_session().get_service_model("sqs")
# The protocol the installed botocore speaks to SQS: "json" (current) or "query" (old).
PROTOCOL = SERVICE_MODEL.protocol

# AWS keeps the Query protocol's error codes: JSON responses carry them in
# `x-amzn-query-error`, which botocore reports as the error Code in both protocols.
QUERY_ERROR_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": "AWS.SimpleQueueService.BatchRequestTooLong",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "PurgeQueueInProgress": "AWS.SimpleQueueService.PurgeQueueInProgress",
}


def pytest_configure(config):
    print(f"\nboto3 {boto3.__version__}, botocore {botocore.__version__}: SQS over {PROTOCOL}")
    if EXPECTED_PROTOCOL and EXPECTED_PROTOCOL != PROTOCOL:
        raise pytest.UsageError(
            f"SQSRAFT_E2E_PROTOCOL={EXPECTED_PROTOCOL} but botocore {botocore.__version__} "
            f"speaks {PROTOCOL} to SQS"
        )


def pytest_collection_modifyitems(config, items):
    """Tests marked `protocol("json")` use API members an old (Query) botocore lacks:
    they are deselected (reported as such), since they do not apply to this botocore."""
    kept, other = [], []
    for item in items:
        marker = item.get_closest_marker("protocol")
        (other if marker is not None and marker.args[0] != PROTOCOL else kept).append(item)
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = kept


def required():
    """True where every suite must run: a missing prerequisite fails instead of skipping."""
    return (
        bool(EXPECTED_PROTOCOL)
        or os.environ.get("CI", "").lower() == "true"
        or os.environ.get("SQSRAFT_REQUIRE_ALL") == "1"
    )


def unavailable(reason):
    """Fails (where every suite must run) or skips the calling test with `reason`."""
    if required():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _unavailable(reason):
    if required():
        pytest.fail(reason, pytrace=False)
    print(f"\nskipping the sqsraft client suites: {reason}")
    pytest.skip(reason)


def _ports_free(base):
    """Node i listens on base+10·(i−1) (SQS) and one above (internal)."""
    for i in range(NODES):
        for port in (base + 10 * i, base + 10 * i + 1):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    return False
    return True


def _free_base_port():
    """Below the kernel's ephemeral range, so no outgoing connection can hold a port of a
    node that is down for a moment (see server/src/test_ports.rs)."""
    try:
        ephemeral = int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    for _ in range(100):
        base = random.randrange(10000, ephemeral - 10 * NODES - 2, 100)
        if _ports_free(base):
            return base
    raise RuntimeError("no free port range found")


class Cluster:
    """A running `sqsraft-local`: its process and one SQS endpoint per node."""

    def __init__(
        self, binary, data_dir, nodes=NODES, accepted_regions=OTHER_REGION, launcher_args=()
    ):
        self.nodes = nodes
        self.base_port = _free_base_port()
        self.proc = subprocess.Popen(
            [
                binary,
                "--nodes",
                str(nodes),
                "--base-port",
                str(self.base_port),
                "--data-dir",
                data_dir,
                *launcher_args,
                "--",
                "--accepted-regions",
                accepted_regions,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.endpoints = []
        # The CA bundle the launcher printed (None when it serves plain HTTP).
        self.ca_bundle = None
        # Every line the launcher printed up to `ready`.
        self.output = []
        self._wait_ready(deadline=time.monotonic() + 60)

    def _wait_ready(self, deadline):
        # A thread drains the launcher's output (so it can never block on a full pipe).
        lines = queue.Queue()
        threading.Thread(
            target=lambda: [lines.put(line) for line in self.proc.stdout] + [lines.put(None)],
            daemon=True,
        ).start()
        seen = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line.rstrip())
            if " SQS endpoint " in line:
                self.endpoints.append(line.split(" SQS endpoint ")[1].split()[0])
            if line.startswith(CA_LINE):
                self.ca_bundle = line[len(CA_LINE) :].strip()
            if line.strip() == "ready":
                assert len(self.endpoints) == self.nodes, seen
                self.output = seen
                if self.ca_bundle:
                    _CA_BUNDLES.update((e, self.ca_bundle) for e in self.endpoints)
                return
        self.stop()
        raise RuntimeError("sqsraft-local did not become ready:\n" + "\n".join(seen))

    def stop(self):
        for endpoint in self.endpoints:
            _CA_BUNDLES.pop(endpoint, None)
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def local_binary():
    """The `sqsraft-local` launcher, or the test fails/skips saying how to build it."""
    binary = os.environ.get("SQSRAFT_LOCAL_BIN", str(REPO / "target/debug/sqsraft-local"))
    if not os.access(binary, os.X_OK):
        _unavailable(
            f"{binary} not found; run `cargo build -p sqsraft-server -p sqsraft-e2e --bins` "
            "or set SQSRAFT_LOCAL_BIN"
        )
    return binary


@pytest.fixture(scope="session")
def cluster():
    binary = local_binary()
    with tempfile.TemporaryDirectory(prefix="sqsraft-pytest-") as data_dir:
        running = Cluster(binary, data_dir)
        try:
            yield running
        finally:
            running.stop()


def ca_bundle(url):
    """The CA bundle of the running cluster serving `url` over HTTPS, or None."""
    for endpoint, bundle in _CA_BUNDLES.items():
        if url == endpoint or url.startswith(endpoint + "/"):
            return bundle
    return None


def ssl_context(url):
    """An SSL context trusting only the CA bundle of `url`'s cluster (None for http://)."""
    bundle = ca_bundle(url)
    return ssl.create_default_context(cafile=bundle) if bundle else None


def urlopen(request, timeout=30):
    """`urllib.request.urlopen` trusting the CA bundle of the request's cluster."""
    return urllib.request.urlopen(request, timeout=timeout, context=ssl_context(request.full_url))


def _text(value):
    return value.decode() if isinstance(value, bytes) else (value or "")


def check_wire_protocol(request, **_):
    """`before-send` hook: the request really went out in the protocol botocore claims."""
    content_type = _text(request.headers.get("Content-Type"))
    target = _text(request.headers.get("X-Amz-Target"))
    if PROTOCOL == "json":
        assert content_type == "application/x-amz-json-1.0", content_type
        assert target.startswith("AmazonSQS."), request.headers
    else:
        assert content_type.startswith("application/x-www-form-urlencoded"), content_type
        assert not target, request.headers
        body = _text(request.body)
        assert "Action=" in body and "Version=2012-11-05" in body, body


def make_client(endpoint, secret=SECRET_KEY, access_key=ACCESS_KEY, region=REGION):
    """A boto3 SQS client for one node, its requests checked by `check_wire_protocol`."""
    client = boto3.session.Session().client(
        "sqs",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        verify=ca_bundle(endpoint),
        config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=40),
    )
    client.meta.events.register("before-send.sqs", check_wire_protocol)
    return client


@pytest.fixture(scope="session")
def nodes(cluster):
    """One client per node: `nodes[0]` talks to node 1, and so on."""
    return [make_client(e) for e in cluster.endpoints]


@pytest.fixture
def name():
    """A fresh queue name per test (queues outlive tests within the session)."""
    return f"t{uuid.uuid4().hex[:12]}"


def error_of(excinfo):
    """(Code, HTTP status) of a botocore ClientError."""
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def assert_error(excinfo, error, status=400):
    """The error is AWS's `error` with the code real SQS sends for it, and botocore raised
    its modeled exception class when its model has one."""
    assert error_of(excinfo) == (
        QUERY_ERROR_CODES.get(error, error),
        status,
    ), excinfo.value.response
    if error in SERVICE_MODEL.shape_names:
        assert type(excinfo.value).__name__ == error, excinfo.value


def _encode(data):
    return len(data).to_bytes(4, "big") + data


def md5_of_attributes(attributes):
    """MD5 of message (or message system) attributes as AWS defines it: for each name in
    sorted order, length-prefixed name, data type, a transport byte (1 string/number,
    2 binary) and length-prefixed value."""
    digest = hashlib.md5()
    for attr_name in sorted(attributes, key=lambda n: n.encode()):
        attr = attributes[attr_name]
        digest.update(_encode(attr_name.encode()) + _encode(attr["DataType"].encode()))
        if "BinaryValue" in attr:
            digest.update(b"\x02" + _encode(attr["BinaryValue"]))
        else:
            digest.update(b"\x01" + _encode(attr["StringValue"].encode()))
    return digest.hexdigest()


def md5_of_body(body):
    return hashlib.md5(body.encode()).hexdigest()
