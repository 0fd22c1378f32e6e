"""The AWS console federation endpoint (https://signin.aws.amazon.com/federation), which moto
does not serve, checked against moto's own record of the credentials it issued.

    GET /federation?Action=getSigninToken[&SessionDuration=N]&Session=<JSON>
    GET /federation?Action=login&Destination=<URL>&SigninToken=<T>

getSigninToken, as AWS documents it for a custom identity broker: `Session` is the JSON
{"sessionId", "sessionKey", "sessionToken"} of temporary credentials. Here they must be ones
moto issued through AssumeRole (the same access key id, secret key and session token, not
expired); `SessionDuration`, when given, 900 to 43200 seconds. The answer is
{"SigninToken": "..."}; anything else is HTTP 400, as on AWS.

login: a token issued in the last 15 minutes (AWS's limit) answers 302 to `Destination`, with
the signed-in role session in the `X-Stamp-Signed-In-As` header (ours: AWS sets a cookie);
otherwise 400.

GET /stamp-control/signins lists the sessions getSigninToken accepted: access key id, role
ARN, session ARN, SessionDuration, the token. Never the secret key or the session token.

Not checked (only AWS exercises it): AWS refuses SessionDuration for credentials of a role
assumed from another role's session; moto does not record who assumed a role.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from typing import Any, Callable, Iterable

TOKEN_TTL_S = 15 * 60

_lock = threading.Lock()
# token -> what it signs in; in issue order
_signins: dict[str, dict[str, Any]] = {}


def reset() -> None:
    with _lock:
        _signins.clear()


def recorded() -> list[dict[str, Any]]:
    with _lock:
        return [{k: v for k, v in s.items() if k != "issued"} for s in _signins.values()]


def _issued(access_key_id: str) -> Any:
    """moto's AssumedRole for this access key id, in any account."""
    from moto.sts.models import sts_backends

    for account in list(dict.values(sts_backends)):
        for backend in list(dict.values(account)):
            role = backend.get_assumed_role_from_access_key(access_key_id)
            if role is not None:
                return role
    return None


def _text(start_response: Callable[..., Any], status: str, text: str, headers: list | None = None) -> Iterable[bytes]:
    data = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))] + (headers or []))
    return [data]


def _bad(start_response: Callable[..., Any], why: str) -> Iterable[bytes]:
    # AWS answers 400 with an HTML page; the reason here is for whoever reads the server log.
    return _text(start_response, "400 Bad Request", f"Invalid request: {why}\n")


def _get_signin_token(q: dict[str, list[str]], start_response: Callable[..., Any]) -> Iterable[bytes]:
    from moto.core.utils import utcnow

    try:
        session = json.loads(q["Session"][0])
        key, secret, token = (session[k] for k in ("sessionId", "sessionKey", "sessionToken"))
    except (KeyError, IndexError, ValueError, TypeError):
        return _bad(start_response, "Session must be JSON with sessionId, sessionKey, sessionToken")
    duration = None
    if "SessionDuration" in q:
        try:
            duration = int(q["SessionDuration"][0])
        except ValueError:
            return _bad(start_response, "SessionDuration is not a number")
        if not 900 <= duration <= 43200:
            return _bad(start_response, "SessionDuration must be 900 to 43200")
    role = _issued(key)
    if role is None or not secrets.compare_digest(role.secret_access_key, secret) or not secrets.compare_digest(
        role.session_token, token
    ):
        return _bad(start_response, "the credentials are not ones moto issued through AssumeRole")
    if role.expiration <= utcnow():
        return _bad(start_response, "the credentials have expired")
    signin_token = secrets.token_urlsafe(48)
    with _lock:
        _signins[signin_token] = {
            "access_key_id": key,
            "role_arn": role.role_arn,
            "session_arn": role.arn,
            "session_duration": duration,
            "signin_token": signin_token,
            "issued": time.monotonic(),
        }
    body = json.dumps({"SigninToken": signin_token})
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body.encode()]


def _login(q: dict[str, list[str]], start_response: Callable[..., Any]) -> Iterable[bytes]:
    token = (q.get("SigninToken") or [""])[0]
    destination = (q.get("Destination") or [""])[0]
    with _lock:
        signin = _signins.get(token)
    if signin is None or time.monotonic() - signin["issued"] > TOKEN_TTL_S:
        return _bad(start_response, "unknown or expired SigninToken")
    if not destination.startswith("https://"):
        return _bad(start_response, "Destination must be an https URL")
    return _text(
        start_response,
        "302 Found",
        f"signed in as {signin['session_arn']}\n",
        [("Location", destination), ("X-Stamp-Signed-In-As", signin["session_arn"])],
    )


def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("REQUEST_METHOD") != "GET":
        return _bad(start_response, "GET only")
    q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    action = (q.get("Action") or [""])[0]
    if action == "getSigninToken":
        return _get_signin_token(q, start_response)
    if action == "login":
        return _login(q, start_response)
    return _bad(start_response, f"unknown Action {action!r}")
