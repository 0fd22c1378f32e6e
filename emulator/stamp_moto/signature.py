"""Checks SigV4 signatures of form-encoded requests over the bytes the client sent.

moto 5.2.5, under IAM enforcement, recomputes a query-protocol request's signature from the
form it parsed, encoded again by Python (werkzeug leaves no raw body for a form POST). AWS
signs over the body as sent. A client that percent-encodes differently from Python's
urlencode (the AWS SDK for Rust, for characters such as `!`, `'`, `(`, `)`, `*` in a
CloudFormation template body) is then refused with a 403 it would never get from AWS.

`capture(environ)` keeps the raw body of the request being handled (per thread: the server is
threaded, one request per thread); the patched `_create_aws_request` signs over it.

A request the emulator itself rewrote before moto sees it (cloudwatch_cbor.py turns CloudWatch's
CBOR protocol into JSON) is checked over what the client signed: `remember_original(path, body,
headers)` around the rewritten call.
"""

from __future__ import annotations

import io
import threading
from typing import Any

_local = threading.local()


def capture(environ: dict[str, Any]) -> None:
    """Remembers this thread's request body (form POSTs only) and gives moto a fresh stream."""
    _local.raw_body = None
    if environ.get("REQUEST_METHOD") != "POST":
        return
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    _local.raw_body = body


def remember_original(path: str, body: bytes, headers: dict[str, str]) -> None:
    """The request as the client signed it, for a call the emulator rewrote."""
    _local.original = (path, body, headers)


def forget_original() -> None:
    _local.original = None


def install() -> None:
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase._create_aws_request

    def _create_aws_request(self: Any) -> Any:
        rewritten = getattr(_local, "original", None)
        if rewritten is not None:
            from botocore.awsrequest import AWSRequest

            path, body, headers = rewritten
            signed = self._get_string_between("SignedHeaders=", ",", headers["Authorization"]).split(";")
            kept = self._create_headers_for_aws_request(signed, headers)
            request = AWSRequest(method=self._method, url=path, data=body, headers=kept)
            request.context["timestamp"] = kept["X-Amz-Date"]
            return request
        request = original(self)
        raw = getattr(_local, "raw_body", None)
        if raw:
            request.data = raw
        return request

    IAMRequestBase._create_aws_request = _create_aws_request  # type: ignore[method-assign]
