"""DescribeImages in another account's registry, as AWS serves it.

AWS sends `registryId` to the registry that owns the repository, and answers a caller of another
account when the repository's policy allows that account (or "*"). moto 5.2.5 keeps one ECR
backend per account and looks `registryId` up only in the caller's own, so an image in a central
registry account is "not found" for every tenant account. stamp's preflight checks exactly that
(the project's image usually lives in one build account), so this patch resolves a foreign
`registryId` in that account's backend of the same region, after checking the repository policy
names the caller's account or "*". Everything else (image lookup, errors) is moto's own.
"""
from __future__ import annotations

import json
from typing import Any


def _policy_allows(policy: str | None, account: str) -> bool:
    if not policy:
        return False
    try:
        statements = json.loads(policy).get("Statement", [])
    except (ValueError, AttributeError):
        return False
    if isinstance(statements, dict):
        statements = [statements]
    for s in statements:
        if s.get("Effect") != "Allow":
            continue
        principal = s.get("Principal", {})
        names = principal.get("AWS", []) if isinstance(principal, dict) else principal
        names = [names] if isinstance(names, str) else names
        if any(n == "*" or n == account or f":{account}:" in n for n in names):
            return True
    return False


def install() -> None:
    from moto.ecr.exceptions import RepositoryNotFoundException
    from moto.ecr.models import ECRBackend, ecr_backends

    own = ECRBackend._get_repository

    def _get_repository(self: Any, name: str, registry_id: str | None = None) -> Any:
        if not registry_id or registry_id == self.account_id:
            return own(self, name, registry_id)
        repo = ecr_backends[registry_id][self.region_name].repositories.get(name)
        if repo is None or not _policy_allows(repo.policy, self.account_id):
            raise RepositoryNotFoundException(name, registry_id)
        return repo

    ECRBackend._get_repository = _get_repository
