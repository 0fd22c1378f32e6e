"""Request overhead of moto's server that does not change an answer: the fleet benchmark sends
moto thousands of requests from dozens of tenant accounts at once, and two per-request costs
of moto 5.2.5 made the single server process, not the tool under test, the bottleneck.

* Which service a request is for: `DomainDispatcherApplication.get_backend_for_host` calls
  `moto.backends.list_of_moto_modules()`, which lists moto's package folder and stats every
  entry (about 200 system calls) on every request. The installed package does not change while
  the server runs, so the list is read once.
* Which account a request's access key belongs to: `moto.iam.models.get_account_id_from` scans
  every account's IAM backend in every partition, so each request costs more the more accounts
  a run has seeded (the benchmark seeds hundreds). The account found for a key is remembered
  and checked again with one lookup (the key may have been deleted, or the backends reset). A
  key is remembered when IAM creates it (`create_access_key`, `create_temp_access_key`: the two
  places moto adds keys), so a role session's key never needs a scan. A key found nowhere (the
  caller's own keys, which moto maps to its default account) stays found nowhere until IAM
  creates that very key: before, any new key (every AssumeRole) sent it back to the scan, ~8 ms
  with the benchmark's accounts, on every AssumeRole.
* Which account's backend a request uses: `BackendDict.__getitem__` (every `iam_backends[a]`,
  `ecs_backends[a]`, … several per request) copies the dict's keys into a list to test whether
  the account has its backend yet, then tests `self in BackendDict._instances` with a
  Python-level `__eq__` against every service's dict, all under one global lock: with a few
  hundred seeded accounts this was over half of the server's CPU. An account already in the
  dict is answered with one dict lookup; everything else takes moto's own path. That is exact
  because moto only adds an account through that path, which registers the dict at once, and
  `BackendDict.reset` empties every dict it unregisters.
* Garbage collection: moto keeps every account's state as Python objects, and CPython's full
  (generation 2) collection walks all of them while holding the interpreter lock. With the
  benchmark's few hundred seeded accounts one full collection stopped the server for ~1 s,
  mid-wave (`STAMP_EMULATOR_TRACE` shows it as a `gc:2` line). After each full collection its
  survivors are frozen (`gc.freeze`), so the next one walks only what came after; a reset
  (`unfreeze`) hands the forgotten state back to the collector. Cycles among frozen objects
  are freed only after a reset: moto's state lives until then anyway.
* Which attribute of moto's object holds a response field: the serializer builds a context
  object and asks six alias providers for every field of every object it writes
  (`XFormedAttributePicker`), though the answer depends only on the object's class, the field
  and its shape. It is asked once per (class, field, shape), and the field is then picked as
  moto picks it; objects with a `Meta` of their own, or pickers with other providers, take
  moto's path. Serialization was about half of a DescribeServices.
* Flask around each request: `without_flask` calls the handler moto's Flask view calls, with
  the same request object and response, without Flask's request context and CORS hooks
  (a quarter of moto's time per request); moto's own API and unmatched paths keep Flask.
* Which handler method a request calls: `BaseResponse.setup_class` lists the response class's
  functions with `inspect.getmembers` on every request; a class's functions are listed once
  (every extension is installed before this module, and nothing adds methods while serving).

Measured with the deploy part of bench/run (py-spy on the server: each was in the top five of
moto's own time). Answers are byte for byte the same: only how they are looked up changes.
"""

from __future__ import annotations

import functools
import gc
import threading
from typing import Iterable


def install() -> None:
    """Call last: the method lists are taken of the classes as the other extensions left them."""
    _cache_module_list()
    _remember_key_accounts()
    _cache_method_names()
    _backend_lookup_by_dict()
    _freeze_after_full_collections()
    _memoize_attribute_aliases()


def _cache_module_list() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> Iterable[str]:
        return modules

    backends.list_of_moto_modules = list_of_moto_modules


def _remember_key_accounts() -> None:
    from moto.iam import models

    scan = models.get_account_id_from
    known: dict[str, tuple[str, str]] = {}
    # Keys found nowhere (the caller's own, which moto maps to its default account). A scan's
    # answer for a key changes only when IAM creates that very key.
    nowhere: set[str] = set()
    lock = threading.Lock()

    def recording(create):  # type: ignore[no-untyped-def]
        # A key is born in a known account: remember it there, so even its first request scans
        # nothing (every AssumeRole makes one, hundreds a benchmark run).
        def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            key = create(self, *args, **kwargs)
            # The backend's region is the partition it is filed under in the account.
            with lock:
                nowhere.discard(key.physical_resource_id)
                known[key.physical_resource_id] = (self.account_id, self.region_name)
            return key

        return wrapper

    models.IAMBackend.create_access_key = recording(models.IAMBackend.create_access_key)
    models.IAMBackend.create_temp_access_key = recording(models.IAMBackend.create_temp_access_key)

    def get_account_id_from(access_key: str) -> str:
        found = known.get(access_key)
        if found is not None:
            account_id, partition = found
            backend = models.iam_backends.get(account_id)
            if backend is not None and access_key in backend[partition].access_keys:
                return account_id
        elif access_key in nowhere:
            return models.DEFAULT_ACCOUNT_ID
        account_id = scan(access_key)
        partition = _partition_holding(models, account_id, access_key)
        with lock:
            if partition is not None:
                known[access_key] = (account_id, partition)
                nowhere.discard(access_key)
            else:
                nowhere.add(access_key)
        return account_id

    models.get_account_id_from = get_account_id_from


def _cache_method_names() -> None:
    from moto.core import responses

    names = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
    responses.method_names_from_class = names


def _backend_lookup_by_dict() -> None:
    from moto.core.base_backend import BackendDict

    create = BackendDict._create_account_specific_backend

    def _create_account_specific_backend(self, account_id: str) -> None:  # type: ignore[no-untyped-def]
        if dict.__contains__(self, account_id):
            return
        create(self, account_id)

    BackendDict._create_account_specific_backend = _create_account_specific_backend  # type: ignore[method-assign]


def _freeze_after_full_collections() -> None:
    def on_collection(phase: str, info: dict[str, int]) -> None:
        # Called after the collection has finished: freezing only moves lists, it collects nothing.
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.callbacks.append(on_collection)


def _memoize_attribute_aliases() -> None:
    from moto.core import serialize
    from moto.core.utils import get_value as pick

    moto_get_value = serialize.ResponseSerializer.get_value
    aliases = serialize.XFormedAttributePicker.get_possible_keys
    Context = serialize.AttributePickerContext
    missing = serialize.MISSING
    known: dict[tuple[object, ...], tuple[tuple[str, ...], object, object]] = {}

    def get_value(self, value, key, shape):  # type: ignore[no-untyped-def]
        picker = self._value_picker
        # What the alias providers read: the object's class (its name, its Meta), the key, the
        # shape and its parent. Another picker, other providers or an instance's own Meta:
        # moto's path.
        if (
            type(picker) is not serialize.XFormedAttributePicker
            or picker.alias_providers is not serialize.DEFAULT_ALIAS_PROVIDERS
            or "Meta" in getattr(value, "__dict__", ())
        ):
            return moto_get_value(self, value, key, shape)
        parent = getattr(shape, "parent", None)
        memo = (type(value), key, id(shape), id(parent))
        found = known.get(memo)
        if found is None:
            context = Context(obj=value, key=key, shape=shape, operation_model=self.operation_model,
                              service_model=self.service_model, key_path=".".join(self.path))
            # The shape and parent are kept with the answer, so their ids cannot be reused.
            found = (tuple(aliases(picker, context)), shape, parent)
            known[memo] = found
        # From here on, AttributePicker.__call__ as moto 5.2.5 writes it.
        for possible_key in found[0]:
            result = pick(value, possible_key, missing)
            if result is not missing:
                break
        else:
            result = None
        if picker.response_transformers:
            key_path = f"{'.'.join(self.path)}.{key}"
            for transform_path, transform in picker.response_transformers.items():
                if key_path.endswith(transform_path):
                    return transform(result)
        return result

    serialize.ResponseSerializer.get_value = get_value  # type: ignore[method-assign]


def without_flask(dispatcher):  # type: ignore[no-untyped-def]
    """moto's server answers each AWS request through a Flask app per service (request context,
    CORS, URL adapter) only to call the handler moto's decorator mode calls directly. This does
    what moto's `convert_to_flask_response` does, without Flask around it; anything else (moto's
    own API, a path no rule matches) still goes through the Flask app."""
    from botocore.exceptions import ClientError
    from moto.core.request import normalize_request
    from moto.core.utils import convert_to_flask_response
    from moto.moto_api import recorder
    from werkzeug.exceptions import HTTPException
    from werkzeug.wrappers import Response

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return dispatcher(environ, start_response)
        flask_app = dispatcher.get_application(environ)
        try:
            endpoint, _ = flask_app.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return flask_app(environ, start_response)
        view = flask_app.view_functions.get(endpoint)
        if not isinstance(view, convert_to_flask_response):
            return flask_app(environ, start_response)
        # From here on, convert_to_flask_response.__call__ as moto 5.2.5 writes it.
        request = normalize_request(flask_app.request_class(environ))
        recorder._record_request(request)
        try:
            result = view.callback(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        except HTTPException as exc:
            # What Flask answers for one raised in a view (moto's handlers catch their own, but
            # not one raised while reading the request): the exception's own response.
            return exc(environ, start_response)
        status, headers, content = result if len(result) == 3 else (200, {}, result)
        response = Response(response=content, status=status, headers=headers)
        if request.method == "HEAD" and "content-length" in headers:
            response.headers["Content-Length"] = headers["content-length"]
        return response(environ, start_response)

    return app


def unfreeze() -> None:
    """After a reset: what moto forgot becomes collectable again."""
    gc.unfreeze()


def _partition_holding(models, account_id: str, access_key: str) -> str | None:  # type: ignore[no-untyped-def]
    backend = models.iam_backends.get(account_id)
    if backend is None:
        return None
    for partition in models.PARTITION_NAMES:
        if access_key in backend[partition].access_keys:
            return partition
    return None
