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
  key found nowhere (the caller's own keys, which moto maps to its default account) is
  remembered only until IAM creates its next access key, the only way a scan's answer for it
  can change (`create_access_key`, `create_temp_access_key`: the two places moto adds keys).
* Which account's backend a request uses: `BackendDict.__getitem__` (every `iam_backends[a]`,
  `ecs_backends[a]`, … several per request) copies the dict's keys into a list to test whether
  the account has its backend yet, then tests `self in BackendDict._instances` with a
  Python-level `__eq__` against every service's dict, all under one global lock: with a few
  hundred seeded accounts this was over half of the server's CPU. An account already in the
  dict is answered with one dict lookup; everything else takes moto's own path. That is exact
  because moto only adds an account through that path, which registers the dict at once, and
  `BackendDict.reset` empties every dict it unregisters.
* Which handler method a request calls: `BaseResponse.setup_class` lists the response class's
  functions with `inspect.getmembers` on every request; a class's functions are listed once
  (every extension is installed before this module, and nothing adds methods while serving).

Measured with the deploy part of bench/run (py-spy on the server: each was in the top five of
moto's own time). Answers are byte for byte the same: only how they are looked up changes.
"""

from __future__ import annotations

import functools
import threading
from typing import Iterable


def install() -> None:
    """Call last: the method lists are taken of the classes as the other extensions left them."""
    _cache_module_list()
    _remember_key_accounts()
    _cache_method_names()
    _backend_lookup_by_dict()


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
    # Keys found nowhere, with the count of keys IAM had created when they were looked for.
    nowhere: dict[str, int] = {}
    created = [0]
    lock = threading.Lock()

    def counting(create):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            with lock:
                created[0] += 1
            return create(*args, **kwargs)

        return wrapper

    models.IAMBackend.create_access_key = counting(models.IAMBackend.create_access_key)
    models.IAMBackend.create_temp_access_key = counting(models.IAMBackend.create_temp_access_key)

    def get_account_id_from(access_key: str) -> str:
        found = known.get(access_key)
        if found is not None:
            account_id, partition = found
            backend = models.iam_backends.get(account_id)
            if backend is not None and access_key in backend[partition].access_keys:
                return account_id
        elif nowhere.get(access_key) == created[0]:
            return models.DEFAULT_ACCOUNT_ID
        generation = created[0]
        account_id = scan(access_key)
        partition = _partition_holding(models, account_id, access_key)
        with lock:
            if partition is not None:
                known[access_key] = (account_id, partition)
                nowhere.pop(access_key, None)
            else:
                nowhere[access_key] = generation
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


def _partition_holding(models, account_id: str, access_key: str) -> str | None:  # type: ignore[no-untyped-def]
    backend = models.iam_backends.get(account_id)
    if backend is None:
        return None
    for partition in models.PARTITION_NAMES:
        if access_key in backend[partition].access_keys:
            return partition
    return None
