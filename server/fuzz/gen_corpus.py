#!/usr/bin/env python3
"""Regenerates the seed corpora under corpus/<target>/ from the server's test fixtures.

Sources: the botocore request fixtures (server/tests/fixtures/api), the SigV4 vectors
(server/tests/fixtures/sigv4), the golden bytes of every stored and replicated encoding
(server/src/format_tests.rs), plus a few hand-written requests per protocol. The postcard
seeds start with the index of their type in src/postcard_types.rs. Seeds are named by the
SHA-1 of their contents, as libFuzzer names what it adds.
"""

import hashlib
import json
import re
import shutil
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
SERVER = FUZZ.parent
FIXTURES = SERVER / "tests" / "fixtures"
QUEUE_URL = "http://localhost:9324/000000000000/q1"

ACTIONS = [
    "CreateQueue", "DeleteQueue", "GetQueueUrl", "GetQueueAttributes", "SetQueueAttributes",
    "ListQueues", "PurgeQueue", "SendMessage", "SendMessageBatch", "ReceiveMessage",
    "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch", "TagQueue", "UntagQueue", "ListQueueTags", "AddPermission",
    "RemovePermission", "ListDeadLetterSourceQueues", "StartMessageMoveTask",
    "CancelMessageMoveTask", "ListMessageMoveTasks",
]


def write(target, seeds):
    out = FUZZ / "corpus" / target
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for seed in seeds:
        (out / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    print(f"{target}: {len(set(seeds))} seeds")


def json_seeds():
    seeds = []
    for path in sorted((FIXTURES / "api").glob("botocore_*.json")):
        if path.name.startswith("botocore_query_"):
            continue
        meta = json.loads(path.read_text())
        seeds.append(f"{meta['target']}\n{meta['body']}".encode())
    for action in ACTIONS:
        seeds.append(f"AmazonSQS.{action}\n{{\"QueueUrl\": \"{QUEUE_URL}\"}}".encode())
    seeds += [
        b"AmazonSQS.SendMessage\n" + b"[" * 64 + b"]" * 64,
        b'AmazonSQS.SendMessage\n{"MessageBody": "x", "MessageAttributes": {"b": '
        b'{"DataType": "Binary", "BinaryValue": "not base64!"}}}',
        b'AmazonSQS.SendMessageBatch\n{"Entries": [{"Id": "a", "MessageBody": "\\ud800"}]}',
        b'AmazonSQS.ReceiveMessage\n{"MaxNumberOfMessages": 1e400, "WaitTimeSeconds": -1}',
        b'AmazonSQS.CreateQueue\n{"QueueName": "q.fifo", "Attributes": {"FifoQueue": "true"},'
        b' "tags": {"k": "v"}}',
        b'AmazonSQS.DeleteMessage\n{"ReceiptHandle": "AAAA"}',
        b"AmazonSQS.Nope\n{}",
        b"\n\xff\xfe",
    ]
    return seeds


def query_seeds():
    seeds = []
    for path in sorted((FIXTURES / "api").glob("botocore_query_*.json")):
        body = json.loads(path.read_text())["body"]
        seeds.append(f"\n{body}".encode())
        seeds.append(f"{body}\n".encode())
    for action in ACTIONS:
        seeds.append(f"\nAction={action}&Version=2012-11-05".encode())
    seeds += [
        b"Action=SendMessage&Version=2012-11-05\nMessageBody=a%20b+c&DelaySeconds=1",
        b"\nAction=SendMessageBatch&SendMessageBatchRequestEntry.1.Id=a"
        b"&SendMessageBatchRequestEntry.1.MessageBody=x"
        b"&SendMessageBatchRequestEntry.999999999.Id=b",
        b"\nAction=SetQueueAttributes&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=30"
        b"&Attribute.01.Name=x",
        b"\nAction=SendMessage&MessageBody=%FF%FE",
        b"\nAction=SendMessage&MessageAttribute.1.Name=b&MessageAttribute.1.Value.DataType=Binary"
        b"&MessageAttribute.1.Value.BinaryValue=%%%",
        b"Action=GetQueueUrl&QueueName=q1&Action=Nope\n",
    ]
    return seeds


def sigv4_seeds():
    seeds = []
    for case in sorted((FIXTURES / "sigv4").iterdir()):
        for name in ("header-signed-request.txt", "query-signed-request.txt"):
            if (case / name).is_file():
                seeds.append((case / name).read_bytes())
    return seeds


def golden():
    """The (name, bytes) table of format_tests.rs."""
    text = (SERVER / "src" / "format_tests.rs").read_text()
    start = text.index("const GOLDEN")
    table = text[start:text.index("];", start)]
    pairs = re.findall(r'\(\s*"([^"]+)",\s*"([0-9a-f]*)",?\s*\)', table)
    assert len(pairs) > 40, f"only {len(pairs)} golden encodings found"
    return {name: bytes.fromhex(value) for name, value in pairs}


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def postcard_seeds(gold):
    commands = [v for k, v in gold.items() if k.startswith("command ")]
    results = [v for k, v in gold.items() if k.startswith("result ")]
    entries = [v for k, v in gold.items() if k.startswith("log entry ")]
    snapshot = gold["snapshot file"]
    meta_len = int.from_bytes(snapshot[9:13], "little")
    meta = snapshot[13:13 + meta_len]
    # Hand-assembled openraft messages (leader ids are (term, node); votes add `committed`).
    vote = bytes.fromhex("020101")
    log_id = bytes.fromhex("020109")
    some_log_id = b"\x01" + log_id

    wire = [b"\x00" + c for c in commands]
    wire.append(b"\x01" + varint(len(commands)) + b"".join(commands))
    wire += [b"\x02" + v for k, v in gold.items() if k.startswith("read op ")]
    wire.append(b"\x03" + gold["receive call"])
    wire += [b"\x04" + gold["forward reply done"], b"\x04" + gold["forward reply not leader"]]
    wire.append(b"\x05" + varint(len(results)) + b"".join(b"\x00" + r for r in results))
    wire.append(
        b"\x06" + vote + some_log_id + varint(len(entries)) + b"".join(entries) + some_log_id
    )
    wire.append(b"\x07" + bytes.fromhex("020100") + some_log_id + b"\x00")
    wire.append(b"\x08" + vote + b"\x02" + some_log_id)
    wire.append(b"\x09" + vote + meta)
    wire += [b"\x0a\x00\x00", b"\x0a\x01\x04down"]
    wire.append(b"\x0b\x00" + vote + b"\x01" + some_log_id)
    wire.append(b"\x0c\x00")
    wire.append(b"\x0d\x00" + vote)

    stored = [b"\x00" + e for e in entries]
    stored += [b"\x01" + c for c in commands]
    stored += [b"\x02" + r for r in results]
    stored.append(b"\x03" + gold["dedup record"])
    stored.append(b"\x04" + gold["message record"])
    stored.append(b"\x05" + gold["queue record"])
    stored.append(b"\x06" + gold["queue counters"])
    stored.append(b"\x07" + gold["move task"])
    stored.append(b"\x08" + vote)
    stored.append(b"\x09" + some_log_id)
    stored.append(b"\x0a" + meta[len(some_log_id):])
    stored.append(b"\x0b" + gold["format version record"])
    stored.append(b"\x0c\x05")
    return wire, stored


def snapshot_seeds(gold):
    good = gold["snapshot file"]
    return [
        good,
        good[:-1],
        good[:-4] + b"\0\0\0\0",
        good[:13] + b"\xff\xff\xff\x7f",
        b"SQSRSNAP1",
        b"SQSRSNAP0" + good[9:],
    ]


def main():
    gold = golden()
    write("json_request", json_seeds())
    write("query_request", query_seeds())
    write("sigv4", sigv4_seeds())
    wire, stored = postcard_seeds(gold)
    write("wire_messages", wire)
    write("log_entries", stored)
    write("snapshot", snapshot_seeds(gold))


if __name__ == "__main__":
    main()
