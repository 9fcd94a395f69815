#!/usr/bin/env python3
"""Side-by-side SQS benchmark: sqsraft (1 and 3 nodes), ElasticMQ, moto_server and LocalStack.

Builds the release binaries, starts every server on 127.0.0.1, runs the same
`sqsraft-bench` scenarios with the same parameters against each, measuring the server
processes' CPU per message (utime + stime from /proc/<pid>/stat, via
`sqsraft-bench --server-pids`) beside msg/s, samples each server's memory, stops
everything it started (by pid), and writes docs/benchmarks.md.

    python3 e2e/bench/compare.py                      # everything, defaults
    python3 e2e/bench/compare.py --duration 5 --targets sqsraft-1,elasticmq

Standard library only; the moto and LocalStack virtualenvs are created from
e2e/bench/requirements*.txt under --venv-dir; ElasticMQ's jars are resolved by Maven from
e2e/bench/elasticmq/pom.xml into <target-dir>/elasticmq-<version> and run on `java`.
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
ALL_SCENARIOS = ["send", "send-batch", "receive-delete", "mixed", "fifo", "long-poll-latency"]
ALL_TARGETS = ["sqsraft-1", "sqsraft-3", "elasticmq", "moto", "localstack"]
# Peers whose figures the sqsraft targets are divided by, strongest first.
BASELINES = ["elasticmq", "localstack", "moto"]
# LocalStack 2026.3.0 imports warnings.deprecated, new in Python 3.13.
LOCALSTACK_MIN_PYTHON = (3, 13)

# Every process this script started, stopped at exit whatever happens.
STARTED = []


def log(msg):
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma list of " + ",".join(ALL_TARGETS))
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS), help="comma list of sqsraft-bench scenarios")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per scenario")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per scenario")
    p.add_argument("--client", choices=["raw", "sdk"], default="raw", help="sqsraft-bench --client")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--message-size", type=int, default=100)
    p.add_argument("--queues", type=int, default=1)
    p.add_argument("--groups", type=int, default=10)
    p.add_argument("--long-poll-pairs", type=int, default=4, help="concurrency of long-poll-latency")
    p.add_argument(
        "--jvm-prewarm",
        type=float,
        default=10.0,
        help="seconds of unrecorded mixed load on a JVM target (ElasticMQ) before its scenarios, so its JIT has compiled the hot paths",
    )
    p.add_argument(
        "--prefill",
        default="auto",
        help="messages stored before receive-delete; 'auto' = 1.5 x the target's send-batch rate x run time",
    )
    p.add_argument("--out", default=str(REPO / "docs" / "benchmarks.md"), help="markdown report to write")
    p.add_argument("--json-out", help="also write the raw sqsraft-bench reports here")
    p.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", str(REPO / "target")))
    p.add_argument("--no-build", action="store_true", help="use the existing release binaries")
    p.add_argument(
        "--venv-dir",
        default=str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sqsraft-bench"),
        help="where the moto and LocalStack virtualenvs live",
    )
    args = p.parse_args()
    args.targets = [t for t in args.targets.split(",") if t]
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    for t in args.targets:
        if t not in ALL_TARGETS:
            p.error(f"unknown target {t}")
    for s in args.scenarios:
        if s not in ALL_SCENARIOS:
            p.error(f"unknown scenario {s}")
    return args


# ---------------------------------------------------------------- processes


def descendants(pid):
    """pid's children, grandchildren, ... (from /proc/<pid>/task/*/children)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def stop(proc):
    """SIGTERM the process (and later SIGKILL it and its descendants) by pid."""
    tree = [proc.pid] + descendants(proc.pid)
    for pid in tree:
        try:
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(p) for p in tree):
        proc.poll()
        time.sleep(0.1)
    for pid in tree:
        if alive(pid):
            log(f"pid {pid} ignored SIGTERM; SIGKILL")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def stop_all():
    while STARTED:
        stop(STARTED.pop())


def on_signal(signum, _frame):
    raise SystemExit(f"interrupted by signal {signum}")


def spawn(cmd, log_path, env=None):
    log(f"start: {' '.join(shlex.quote(str(c)) for c in cmd)}  (log {log_path})")
    out = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
    )
    STARTED.append(proc)
    return proc


def memory_kib(pids):
    """Sum of VmRSS and of VmHWM (peak RSS) over pids, in KiB."""
    rss = hwm = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1])
    return rss, hwm


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_range(offsets):
    """A base port P such that P+o is free for every offset o."""
    import random

    for _ in range(500):
        base = random.randrange(20000, 60000, 10)
        if all(port_free(base + o) for o in offsets):
            return base
    raise SystemExit("no free port range on 127.0.0.1")


def wait_http(url, proc, timeout, ok=lambda body: True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if ok(r.read().decode("utf-8", "replace")):
                    return
        except urllib.error.HTTPError:
            return  # it answers HTTP: up
        except (OSError, ValueError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not ready within {timeout} s")


# ---------------------------------------------------------------- environments


def run(cmd, **kw):
    log("run: " + " ".join(shlex.quote(str(c)) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def venv(python, path, requirements):
    """A virtualenv at path with requirements installed (reinstalled when they change)."""
    stamp = path / ".requirements.sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and (path / "bin" / "python").exists():
        return path
    if path.exists():
        shutil.rmtree(path)
    run([python, "-m", "venv", path])
    run([path / "bin" / "pip", "install", "-q", "--upgrade", "pip"])
    run([path / "bin" / "pip", "install", "-q", "-r", requirements])
    stamp.write_text(digest)
    return path


def python_version(python):
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, timeout=30
        )
        return tuple(int(x) for x in out.stdout.split())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def find_localstack_python():
    """A Python >= 3.13 interpreter: on PATH, or one installed by pyenv."""
    candidates = [shutil.which(f"python3.{m}") for m in range(20, 12, -1)]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(pyenv_root.glob("versions/3.*/bin/python3"), reverse=True)
    for c in candidates:
        if not c:
            continue
        version = python_version(c)
        if version and version >= LOCALSTACK_MIN_PYTHON:
            return str(c), version
    return None, None


def package_version(python, name):
    out = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({name!r}))"], capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


# ---------------------------------------------------------------- targets


class Target:
    """A started server: its endpoints, description and how to find its server pids."""

    def __init__(self, name, proc, endpoints, describe, with_launcher, jvm=False):
        self.name = name
        self.jvm = jvm
        self.proc = proc
        self.endpoints = endpoints
        self.describe = describe
        # False when proc only launches the servers (sqsraft-local): its own CPU and
        # memory are not the server's.
        self.with_launcher = with_launcher

    def server_pids(self):
        """The server processes now (re-read: a server may start helpers later)."""
        kids = descendants(self.proc.pid)
        return ([self.proc.pid] if self.with_launcher else []) + kids


def start_sqsraft(args, nodes, workdir, bins):
    base = free_port_range([o for i in range(nodes) for o in (10 * i, 10 * i + 1)])
    data = workdir / f"sqsraft-{nodes}"
    proc = spawn(
        # Plain HTTP, like the other implementations measured beside it.
        [bins / "sqsraft-local", "--nodes", nodes, "--base-port", base, "--data-dir", data,
         "--sqs-plain-http"],
        workdir / f"sqsraft-{nodes}.log",
    )
    deadline = time.monotonic() + 90
    while b"ready" not in (workdir / f"sqsraft-{nodes}.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sqsraft-local did not get ready; see {workdir / f'sqsraft-{nodes}.log'}")
        time.sleep(0.2)
    endpoints = [f"http://127.0.0.1:{base + 10 * i}" for i in range(nodes)]
    what = f"sqsraft {nodes} node{'s' if nodes > 1 else ''} (release, RocksDB on {data})"
    if nodes > 1:
        what += "; clients spread over all nodes"
    # The launcher's children are the server processes.
    return Target(f"sqsraft-{nodes}", proc, endpoints, what, with_launcher=False)


def start_moto(args, workdir):
    env_dir = venv(sys.executable, Path(args.venv_dir) / "moto", BENCH_DIR / "requirements.txt")
    port = free_port_range([0])
    proc = spawn([env_dir / "bin" / "moto_server", "-H", "127.0.0.1", "-p", port], workdir / "moto.log")
    wait_http(f"http://127.0.0.1:{port}/", proc, 60)
    version = package_version(env_dir / "bin" / "python", "moto")
    py = python_version(env_dir / "bin" / "python")
    return Target(
        "moto",
        proc,
        [f"http://127.0.0.1:{port}"],
        f"moto_server {version} (Python {py[0]}.{py[1]}, in-memory)",
        with_launcher=True,
    )


def start_localstack(args, workdir):
    python, version = find_localstack_python()
    if not python:
        raise Skip(
            "no Python >= 3.13 interpreter found (LocalStack 2026.3.0 imports warnings.deprecated, "
            "new in 3.13); install one (e.g. with pyenv) to include LocalStack"
        )
    env_dir = venv(python, Path(args.venv_dir) / "localstack", BENCH_DIR / "requirements-localstack.txt")
    port = free_port_range([0])
    volume = workdir / "localstack-volume"
    volume.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        GATEWAY_LISTEN=f"127.0.0.1:{port}",
        LOCALSTACK_HOST=f"127.0.0.1:{port}",
        SERVICES="sqs",
        SQS_ENDPOINT_STRATEGY="path",
        DISABLE_EVENTS="1",
        DNS_ADDRESS="0",
        SKIP_SSL_CERT_DOWNLOAD="1",
        LOCALSTACK_VOLUME_DIR=str(volume),
    )
    proc = spawn([env_dir / "bin" / "python", "-m", "localstack.runtime.main"], workdir / "localstack.log", env=env)

    def sqs_ready(body):
        return json.loads(body).get("services", {}).get("sqs") in ("available", "running")

    wait_http(f"http://127.0.0.1:{port}/_localstack/health", proc, 120, sqs_ready)
    ls_version = package_version(env_dir / "bin" / "python", "localstack-core")
    return Target(
        "localstack",
        proc,
        [f"http://127.0.0.1:{port}"],
        f"LocalStack {ls_version} SQS (Python {version[0]}.{version[1]}, from PyPI, no Docker, in-memory)",
        with_launcher=True,
    )


ELASTICMQ_POM = BENCH_DIR / "elasticmq" / "pom.xml"


def elasticmq_version():
    """The ElasticMQ version pinned in e2e/bench/elasticmq/pom.xml."""
    text = ELASTICMQ_POM.read_text()
    m = re.search(r"<artifactId>elasticmq-server_2\.13</artifactId>\s*<version>([^<]+)</version>", text)
    if not m:
        raise SystemExit(f"no elasticmq-server_2.13 version in {ELASTICMQ_POM}")
    return m.group(1)


def elasticmq_jars(args, version):
    """A directory with the ElasticMQ server jar and its dependencies (resolved once)."""
    jars = Path(args.target_dir) / f"elasticmq-{version}"
    stamp = jars / ".resolved"
    if stamp.exists():
        return jars
    if not shutil.which("mvn"):
        raise Skip("mvn (Maven) not on PATH: it resolves the ElasticMQ jars")
    if jars.exists():
        shutil.rmtree(jars)
    run(["mvn", "-B", "-q", "-f", ELASTICMQ_POM, "dependency:copy-dependencies", f"-DoutputDirectory={jars}"])
    stamp.write_text(version)
    return jars


def java_version(java):
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    first = (out.stderr or out.stdout).splitlines()[0] if (out.stderr or out.stdout) else "?"
    m = re.search(r'version "([^"]+)"', first)
    return m.group(1) if m else first


def start_elasticmq(args, workdir):
    java = shutil.which("java")
    if not java:
        raise Skip("java not on PATH: ElasticMQ runs on the JVM")
    version = elasticmq_version()
    jars = elasticmq_jars(args, version)
    port = free_port_range([0])
    # Our own config on top of the defaults in the jar: loopback only, fixed port,
    # queue URLs on that address, SQS's strict limits, an AWS-looking region and account.
    conf = workdir / "elasticmq.conf"
    conf.write_text(
        'include classpath("application.conf")\n'
        f'node-address {{ protocol = "http", host = "127.0.0.1", port = {port}, context-path = "" }}\n'
        f'rest-sqs {{ enabled = true, bind-port = {port}, bind-hostname = "127.0.0.1", sqs-limits = strict }}\n'
        "generate-node-address = false\n"
        'aws { region = "us-east-1", accountId = "000000000000" }\n'
    )
    proc = spawn(
        [java, f"-Dconfig.file={conf}", "-cp", f"{jars}/*", "org.elasticmq.server.Main"],
        workdir / "elasticmq.log",
    )
    wait_http(f"http://127.0.0.1:{port}/", proc, 90)
    return Target(
        "elasticmq",
        proc,
        [f"http://127.0.0.1:{port}"],
        f"ElasticMQ {version} (org.elasticmq:elasticmq-server_2.13 from Maven, JVM {java_version(java)}"
        f", default JVM flags, in-memory; {args.jvm_prewarm:g} s of unrecorded mixed load first to warm the JIT)",
        with_launcher=True,
        jvm=True,
    )


KEEP_MARKER = "<!-- sections below are not written by compare.py -->"


class Skip(Exception):
    """A target that cannot run here, with the reason."""


# ---------------------------------------------------------------- benchmark


def bench(args, bins, target, scenario, prefill, duration=None):
    concurrency = args.long_poll_pairs if scenario == "long-poll-latency" else args.concurrency
    duration = args.duration if duration is None else duration
    cmd = [
        bins / "sqsraft-bench",
        "--endpoint",
        ",".join(target.endpoints),
        "--client",
        args.client,
        "--scenario",
        scenario,
        "--concurrency",
        concurrency,
        "--batch-size",
        args.batch_size,
        "--message-size",
        args.message_size,
        "--duration",
        duration,
        "--warmup",
        args.warmup,
        "--queues",
        args.queues,
        "--groups",
        args.groups,
        "--prefill",
        prefill,
        "--server-pids",
        ",".join(str(p) for p in target.server_pids()),
        "--json",
    ]
    log(f"{target.name}: {scenario}")
    limit = args.warmup + duration + 300
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=limit)
    if out.returncode != 0:
        return {"failed": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout)


def prefill_for(args, rates):
    if args.prefill != "auto":
        return int(args.prefill)
    rate = rates.get("send-batch")
    if not rate:
        return 20000
    return int(min(max(rate * (args.warmup + args.duration) * 1.5, 2000), 3_000_000))


def run_target(args, bins, workdir, name):
    if name == "sqsraft-1":
        target = start_sqsraft(args, 1, workdir, bins)
    elif name == "sqsraft-3":
        target = start_sqsraft(args, 3, workdir, bins)
    elif name == "elasticmq":
        target = start_elasticmq(args, workdir)
    elif name == "moto":
        target = start_moto(args, workdir)
    else:
        target = start_localstack(args, workdir)
    results, rates = {}, {}
    try:
        if target.jvm and args.jvm_prewarm > 0:
            log(f"{name}: {args.jvm_prewarm:g} s of unrecorded mixed load to warm the JIT")
            bench(args, bins, target, "mixed", 0, duration=args.jvm_prewarm)
        order = sorted(args.scenarios, key=lambda s: s != "send-batch")
        for scenario in order:
            r = bench(args, bins, target, scenario, prefill_for(args, rates))
            results[scenario] = r
            if "messages_per_sec" in r:
                rates[scenario] = r["messages_per_sec"]
                log(
                    f"{name} {scenario}: {r['messages_per_sec']:.0f} msg/s, server CPU {fmt_cpu(r)} µs/msg, "
                    f"p99 {r['latency']['p99_ms']:.2f} ms, {r['error_total']} errors"
                )
            else:
                log(f"{name} {scenario}: FAILED {r['failed']}")
        pids = target.server_pids()
        rss, hwm = memory_kib(pids)
        per_process = {pid: memory_kib([pid]) for pid in pids}
    finally:
        STARTED.remove(target.proc)
        stop(target.proc)
    return {
        "describe": target.describe,
        "endpoints": target.endpoints,
        "results": results,
        "rss_kib": rss,
        "hwm_kib": hwm,
        "per_process_kib": per_process,
    }


# ---------------------------------------------------------------- report


def machine():
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    return {
        "nproc": os.cpu_count(),
        "model": model,
        "memory_gib": mem_kib / 1024 / 1024,
        "kernel": platform.release(),
    }


def git_revision():
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "server", "e2e"], capture_output=True, text=True)
        return rev.stdout.strip() + (" (with uncommitted changes in server/ or e2e/)" if dirty.stdout.strip() else "")
    except OSError:
        return "?"


def fmt_rate(r):
    if r is None:
        return "—"
    if "failed" in r:
        return "failed"
    return f"{r['messages_per_sec']:,.0f}"


def fmt_lat(r):
    if r is None or "failed" in r:
        return "—"
    lat = r["latency"]
    return f"{lat['p50_ms']:.2f} / {lat['p99_ms']:.2f} / {lat['max_ms']:.1f}"


def server_us(r):
    """Server CPU µs per message of a result, or None."""
    if not r or "failed" in r:
        return None
    return ((r.get("server_cpu") or {}).get("micros_per_message")) or None


def fmt_cpu(r):
    us = server_us(r)
    return "—" if us is None else f"{us:,.0f}"


def fmt_cpu_rate(r):
    """'<server µs/msg> µs · <msg/s>/s' for the headline table."""
    if r is None:
        return "—"
    if "failed" in r:
        return "failed"
    return f"{fmt_cpu(r)} µs · {fmt_rate(r)}/s"


def ratio(r, base):
    if not r or not base or "failed" in r or "failed" in base or not base["messages_per_sec"]:
        return "—"
    return f"{r['messages_per_sec'] / base['messages_per_sec']:.2f}×"


def cpu_ratio(r, base):
    us, base_us = server_us(r), server_us(base)
    if us is None or base_us is None:
        return "—"
    return f"{us / base_us:.2f}×"


TOOL_DOC = """\
## The tool

`sqsraft-bench` (crate `sqsraft-e2e`) drives any SQS endpoint over AWS JSON 1.0 with one
of two clients (`--client`): `raw` (the default: hyper, `aws-sigv4` and `serde_json`,
the signed client the operator also uses) or `sdk` (the Rust `aws-sdk-sqs`). Neither
retries, so every failure is counted. It creates its own queues under a
unique `bench-<hex>` prefix, prefills them for `receive-delete`, runs a warm-up and then a
measured window, deletes its queues, and prints messages/s, requests/s, p50/p90/p99/max
latency per operation, errors by AWS error code, its own CPU use (getrusage) and the
servers' (utime + stime of each server process from `/proc/<pid>/stat`, summed), both as a
percentage of one core and as **µs of CPU per message** (the scenario's headline messages).
Requests, messages and latencies count when a request *ends*
inside the measured window; clients start no request after it, and every request is bounded
by the end of the window plus 5 s, so a run always stops by itself.

```
cargo build --release -p sqsraft-server -p sqsraft-e2e --bins
target/release/sqsraft-local --nodes 3 --base-port 9324 --data-dir /tmp/c3 &   # prints "ready"
target/release/sqsraft-bench --endpoint http://127.0.0.1:9324,http://127.0.0.1:9334,http://127.0.0.1:9344 \\
    --scenario send-batch --concurrency 16 --batch-size 10 --message-size 100 --duration 10 --warmup 2
```

| scenario | what the clients do | headline rate | headline latency |
|---|---|---|---|
| `send` | SendMessage in a loop | messages sent/s | SendMessage |
| `send-batch` | SendMessageBatch of `--batch-size` | messages sent/s | SendMessageBatch |
| `receive-delete` | ReceiveMessage (up to `--batch-size`, WaitTimeSeconds=1) + DeleteMessage(Batch) on prefilled queues | messages deleted/s | ReceiveMessage |
| `mixed` | half send (batch when `--batch-size` > 1), half receive+delete | messages deleted/s | the send |
| `fifo` | `mixed` on FIFO queues, messages spread over `--groups` groups | messages deleted/s | the send |
| `long-poll-latency` | pairs: a consumer long-polls (WaitTimeSeconds=20) on its own queue, a producer sends one message each time the consumer is waiting | messages received/s | `Wake`: send acknowledged → receive returned |

Other flags: `--endpoint` (repeat or comma list; client *i* uses endpoint *i* mod *n*; a
long-poll consumer uses the node after its producer's), `--access-key/--secret-key`
(default: the development keys of `sqsraft-local`), `--queues N`, `--prefill N`, `--json`,
`--server-pids P1,P2,…`.

Which processes are the servers: `--server-pids` when given (what `compare.py` passes: it
knows every process it started, helpers included). Otherwise the tool finds them itself
when every endpoint is a loopback URL: the endpoint's port → the inode of the socket
listening on it (`/proc/net/tcp`, `/proc/net/tcp6`) → the processes holding that socket
(`/proc/<pid>/fd`). That needs no cooperation from the server and no pid files, and it
finds every replica when the clients are spread over all nodes; it misses replicas the
clients do not talk to (list all nodes' endpoints, or pass `--server-pids`) and helper
processes that do not hold the listener. CPU times are read at the start and the end of
the measured window, in clock ticks (10 ms at `CLK_TCK` 100: runs should use seconds of
CPU, not milliseconds); a pid that is not running for the whole window is left out and
noted. For a remote endpoint the server CPU is reported as not measured.
`Wake` is clamped at 1 µs when the receive returns before the send's acknowledgement
arrives. `receive-delete` notes when consumers found the queues empty (raise `--prefill`).

Client side: whether the client is the bottleneck shows in the *client CPU* column, the
benchmark process's own CPU over the measured window. On this 2-core machine the client
and the servers share the same cores, so every figure below is a lower bound for a server
with a machine of its own. The raw client costs a fraction of the SDK's CPU per request
(see "Which client" below), so it is the default.
"""


def write_report(args, results, skipped, started_at, elapsed, load_before, load_after):
    m = machine()
    names = [n for n in args.targets if n in results]
    command = "python3 " + " ".join(shlex.quote(a) for a in [str(Path(sys.argv[0]).resolve().relative_to(REPO))] + sys.argv[1:])
    lines = [
        "# Benchmarks",
        "",
        "How fast sqsraft serves SQS next to its peers, measured with `sqsraft-bench`. The results",
        "section is generated by `e2e/bench/compare.py`; re-run it rather than editing by hand.",
        "",
        TOOL_DOC,
        "## The comparison script",
        "",
        "`e2e/bench/compare.py` builds the release binaries, starts each target on 127.0.0.1 only",
        "(sqsraft 1-node and 3-node clusters with `sqsraft-local`, ElasticMQ on the machine's JVM,",
        "`moto_server`, LocalStack's SQS from PyPI without Docker), runs the same scenarios with the",
        "same parameters against each, passing the pids of the processes it started (the servers",
        "under `sqsraft-local`, not the launcher) to `sqsraft-bench --server-pids` so every target's",
        "CPU is measured the same way, reads each server's VmRSS/VmHWM from `/proc/<pid>/status`",
        "after the last scenario, stops",
        "every process it started by pid (also on Ctrl-C), and rewrites this file. moto and",
        "LocalStack run in virtualenvs built from `e2e/bench/requirements.txt` and",
        "`e2e/bench/requirements-localstack.txt` (fully pinned). LocalStack 2026.3.0 needs",
        "Python ≥ 3.13 (it imports `warnings.deprecated`; 3.12 fails at start-up): the script",
        "looks for one on PATH and under pyenv and skips LocalStack, saying why, when there is none.",
        "ElasticMQ: `e2e/bench/elasticmq/pom.xml` pins `org.elasticmq:elasticmq-server_2.13`; Maven",
        "copies it and its dependencies into `<target-dir>/elasticmq-<version>/` once, and the script",
        "runs `java -Dconfig.file=<run dir>/elasticmq.conf -cp '<jars>/*' org.elasticmq.server.Main`",
        "with a config it writes per run (bind and queue-URL host 127.0.0.1, a free port,",
        "`sqs-limits = strict`, region us-east-1, account 000000000000), default JVM flags. ElasticMQ",
        "does not check signatures; it speaks the same AWS JSON 1.0 the client sends. Before its",
        "scenarios the JVM gets `--jvm-prewarm` seconds (default 10) of unrecorded `mixed` load, so",
        "the JIT has compiled the hot paths; the measured scenarios then run exactly as for the",
        "others (JIT and GC threads count in its CPU, as they do in its real cost).",
        "",
        "## Results",
        "",
        f"- Date: {started_at.strftime('%Y-%m-%d %H:%M UTC')} (run took {elapsed / 60:.1f} min)",
        f"- Command: `{command}`",
        f"- Revision: {git_revision()}",
        f"- Machine: {m['nproc']} × {m['model']}, {m['memory_gib']:.1f} GiB memory, Linux {m['kernel']};"
        f" load average {load_before:.2f} before, {load_after:.2f} after (other work shares this machine)",
        f"- Parameters: concurrency {args.concurrency} (long-poll pairs {args.long_poll_pairs}), batch size"
        f" {args.batch_size}, message size {args.message_size} B, {args.queues} queue(s), {args.groups} FIFO"
        f" groups, warm-up {args.warmup:g} s, measured {args.duration:g} s per scenario, prefill {args.prefill}",
        "",
        "Targets:",
        "",
    ]
    for n in names:
        lines.append(f"- **{n}**: {results[n]['describe']}")
    for n, reason in skipped.items():
        lines.append(f"- **{n}**: skipped — {reason}")
    lines += [
        "",
        "### Server CPU per message and throughput",
        "",
        "Server CPU per message = utime + stime of every server process of the target (all",
        "replicas for sqsraft-3; the JVM or Python process of a peer) over the measured window,",
        "divided by the scenario's headline messages. Lower is better; it is the figure that",
        "carries over to other machines. msg/s beside it depends on what else runs here.",
        "",
    ]
    lines.append("| scenario | " + " | ".join(names) + " |")
    lines.append("|" + "---|" * (len(names) + 1))
    for s in args.scenarios:
        lines.append(f"| {s} | " + " | ".join(fmt_cpu_rate(results[n]["results"].get(s)) for n in names) + " |")
    baseline = next((b for b in BASELINES if b in names), None)
    others = [n for n in names if n != baseline]
    if baseline and others:
        lines += [
            "",
            f"### Against {baseline}: server CPU per message ratio (below 1 = cheaper) and msg/s ratio (above 1 = faster)",
            "",
        ]
        header = ["scenario"] + [f"{n} ÷ {baseline} CPU/msg" for n in others] + [f"{n} ÷ {baseline} msg/s" for n in others]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for s in args.scenarios:
            base = results[baseline]["results"].get(s)
            row = [s] + [cpu_ratio(results[n]["results"].get(s), base) for n in others]
            row += [ratio(results[n]["results"].get(s), base) for n in others]
            lines.append("| " + " | ".join(row) + " |")
    lines += ["", "### Headline latency p50 / p99 / max (ms)", ""]
    lines.append("| scenario | operation | " + " | ".join(names) + " |")
    lines.append("|" + "---|" * (len(names) + 2))
    for s in args.scenarios:
        op = next((results[n]["results"][s].get("latency_op") for n in names if "latency_op" in results[n]["results"].get(s, {})), "—")
        lines.append(f"| {s} | {op} | " + " | ".join(fmt_lat(results[n]["results"].get(s)) for n in names) + " |")
    lines += ["", "### Errors, client CPU and server CPU (percent of one core)", ""]
    lines.append("| scenario | " + " | ".join(names) + " |")
    lines.append("|" + "---|" * (len(names) + 1))
    for s in args.scenarios:
        cells = []
        for n in names:
            r = results[n]["results"].get(s)
            if not r or "failed" in r:
                cells.append(r["failed"] if r else "—")
                continue
            errs = ", ".join(f"{c} {k}" for c, k in r["errors"].items()) or "0 errors"
            client = r["client_cpu"]
            per = client.get("micros_per_message")
            per = f", {per:,.0f} µs/msg" if per else ""
            server = r.get("server_cpu") or {}
            busy = f"; server CPU {server['percent_of_one_core']:.0f}%" if server else ""
            cells.append(f"{errs}; client CPU {client['percent_of_one_core']:.0f}%{per}{busy}")
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "### Server memory after the last scenario", ""]
    lines.append("| target | VmRSS (sum) | VmHWM peak (sum) | per process (VmRSS) |")
    lines.append("|---|---|---|---|")
    for n in names:
        r = results[n]
        per = ", ".join(f"{rss / 1024:.0f} MiB" for rss, _ in r["per_process_kib"].values())
        lines.append(f"| {n} | {r['rss_kib'] / 1024:.0f} MiB | {r['hwm_kib'] / 1024:.0f} MiB | {per} |")
    notes = [
        f"- {n} {s}: {note}"
        for n in names
        for s, r in results[n]["results"].items()
        for note in r.get("notes", [])
    ]
    if notes:
        lines += ["", "### Notes from the runs", ""] + notes
    lines.append("")
    # Sections after KEEP_MARKER are measured by other commands; keep them.
    out = Path(args.out)
    previous = out.read_text() if out.exists() else ""
    kept = previous[previous.index(KEEP_MARKER):] if KEEP_MARKER in previous else ""
    out.write_text("\n".join(lines) + ("\n" + kept if kept else ""))
    log(f"wrote {args.out}")


def main():
    args = parse_args()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    started_at = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    load_before = os.getloadavg()[0]
    target_dir = Path(args.target_dir)
    if not args.no_build:
        env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
        run(["cargo", "build", "--release", "-p", "sqsraft-server", "-p", "sqsraft-e2e", "--bins"], cwd=REPO, env=env)
    bins = target_dir / "release"
    for b in ("sqsraft-server", "sqsraft-local", "sqsraft-bench"):
        if not (bins / b).is_file():
            raise SystemExit(f"{bins / b} missing; build without --no-build")
    results, skipped = {}, {}
    workdir = Path(tempfile.mkdtemp(prefix="sqsraft-compare-"))
    keep_logs = False
    try:
        for name in args.targets:
            try:
                results[name] = run_target(args, bins, workdir, name)
            except Skip as e:
                log(f"skipping {name}: {e}")
                skipped[name] = str(e)
            except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
                log(f"{name} failed: {e}; logs kept in {workdir}")
                skipped[name] = f"failed: {e}"
                keep_logs = True
            stop_all()
    finally:
        stop_all()
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"results": results, "skipped": skipped}, indent=2))
    write_report(args, results, skipped, started_at, time.monotonic() - t0, load_before, os.getloadavg()[0])
    if not keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        stop_all()
