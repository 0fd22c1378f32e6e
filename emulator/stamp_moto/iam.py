"""Switch a moto server into IAM enforcement mode, after seeding.

    python -m stamp_moto.iam enforce --endpoint URL [--no-assume-user]
    python -m stamp_moto.iam role --endpoint URL --account ID --name NAME --actions A,B
    python -m stamp_moto.iam policy --endpoint URL --account ID --name NAME --actions A,B --admin ROLE

`role` creates (before enforcement) a role in a tenant account that the base account may
assume, allowed exactly the given actions: tests use it for a role that may not read.

Creates, in the base account 123456789012, the IAM user stamp-ci with an inline policy that
allows sts:AssumeRole and sts:GetCallerIdentity on "*" (everything else stamp does happens
inside the tenant accounts through the seeded roles), gives it an access key, then turns on
moto's request authorisation by POSTing 0 to /moto-api/reset-auth (moto parses that body as a
bare number, not JSON). Prints {"AccessKeyId", "SecretAccessKey"} as JSON on stdout. With
--no-assume-user it also creates stamp-no-assume, allowed sts:GetCallerIdentity only (a base
identity that cannot assume any role), and adds its keys as "NoAssume".

Enforcement is global to the server process and cannot be switched off again except by
/moto-api/reset-auth with a large count; use a dedicated server for it. moto honours only
Resource "*" policies and does not check cross-account trust or ExternalId.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

USER = "stamp-ci"
NO_ASSUME_USER = "stamp-no-assume"
NO_ASSUME_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"}],
}
USER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:GetCallerIdentity"], "Resource": "*"}],
}


def _user(iam, name: str, policy: dict) -> dict[str, str]:
    try:
        iam.create_user(UserName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def enforce(endpoint: str, no_assume_user: bool = False) -> dict:
    # Any key works before enforcement: moto maps unknown keys to the base account.
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "AKIASTAMPIAMSETUP"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "stamp-iam-setup"),
        config=Config(retries={"max_attempts": 1}),
    )
    out: dict = _user(iam, USER, USER_POLICY)
    if no_assume_user:
        out["NoAssume"] = _user(iam, NO_ASSUME_USER, NO_ASSUME_POLICY)
    # Not form-encoded: Flask would swallow a form body and moto would read an empty one.
    req = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()
    return out


def create_role(endpoint: str, account: str, name: str, actions: list[str]) -> dict[str, str]:
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "AKIASTAMPIAMSETUP"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "stamp-iam-setup"),
        config=Config(retries={"max_attempts": 1}),
    )
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/stamp-deploy", RoleSessionName="stamp-iam")[
        "Credentials"
    ]
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(retries={"max_attempts": 1}),
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}],
    }
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "EntityAlreadyExists":
            raise
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(doc))
    return {"RoleArn": f"arn:aws:iam::{account}:role/{name}"}


def set_policy(endpoint: str, account: str, name: str, actions: list[str], admin: str) -> dict[str, str]:
    """Replaces the inline policy of role `name` with exactly `actions`, working as the role
    `admin` of the account (created with `role … --actions '*'` before enforcement): how the
    least-privilege test changes a role's policy while enforcement is on."""
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        config=Config(retries={"max_attempts": 1}),
    )
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{admin}", RoleSessionName="stamp-iam")["Credentials"]
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(retries={"max_attempts": 1}),
    )
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(doc))
    return {"RoleArn": f"arn:aws:iam::{account}:role/{name}"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("enforce", help="create the base user and switch enforcement on")
    e.add_argument("--endpoint", required=True)
    e.add_argument("--no-assume-user", action="store_true", help="also create a user that cannot assume roles")
    r = sub.add_parser("role", help="create a role in a tenant account allowed exactly --actions")
    r.add_argument("--endpoint", required=True)
    r.add_argument("--account", required=True)
    r.add_argument("--name", required=True)
    r.add_argument("--actions", required=True, help="comma-separated IAM actions")
    p = sub.add_parser("policy", help="replace a role's policy with exactly --actions (as --admin)")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--account", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--actions", required=True, help="comma-separated IAM actions")
    p.add_argument("--admin", required=True, help="a role of the account allowed iam:PutRolePolicy")
    args = ap.parse_args(argv)
    if not args.endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit(f"iam: refusing non-local endpoint {args.endpoint}")
    if args.cmd == "policy":
        out = set_policy(args.endpoint, args.account, args.name, args.actions.split(","), args.admin)
    elif args.cmd == "role":
        out = create_role(args.endpoint, args.account, args.name, args.actions.split(","))
    else:
        out = enforce(args.endpoint, args.no_assume_user)
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
