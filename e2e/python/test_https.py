"""HTTPS on the SQS port of the local launcher: real clients (boto3, urllib's TLS, the aws
CLI in test_awscli.py) trust the development CA bundle the launcher prints and nothing
else; clients that do not trust it, and plain HTTP, are refused; TLS 1.2 and 1.3 both
work; `--sqs-plain-http` serves HTTP instead."""

import http.client
import pathlib
import socket
import ssl
import tempfile
import urllib.error
import urllib.request

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from conftest import ACCESS_KEY, REGION, SECRET_KEY, Cluster, local_binary, make_client


def boto3_client(endpoint, verify):
    """A boto3 client of `endpoint` with the given `verify`, one attempt per call."""
    return boto3.session.Session().client(
        "sqs",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        verify=verify,
        config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5),
    )


def host_port(endpoint):
    host, port = endpoint.split("://", 1)[1].rsplit(":", 1)
    return host, int(port)


def test_the_launcher_prints_https_endpoints_and_how_to_point_the_aws_cli(cluster):
    assert all(e.startswith("https://127.0.0.1:") for e in cluster.endpoints), cluster.endpoints
    bundle = pathlib.Path(cluster.ca_bundle)
    assert bundle.is_absolute() and "BEGIN CERTIFICATE" in bundle.read_text(), bundle
    cli = [line for line in cluster.output if line.startswith("aws CLI: ")]
    assert cli == [
        f"aws CLI: AWS_CA_BUNDLE={bundle} aws --endpoint-url {cluster.endpoints[0]} "
        f"sqs list-queues  (or --ca-bundle {bundle})"
    ], cluster.output


def test_boto3_with_the_ca_bundle_speaks_https_to_every_node(cluster, name):
    clients = [boto3_client(e, cluster.ca_bundle) for e in cluster.endpoints]
    url = clients[0].create_queue(QueueName=name)["QueueUrl"]
    assert url.startswith(cluster.endpoints[0] + "/"), url
    sent = clients[1].send_message(QueueUrl=url, MessageBody="over TLS")
    (got,) = clients[2].receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert (got["MessageId"], got["Body"]) == (sent["MessageId"], "over TLS")


def test_a_client_that_does_not_trust_the_ca_is_refused(cluster):
    # verify=True: botocore's own bundle of public CAs, which does not hold the dev CA.
    with pytest.raises(botocore.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        boto3_client(cluster.endpoints[0], True).list_queues()
    with socket.create_connection(host_port(cluster.endpoints[0]), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_plain_http_to_the_https_port_fails_and_other_connections_carry_on(cluster, name):
    http_url = cluster.endpoints[0].replace("https://", "http://", 1)
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        urllib.request.urlopen(http_url + "/healthz", timeout=10)
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        boto3_client(http_url, False).list_queues()
    # A client stuck mid-handshake holds its connection open meanwhile.
    with socket.create_connection(host_port(cluster.endpoints[0]), timeout=10) as stalled:
        stalled.sendall(b"\x16\x03\x01")
        client = make_client(cluster.endpoints[0])
        assert client.create_queue(QueueName=name)["QueueUrl"].endswith("/" + name)


@pytest.mark.parametrize(
    "version,expected",
    [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")],
)
def test_tls_1_2_and_1_3_clients_reach_the_health_endpoints(cluster, version, expected):
    context = ssl.create_default_context(cafile=cluster.ca_bundle)
    context.minimum_version = context.maximum_version = version
    context.set_alpn_protocols(["h2", "http/1.1"])
    host, port = host_port(cluster.endpoints[1])
    with socket.create_connection((host, port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version() == expected
            assert tls.selected_alpn_protocol() == "h2", "HTTP/2 offered over ALPN"
    context.set_alpn_protocols(["http/1.1"])
    for path in ("/healthz", "/readyz"):
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            assert response.status == 200, (path, response.read())
            assert conn.sock.version() == expected
        finally:
            conn.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_the_certificate_names_the_loopback_host(cluster, host):
    _, port = host_port(cluster.endpoints[2])
    context = ssl.create_default_context(cafile=cluster.ca_bundle)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.getpeercert()["subjectAltName"]


def test_the_launcher_serves_plain_http_when_asked(name):
    with tempfile.TemporaryDirectory(prefix="sqsraft-pytest-http-") as data_dir:
        running = Cluster(local_binary(), data_dir, nodes=1, launcher_args=["--sqs-plain-http"])
        try:
            (endpoint,) = running.endpoints
            assert endpoint.startswith("http://127.0.0.1:"), running.output
            assert running.ca_bundle is None, running.output
            assert "SQS endpoints: plain HTTP (--sqs-plain-http)" in running.output
            client = make_client(endpoint)
            url = client.create_queue(QueueName=name)["QueueUrl"]
            assert url.startswith(endpoint + "/"), url
            tls_url = endpoint.replace("http://", "https://", 1)
            context = ssl.create_default_context(cafile=str(pathlib.Path(data_dir) / "tls/ca.pem"))
            with pytest.raises(urllib.error.URLError, match="SSL"):
                urllib.request.urlopen(tls_url + "/healthz", timeout=10, context=context)
        finally:
            running.stop()
