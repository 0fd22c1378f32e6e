"""CloudWatch over the Smithy RPC v2 CBOR protocol, as AWS serves it.

CloudWatch answers three protocols (its model lists smithy-rpc-v2-cbor, json and query), and
current SDKs (the AWS SDK for Rust, botocore) speak CBOR only: `POST
/service/GraniteServiceVersion20100801/operation/OPERATION` with a CBOR body and the header
`smithy-protocol: rpc-v2-cbor`. moto 5.2.5 has no CBOR support and answers that path with a 404;
it does serve CloudWatch's JSON protocol. So this bridge:

* decodes the CBOR request (botocore's own CBOR parser) into the operation's parameters,
* hands moto the same call in the JSON protocol (`X-Amz-Target: GraniteServiceVersion20100801.OP`),
  with the original path, body and headers kept for the SigV4 check under IAM enforcement
  (signature.py signs over what the client sent, not over the rewritten request),
* encodes moto's JSON answer (or error) back into CBOR with the operation's output shape
  (botocore's CBOR serializer), with `smithy-protocol: rpc-v2-cbor` as AWS sends it.

Everything else (alarms, their state, IAM decisions) is moto's own.
"""

from __future__ import annotations

import datetime
import io
import json
import re
from typing import Any, Callable, Iterable

from stamp_moto import signature

TARGET_PREFIX = "GraniteServiceVersion20100801"
_PATH = re.compile(rf"^/service/{TARGET_PREFIX}/operation/(\w+)$")
_model: Any = None


def matches(environ: dict[str, Any]) -> bool:
    return environ.get("REQUEST_METHOD") == "POST" and bool(_PATH.match(environ.get("PATH_INFO", "")))


def operation_of(environ: dict[str, Any]) -> str | None:
    """`DescribeAlarms` of a CBOR request's path, for the request counter."""
    m = _PATH.match(environ.get("PATH_INFO", ""))
    return m.group(1) if m else None


def _service_model() -> Any:
    global _model
    if _model is None:
        import botocore.session

        _model = botocore.session.get_session().get_service_model("cloudwatch")
    return _model


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode()
    return value


def _decode(body: bytes) -> dict[str, Any]:
    from botocore.parsers import RpcV2CBORParser

    if not body:
        return {}
    parsed = RpcV2CBORParser()._initial_body_parse(body)
    return parsed if isinstance(parsed, dict) else {}


def _encode(value: dict[str, Any], shape: Any) -> bytes:
    from botocore.serialize import RpcV2CBORSerializer

    out = bytearray()
    if shape is None:
        return bytes(out)
    RpcV2CBORSerializer()._serialize_data_item(out, value, shape)
    return bytes(out)


def _encode_error(code: str, message: str) -> bytes:
    # An error body is a map of strings; a throwaway structure shape gives the serializer types.
    from botocore.model import StructureShape

    shape = StructureShape(
        "Error", {"type": "structure", "members": {"__type": {"shape": "S"}, "message": {"shape": "S"}}},
        shape_resolver=_StringResolver(),
    )
    return _encode({"__type": code, "message": message}, shape)


class _StringResolver:
    def resolve_shape_ref(self, ref: dict[str, Any]) -> Any:
        from botocore.model import Shape

        return Shape("S", {"type": "string"})


def _error_of(status: int, content_type: str, body: bytes) -> tuple[str, str]:
    """The code and message of moto's error answer, JSON (`__type`) or XML (`<Code>`)."""
    text = body.decode("utf-8", "replace")
    if "json" in content_type:
        try:
            doc = json.loads(text or "{}")
            code = str(doc.get("__type", "")).rsplit("#", 1)[-1]
            return code or str(status), str(doc.get("message") or doc.get("Message") or "")
        except ValueError:
            pass
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    return (code.group(1) if code else str(status)), (message.group(1) if message else text[:500])


def handle(environ: dict[str, Any], start_response: Callable[..., Any], moto_app: Callable[..., Any]) -> Iterable[bytes]:
    operation = _PATH.match(environ["PATH_INFO"]).group(1)  # type: ignore[union-attr]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    original_headers = {
        k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        original_headers["Content-Type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        original_headers["Content-Length"] = environ["CONTENT_LENGTH"]
    try:
        op_model = _service_model().operation_model(operation)
    except Exception:  # botocore raises OperationNotFoundError
        return _respond(start_response, 400, _encode_error("UnknownOperationException", operation))
    params = _jsonable(_decode(raw))
    body = json.dumps(params).encode()
    forwarded = dict(environ)
    forwarded.update(
        {
            "PATH_INFO": "/",
            "RAW_URI": "/",
            "REQUEST_URI": "/",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_AMZ_TARGET": f"{TARGET_PREFIX}.{operation}",
            "wsgi.input": io.BytesIO(body),
        }
    )
    forwarded.pop("HTTP_SMITHY_PROTOCOL", None)
    captured: dict[str, Any] = {}

    def capture_start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], Any]:
        captured["status"] = int(status.split(" ", 1)[0])
        captured["headers"] = {k.lower(): v for k, v in headers}
        return lambda _data: None

    signature.remember_original(environ["PATH_INFO"], raw, original_headers)
    try:
        answer = b"".join(moto_app(forwarded, capture_start))
    finally:
        signature.forget_original()
    status = captured.get("status", 500)
    content_type = captured.get("headers", {}).get("content-type", "")
    if status >= 300:
        code, message = _error_of(status, content_type, answer)
        return _respond(start_response, status, _encode_error(code, message))
    result = json.loads(answer.decode() or "{}")
    return _respond(start_response, status, _encode(result, op_model.output_shape))


def _respond(start_response: Callable[..., Any], status: int, body: bytes) -> Iterable[bytes]:
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}.get(status, "Error")
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(body))),
        ],
    )
    return [body]


def install() -> None:
    """CloudWatch's IAM actions are `cloudwatch:*`, but its SigV4 signing name (which moto 5.2.5
    takes for the IAM service prefix) is `monitoring`: without this, a policy allowing
    `cloudwatch:DescribeAlarms` would be refused under IAM enforcement, as it never is on AWS."""
    from moto.iam.access_control import IAMRequestBase

    original_init = IAMRequestBase.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if self._action.startswith("monitoring:"):
            self._action = "cloudwatch:" + self._action.split(":", 1)[1]

    IAMRequestBase.__init__ = __init__  # type: ignore[method-assign]
