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
  (a quarter of moto's time per request); moto's own API and unmatched paths keep Flask. The
  rule a POST to `/` matches (every JSON and query protocol call) is kept per app, and the
  URL root of the request's URL per server address.
* Which handler method a request calls: `BaseResponse.setup_class` lists the response class's
  functions with `inspect.getmembers` on every request; a class's functions are listed once
  (every extension is installed before this module, and nothing adds methods while serving),
  and the handler's name is derived from the action's once per action.
* Which service a host name is: `get_backend_for_host` runs up to a hundred URL patterns on
  every request, twice for a signed one (the request's own host, then the one inferred from its
  signature). The patterns are a fixed index, so a host's answer is kept.
* Reading a field: the memoized aliases above are tried through moto's `get_value`, which asks
  each time whether the object is a mapping and whether the alias is a dotted path, and reads a
  dict's missing key by catching a KeyError. Both depend only on the class and the alias, so
  they are decided once: a dict's field is then one `dict.get` per alias, a plain object's one
  `getattr`.
* Writing a JSON answer (ECS, SSM, ECR, Logs, Application Auto Scaling: most calls of a
  deploy, and the largest answers): for every member of every structure moto looks up the
  type's method by name, pushes and pops the member on its path, and picks the value through
  `get_value`'s checks. For an object of a class it has seen under a shape, the members'
  aliases and readers are kept as one plan and read in one loop, and a string, boolean or
  integer is written where it is found, as moto's methods for them write it (none of them
  reads the path); a response class's transformers (ECS has two) are applied by key path as
  moto's picker applies them. Other shapes, objects with a `Meta` of their own and pickers with
  other providers take moto's path.
* The request id: moto draws its 52 characters with 52 calls of `choice`; one `choices` call
  draws them from the same alphabet and the same (seedable) generator.

Measured with the deploy part of bench/run (py-spy on the server: each was in the top five of
moto's own time), the last five with cProfile on a server in the profiler's process. Answers are
byte for byte the same: only how they are looked up changes. `check_answers` writes every answer
both ways and keeps the differences (`POST /stamp-control/check-answers`); a test deploys with it
on, and every answer of the whole test suite and of a benchmark fleet deploy was checked that
way once (about 36,000 answers, none different).
"""

from __future__ import annotations

import functools
import gc
import threading
from typing import Any, Iterable


def install() -> None:
    """Call last: the method lists are taken of the classes as the other extensions left them."""
    from moto.core import serialize

    _MOTO["get_value"] = serialize.ResponseSerializer.get_value
    _MOTO["serialize"] = serialize.ResponseSerializer.serialize
    _cache_module_list()
    _remember_key_accounts()
    _cache_method_names()
    _backend_lookup_by_dict()
    _freeze_after_full_collections()
    _memoize_attribute_aliases()
    _memoize_backend_for_host()
    _request_ids_in_one_draw()
    _json_structures_by_plan()


# moto's own methods that `install` replaces, for `check_answers`.
_MOTO: dict[str, Any] = {}
# What `check_answers` found: answers written both ways, by operation, and the first differences.
_CHECKED: dict[str, Any] = {"operations": {}, "different": []}


def check_answers(on: bool) -> None:
    """While on, every answer is written twice, with this module's JSON writer and with moto's
    own, and any difference is kept for `checked()`: the test that the fast paths change nothing
    a client reads. Turning it on starts a new count."""
    from moto.core import serialize

    if not on:
        serialize.ResponseSerializer.serialize = _MOTO["serialize"]  # type: ignore[method-assign]
        return
    _CHECKED["operations"], _CHECKED["different"] = {}, []
    json_writer = serialize.JSONSerializer
    ours = {name: json_writer.__dict__[name] for name in ("_serialize", "_serialize_type_structure")}
    fast_get_value = serialize.ResponseSerializer.get_value
    write = _MOTO["serialize"]

    def both_ways(self, result):  # type: ignore[no-untyped-def]
        fast = write(self, result)
        for name in ours:
            delattr(json_writer, name)
        serialize.ResponseSerializer.get_value = _MOTO["get_value"]
        try:
            slow = write(self, result)
        finally:
            for name, method in ours.items():
                setattr(json_writer, name, method)
            serialize.ResponseSerializer.get_value = fast_get_value
        op = str(self.operation_name)
        _CHECKED["operations"][op] = _CHECKED["operations"].get(op, 0) + 1
        if fast != slow and len(_CHECKED["different"]) < 10:
            _CHECKED["different"].append({"operation": op, "ours": repr(fast)[:2000], "moto": repr(slow)[:2000]})
        return fast

    serialize.ResponseSerializer.serialize = both_ways  # type: ignore[method-assign]


def checked() -> dict[str, Any]:
    """Answers `check_answers` wrote both ways since it was turned on, and the differences."""
    ops = dict(sorted(_CHECKED["operations"].items()))
    return {"operations": ops, "total": sum(ops.values()), "different": list(_CHECKED["different"])}


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
    # The handler's name from the action's (`DescribeServices` -> `describe_services`), a
    # character loop moto runs on every request for one of a few hundred names.
    responses.camelcase_to_underscores = functools.lru_cache(maxsize=4096)(responses.camelcase_to_underscores)


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

    moto_get_value = serialize.ResponseSerializer.get_value
    by_default = _default_picking(serialize)
    known: dict[tuple[object, ...], tuple[tuple[str, ...], Any, object, object]] = {}

    def get_value(self, value, key, shape):  # type: ignore[no-untyped-def]
        if not by_default(self, value):
            return moto_get_value(self, value, key, shape)
        parent = getattr(shape, "parent", None)
        memo = (type(value), key, id(shape), id(parent))
        found = known.get(memo)
        if found is None:
            # The shape and parent are kept with the answer, so their ids cannot be reused.
            found = known[memo] = (*_aliases(self, value, key, shape), shape, parent)
        # From here on, AttributePicker.__call__ as moto 5.2.5 writes it.
        result = _pick(value, found[0], found[1])
        transformers = self._value_picker.response_transformers
        if transformers:
            return _transformed(transformers, f"{'.'.join(self.path)}.{key}", result)
        return result

    serialize.ResponseSerializer.get_value = get_value  # type: ignore[method-assign]


def _json_structures_by_plan() -> None:
    from enum import Enum

    from moto.core import serialize

    generic = serialize.ResponseSerializer._serialize
    moto_structure = serialize.BaseJSONSerializer._serialize_type_structure
    by_default = _default_picking(serialize)
    empty = [None, {}, []]
    plans: dict[tuple[type, int], tuple[tuple[Any, ...], object]] = {}

    def _serialize(self, serialized, value, shape, key):  # type: ignore[no-untyped-def]
        # The leaf methods moto 5.2.5 gives a JSON serializer, each ending in `_default_serialize`.
        kind = shape.type_name
        if kind == "string":
            if isinstance(value, Enum):
                value = value.value
            serialized[shape.serialization.get("name", key)] = str(value) if value not in empty else value
        elif kind == "boolean":
            serialized[shape.serialization.get("name", key)] = value
        elif kind == "integer" or kind == "long":
            serialized[shape.serialization.get("name", key)] = int(value)
        else:
            generic(self, serialized, value, shape, key)

    def plan(self, value, shape):  # type: ignore[no-untyped-def]
        members = []
        for member_key, member_shape in shape.members.items():
            member_shape.parent = shape
            members.append((member_key, member_shape, *_aliases(self, value, member_key, member_shape)))
        # The shape is kept with its plan, so its id cannot be reused.
        return tuple(members), shape

    def _serialize_type_structure(self, serialized, value, shape, key):  # type: ignore[no-untyped-def]
        if shape.is_document_type or value is None or not by_default(self, value):
            return moto_structure(self, serialized, value, shape, key)
        found = plans.get((type(value), id(shape)))
        if found is None:
            found = plans[(type(value), id(shape))] = plan(self, value, shape)
        wrapper = {} if key else serialized
        write = self._serialize
        # A response class's transformers (ECS has two) apply by the member's key path.
        transformers = self._value_picker.response_transformers
        prefix = ".".join(self.path) if transformers else ""
        # From here on, ResponseSerializer._serialize_type_structure with AttributePicker.__call__.
        for member_key, member_shape, keys, read in found[0]:
            # `_pick`, inlined: this runs for every member of every answer.
            for possible_key in keys:
                member_value = read(value, possible_key, _ABSENT)
                if member_value is not _ABSENT:
                    break
            else:
                member_value = None
            if transformers:
                member_value = _transformed(transformers, f"{prefix}.{member_key}", member_value)
            if member_value is not None:
                write(wrapper, member_value, member_shape, member_key)
        if key:
            serialized[shape.serialization.get("name", key)] = wrapper

    serialize.JSONSerializer._serialize = _serialize  # type: ignore[method-assign]
    serialize.JSONSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]


def _default_picking(serialize):  # type: ignore[no-untyped-def]
    """Whether a serializer picks `value`'s fields as moto's default picker does, so that a
    field's aliases depend only on what the memos key: the object's class (its name, its Meta),
    the key, the shape and its parent. Another picker, other providers or an instance's own
    Meta: moto's path."""
    xformed, providers = serialize.XFormedAttributePicker, serialize.DEFAULT_ALIAS_PROVIDERS

    def by_default(self, value) -> bool:  # type: ignore[no-untyped-def]
        picker = self._value_picker
        return (
            type(picker) is xformed
            and picker.alias_providers is providers
            and "Meta" not in getattr(value, "__dict__", ())
        )

    return by_default


def _aliases(serializer: Any, value: object, key: str, shape: Any) -> tuple[tuple[str, ...], Any]:
    """The names moto's picker tries for `key` of `value`, in its order, and how to read each."""
    from moto.core import serialize

    context = serialize.AttributePickerContext(
        obj=value, key=key, shape=shape, operation_model=serializer.operation_model,
        service_model=serializer.service_model, key_path=".".join(serializer.path))
    keys = tuple(serialize.XFormedAttributePicker.get_possible_keys(serializer._value_picker, context))
    return keys, _reader(value, keys)


# What a reader answers for a name `value` does not have (no field can hold this object).
_ABSENT = object()


def _pick(value: object, keys: tuple[str, ...], read: Any) -> Any:
    """The first of `keys` `value` has, read with `read`; None when it has none (moto's picker)."""
    for key in keys:
        found = read(value, key, _ABSENT)
        if found is not _ABSENT:
            return found
    return None


def _transformed(transformers: dict[str, Any], key_path: str, value: Any) -> Any:
    """`value` through the first transformer whose path `key_path` ends with (moto's picker
    applies it to a missing field's None too)."""
    for transform_path, transform in transformers.items():
        if key_path.endswith(transform_path):
            return transform(value)
    return value


def _reader(value: object, keys: tuple[str, ...]) -> Any:
    """How moto's `get_value` reads each of `keys` from an object of `value`'s class, decided
    once: a plain key (no dotted path) of a dict is `dict.get`, of an object without
    `__getitem__` `getattr`; anything else moto's own."""
    from moto.core.utils import get_value

    if all(isinstance(k, str) and "." not in k for k in keys):
        if type(value) is dict:
            return dict.get
        if not hasattr(value, "__getitem__"):
            return getattr
    return get_value


def _memoize_backend_for_host() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    scan = DomainDispatcherApplication.get_backend_for_host

    def get_backend_for_host(self, host):  # type: ignore[no-untyped-def]
        # Called under the dispatcher's own lock (`get_application`).
        known = self.__dict__.setdefault("_stamp_backend_for_host", {})
        try:
            return known[host]
        except KeyError:
            found = known[host] = scan(self, host)
            return found

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _request_ids_in_one_draw() -> None:
    import string

    from moto.core import responses
    from moto.moto_api._internal import mock_random

    # moto.utilities.aws_headers.gen_amzn_requestid_long, as `_enrich_response` calls it.
    alphabet = string.ascii_letters + string.digits

    def gen_amzn_requestid_long(headerdict=None):  # type: ignore[no-untyped-def]
        request_id = "".join(mock_random.choices(alphabet, k=52))
        if headerdict is not None and isinstance(headerdict, dict):
            headerdict.update({"x-amzn-requestid": request_id})
        return request_id

    responses.gen_amzn_requestid_long = gen_amzn_requestid_long


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

    routes: dict[tuple[object, str], str] = {}
    roots: dict[tuple[object, ...], str] = {}

    def raw_url(request):  # type: ignore[no-untyped-def]
        # moto's `Request.raw_url`, with werkzeug's `url_root` kept for what it is computed from
        # (a few server addresses): it is most of the property's cost.
        e = request.environ
        key = (e.get("wsgi.url_scheme"), e.get("HTTP_HOST"), e.get("SERVER_NAME"), e.get("SERVER_PORT"),
               e.get("SCRIPT_NAME"))
        root = roots.get(key) if request.trusted_hosts is None else request.url_root
        if root is None:
            if len(roots) > 64:
                roots.clear()
            root = roots[key] = request.url_root
        url = f"{root.rstrip('/')}{request.raw_path}"
        if request.query_string:
            url += f"?{request.query_string.decode()}"
        return url

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return dispatcher(environ, start_response)
        flask_app = dispatcher.get_application(environ)
        # Every call of the JSON and query protocols is a POST to `/`: which rule that matches
        # depends on the app and the method alone (moto's maps match paths, not hosts).
        route = (flask_app, environ.get("REQUEST_METHOD")) if environ.get("PATH_INFO") == "/" else None
        endpoint = routes.get(route) if route else None
        if endpoint is None:
            try:
                endpoint, _ = flask_app.url_map.bind_to_environ(environ).match()
            except HTTPException:
                return flask_app(environ, start_response)
            if route:
                routes[route] = endpoint
        view = flask_app.view_functions.get(endpoint)
        if not isinstance(view, convert_to_flask_response):
            return flask_app(environ, start_response)
        # From here on, convert_to_flask_response.__call__ as moto 5.2.5 writes it.
        request = normalize_request(flask_app.request_class(environ))
        recorder._record_request(request)
        try:
            # The pairs the headers iterate, as `dict(request.headers)` would look each name up.
            result = view.callback(request, raw_url(request), dict(iter(request.headers)))
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
