"""Launch moto's server on a free loopback port with stamp's extensions loaded.

    python -m stamp_moto.server --port 0 --port-file FILE [--watch-stdin]

* Binds 127.0.0.1 only: the harness must never be reachable from outside the machine.
* Writes the bound port to FILE (atomically) only once /moto-api/ answers, so whoever waits
  on the file can start sending requests immediately.
* --watch-stdin: exit as soon as stdin reaches EOF. A test binary holds the write end of a
  pipe; when it exits for any reason (including a panic or SIGKILL) the kernel closes the
  pipe and the server goes with it, so no orphan servers pile up.
* Adds POST /stamp-control/fail-next-rollout and /stamp-control/hang-next-rollout with a
  JSON body {"account_id", "region", "cluster", "service", "reason"?, "times"?}: the next
  `times` rollouts (default 1) of that service fail or hang. POST
  /stamp-control/alarm-on-next-rollout with the same keys and "alarm": that CloudWatch alarm (in
  the same account and region) goes to ALARM when the service's next rollout starts.
* POST /stamp-control/fail-next-run-task {"account_id", "region", "cluster", "reason", "times"?}:
  the next RunTask there answers with `failures` and no task (ecs_tasks.py); RunTask tasks
  stop with the exit code their command asks for and log a line (ecs_tasks.py).
* Counts every AWS request by operation ("ecs:DescribeServices"), whoever sends it:
  GET /stamp-control/requests answers {"operations": {...}, "total": n, "waiting_max": n,
  "connections": n} (waiting_max: the most requests that waited out the simulated latency at
  the same time; connections: TCP connections accepted);
  POST /stamp-control/requests/reset starts the count again. Benchmarks use it to count the
  calls of tools that do not count their own (ecs-deploy, the AWS CLI).
* STAMP_EMULATOR_CPU=N (benchmarks): the server runs on CPU N only (see `_pin_to_cpu`).
* STAMP_EMULATOR_TRACE=FILE (benchmarks, by hand): a line per AWS request with its monotonic
  start and end, the CPU seconds its thread spent and the operation, and a `gc:2` line per full
  garbage collection: where a benchmark's time goes inside the server.
* Simulated network latency (benchmarks only): every AWS request waits
  STAMP_EMULATOR_LATENCY_MS milliseconds (default 0) before moto handles it;
  POST /stamp-control/latency {"ms": N} changes it at run time. The server waits on a timer,
  so the waits of concurrent requests overlap as round trips to a real endpoint do; moto's own
  work runs one request at a time (one Python process, one thread: http1.py).
* moto's request overhead cut without changing an answer (speed.py); POST
  /stamp-control/check-answers {"on": true} writes every answer both ways and GET lists any
  difference (a test keeps the fast JSON writer honest).
* ExecuteChangeSet ends as on AWS (cfn_execute.py): a failing resource rolls the stack back
  with a *_FAILED event and its reason; outputs are recomputed.
* Under IAM enforcement, a form-encoded request's signature is checked over the body as sent
  (signature.py), as AWS does, not over moto's re-encoding of it.
* DescribeImages with another account's registryId reads that account's repository when its
  policy allows the caller (ecr_cross_account.py), as AWS does; moto looks only in the caller's.
* ListTaskDefinitionFamilies honours `status` and forgets a family whose revisions were all
  deleted (ecs_families.py), as AWS documents; moto lists every family it ever saw.
* A role's inline policies from a stack are kept as JSON text (iam_cfn_policies.py), so IAM
  enforcement reads them as AWS does; moto keeps them as a dict it cannot evaluate.
* CloudWatch in the Smithy RPC v2 CBOR protocol current SDKs speak (cloudwatch_cbor.py), which
  moto serves only as JSON or query; CloudWatch's IAM actions as `cloudwatch:*`.
* GET /federation serves the console federation endpoint (signin.py: getSigninToken checked
  against the credentials moto issued, login); GET /stamp-control/signins lists what it accepted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import io
import signal
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter, deque
from typing import Any, Callable, Iterable

from stamp_moto import (
    cfn_execute,
    cloudwatch_cbor,
    ecr_cross_account,
    ecs_families,
    ecs_rollout,
    ecs_tasks,
    http1,
    iam_cfn_policies,
    signature,
    signin,
    speed,
    ssm_paging,
)


def _json_response(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _operation(environ: dict[str, Any]) -> str:
    """`service:Operation` of an AWS request, as stamp's call counter names it.

    The service is the SigV4 credential scope's; the operation is X-Amz-Target's suffix (JSON
    protocols: ECS, SSM) or the Action parameter (query protocols: STS, IAM, EC2), which boto3
    and the Rust SDK send in a form body and some clients in the query string. Reading the body
    here means handing moto a fresh stream holding the same bytes.
    """
    auth = environ.get("HTTP_AUTHORIZATION", "")
    service = "unknown"
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        if len(scope) >= 4:
            service = scope[3]
    target = environ.get("HTTP_X_AMZ_TARGET", "") or cloudwatch_cbor.operation_of(environ) or ""
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    action = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    if not action and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
    return f"{service}:{action[0] if action else 'unknown'}"


class StampControl:
    """WSGI middleware: the control endpoints, request counting and simulated latency;
    everything else goes to moto."""

    def __init__(self, moto_app: Callable[..., Any], latency_ms: float = 0.0, log_requests: bool = False):
        self.moto_app = moto_app
        self.latency_ms = latency_ms
        # Off by default: a line per request drowns the useful part of the log (tracebacks)
        # when seeding hundreds of tenants.
        self.log_requests = log_requests
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()
        # Requests waiting out the simulated latency at once, and the most seen since the last
        # reset: tests check that requests wait side by side by this count, not by a wall clock.
        self._waiting = 0
        self._waiting_max = 0
        # Connections accepted since the last reset: tests check that a client reuses them.
        self._connections = 0
        # STAMP_EMULATOR_TRACE=FILE: one line per AWS request (monotonic start and end, the
        # handling thread's CPU seconds, operation), to see where a benchmark's time goes.
        trace = os.environ.get("STAMP_EMULATOR_TRACE")
        self.trace = open(trace, "a") if trace else None
        self._trace_lines: deque[str] = deque()
        self._gc_began = (0.0, 0.0)
        if self.trace is not None:
            gc.callbacks.append(self._trace_full_collections)
            threading.Thread(target=self._write_trace, name="trace", daemon=True).start()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/stamp-control/"):
            return self._control(path, environ, start_response)
        if path.startswith("/moto-api"):
            if path.rstrip("/") == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
                # moto forgets every service; armed failures must not leak into the next test.
                ecs_rollout.reset()
                ecs_tasks.reset()
                signin.reset()
                speed.unfreeze()
            return self.moto_app(environ, start_response)
        if path == "/federation":
            action = urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).get("Action", ["unknown"])[0]
            with self._counts_lock:
                self._counts[f"signin:{action}"] += 1
            return signin.handle(environ, start_response)
        signature.capture(environ)
        op = _operation(environ)
        with self._counts_lock:
            self._counts[op] += 1
        if self.log_requests:
            print(f"request {op} {environ.get('REQUEST_METHOD')} {path}", file=sys.stderr, flush=True)
        if self.trace is None:
            return self._moto(environ, start_response)
        began, cpu = time.monotonic(), time.thread_time()
        try:
            return self._moto(environ, start_response)
        finally:
            # deque.append needs no lock; a write under one made requests queue behind the
            # syscall (the writer gives up the interpreter lock and waits to get it back).
            self._trace_lines.append(f"{began:.6f} {time.monotonic():.6f} {time.thread_time() - cpu:.6f} {op}\n")

    def wait_for(self, environ: dict[str, Any]) -> float:
        """Seconds of simulated latency the server waits out before calling this application
        with `environ` (0: none), counted as waiting until `done_waiting`. The wait is the
        server's (`http1`), on its timer: requests wait side by side, none holds a thread."""
        path = environ.get("PATH_INFO", "")
        if self.latency_ms <= 0 or path.startswith(("/stamp-control/", "/moto-api")) or path == "/federation":
            return 0.0
        with self._counts_lock:
            self._waiting += 1
            self._waiting_max = max(self._waiting_max, self._waiting)
        return self.latency_ms / 1000

    def connected(self) -> None:
        with self._counts_lock:
            self._connections += 1

    def done_waiting(self) -> None:
        with self._counts_lock:
            self._waiting -= 1

    def _write_trace(self) -> None:
        while True:
            time.sleep(0.2)
            while self._trace_lines:
                self.trace.write(self._trace_lines.popleft())
            self.trace.flush()

    def _trace_full_collections(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._gc_began = time.monotonic(), time.thread_time()
            return
        began, cpu = self._gc_began
        self._trace_lines.append(f"{began:.6f} {time.monotonic():.6f} {time.thread_time() - cpu:.6f} gc:2\n")

    def _moto(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if cloudwatch_cbor.matches(environ):
            return cloudwatch_cbor.handle(environ, start_response, self.moto_app)
        return self.moto_app(environ, start_response)

    def _control(self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if path == "/stamp-control/requests" and method == "GET":
            with self._counts_lock:
                ops = dict(sorted(self._counts.items()))
                waiting_max, connections = self._waiting_max, self._connections
            body = {"operations": ops, "total": sum(ops.values()), "waiting_max": waiting_max, "connections": connections}
            return _json_response(start_response, "200 OK", body)
        if path == "/stamp-control/signins" and method == "GET":
            return _json_response(start_response, "200 OK", {"signins": signin.recorded()})
        if path == "/stamp-control/check-answers" and method == "GET":
            return _json_response(start_response, "200 OK", speed.checked())
        if method != "POST":
            return _json_response(start_response, "405 Method Not Allowed", {"error": "POST only"})
        if path == "/stamp-control/requests/reset":
            with self._counts_lock:
                self._counts.clear()
                self._waiting_max = 0
                self._connections = 0
            return _json_response(start_response, "200 OK", {"reset": True})
        if path == "/stamp-control/latency":
            try:
                ms = float(_json_body(environ)["ms"])
                if ms < 0:
                    raise ValueError("negative")
            except (ValueError, KeyError, TypeError) as exc:
                return _json_response(start_response, "400 Bad Request", {"error": f'body must be {{"ms": N}}, N >= 0: {exc}'})
            self.latency_ms = ms
            return _json_response(start_response, "200 OK", {"latency_ms": ms})
        if path == "/stamp-control/check-answers":
            try:
                on = _json_body(environ)["on"]
                if not isinstance(on, bool):
                    raise TypeError("not a boolean")
            except (ValueError, KeyError, TypeError) as exc:
                return _json_response(start_response, "400 Bad Request", {"error": f'body must be {{"on": true|false}}: {exc}'})
            speed.check_answers(on)
            return _json_response(start_response, "200 OK", {"checking": on})
        if path == "/stamp-control/fail-next-run-task":
            try:
                body = _json_body(environ)
                where = [str(body[k]) for k in ("account_id", "region", "cluster")]
                reason, times = str(body["reason"]), int(body.get("times", 1))
            except (ValueError, KeyError, TypeError) as exc:
                return _json_response(
                    start_response, "400 Bad Request", {"error": f"body must be JSON with account_id, region, cluster, reason: {exc}"}
                )
            ecs_tasks.arm_run_task_failure(*where, reason=reason, times=times)
            return _json_response(start_response, "200 OK", {"armed": "fail-next-run-task", "target": where, "times": times})
        try:
            body = _json_body(environ)
            target = [str(body[k]) for k in ("account_id", "region", "cluster", "service")]
            times = int(body.get("times", 1))
        except (ValueError, KeyError, TypeError) as exc:
            return _json_response(
                start_response,
                "400 Bad Request",
                {"error": f"body must be JSON with account_id, region, cluster, service: {exc}"},
            )
        if path == "/stamp-control/fail-next-rollout":
            ecs_rollout.arm_failure(*target, reason=body.get("reason"), times=times)
        elif path == "/stamp-control/alarm-on-next-rollout" and body.get("alarm"):
            ecs_rollout.arm_alarm(*target, alarm=str(body["alarm"]))
        elif path == "/stamp-control/hang-next-rollout":
            ecs_rollout.arm_hang(*target, times=times)
        else:
            return _json_response(start_response, "404 Not Found", {"error": f"unknown control {path}"})
        return _json_response(
            start_response, "200 OK", {"armed": path.rsplit("/", 1)[-1], "target": target, "times": times}
        )


def _wait_healthy(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _json_body(environ: dict[str, Any]) -> Any:
    """A control request's JSON body (`{}` when empty); ValueError when it is not JSON."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return json.loads(environ["wsgi.input"].read(length) or b"{}")


def _write_atomically(path: str, text: str) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _pin_to_cpu(cpu: str | None) -> None:
    """STAMP_EMULATOR_CPU=N: run the whole server on CPU N. Measured when waitress served with a
    thread pool (handing the interpreter lock between threads on different cores cost more
    than the handoff itself: moto's CPU for the same deploy fell from ~4.2 s to ~3.3 s pinned);
    with http1's one thread it still keeps the server where its caches are and leaves the
    other cores to the tool under test. Set before any thread starts; they inherit it.
    Off by default: the test suite runs several servers side by side."""
    if not cpu or not hasattr(os, "sched_setaffinity"):
        return
    os.sched_setaffinity(0, {int(cpu)})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    ap.add_argument("--log-requests", action="store_true", help="log every request to stderr")
    ap.add_argument("--cleanup-dir", help="directory to delete on exit (the caller's state dir)")
    args = ap.parse_args(argv)

    _pin_to_cpu(os.environ.get("STAMP_EMULATOR_CPU"))
    # No proxy for our own health check, whatever the environment says.
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    # Loaded before the server handles its first request.
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    ecs_rollout.install()
    ecs_families.install()
    iam_cfn_policies.install()
    ecs_tasks.install()
    ssm_paging.install()
    cfn_execute.install()
    signature.install()
    ecr_cross_account.install()
    cloudwatch_cbor.install()
    speed.install()
    import logging

    # Tracebacks of requests that failed inside moto (http1 logs them) go to the server log.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    latency_ms = float(os.environ.get("STAMP_EMULATOR_LATENCY_MS") or 0)
    app = StampControl(speed.without_flask(DomainDispatcherApplication(create_backend_app)), latency_ms=latency_ms, log_requests=args.log_requests)
    # One thread answers every request: http1's docstring says why.
    server = http1.Server(app, args.port)
    port = server.address[1]
    # moto builds some URLs (e.g. SQS queue URLs) from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(port))

    def stop(*_: Any) -> None:
        if args.cleanup_dir:
            # The Rust harness's shared server lives in a static that is never dropped, so the
            # server removes the state dir (port file, log) itself.
            import shutil

            shutil.rmtree(args.cleanup_dir, ignore_errors=True)
        # os._exit: serve_forever runs in a non-daemon thread and request threads may be mid-way;
        # nothing here needs a graceful flush.
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.watch_stdin:

        def watch() -> None:
            while sys.stdin.buffer.read(65536):
                pass
            stop()

        threading.Thread(target=watch, name="watch-stdin", daemon=True).start()

    serving = threading.Thread(target=server.run, name="moto", daemon=True)
    serving.start()
    _wait_healthy(port, 60)
    _write_atomically(args.port_file, f"{port}\n")
    extra = f" (simulated latency {latency_ms:g} ms per request)" if latency_ms else ""
    print(f"stamp_moto: serving on http://127.0.0.1:{port}{extra}", file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
