"""Inline policies a stack gives a role, readable by IAM enforcement as on AWS.

moto 5.2.5 stores the `Policies` of an `AWS::IAM::Role` made by CloudFormation as the parsed
document (a dict) where IAM's own PutRolePolicy stores JSON text; its policy evaluation and
GetRolePolicy expect text, so under IAM enforcement a role made by a stack allows nothing. On
AWS a stack's inline policy is an inline policy like any other. The seed makes the accounts'
roles as the stack `stamp-bootstrap` (as `stamp bootstrap --apply` does), so this keeps the
document as text, whoever puts it.
"""
from __future__ import annotations

import json
from typing import Any


def install() -> None:
    from moto.iam.models import Role

    original = Role.put_policy

    def put_policy(self: Any, policy_name: str, policy_json: Any) -> None:
        if not isinstance(policy_json, str):
            policy_json = json.dumps(policy_json)
        original(self, policy_name, policy_json)

    Role.put_policy = put_policy
