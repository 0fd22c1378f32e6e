#!/usr/bin/env python3
"""Env files for one tenant's services, as the ecs-deploy loop needs them.

    python peer_env.py MANIFEST TENANT OUTDIR

ecs-deploy sets environment variables and secrets but cannot read SSM values into plain
environment variables, so a loop around it has to resolve them first. This does it the cheap
way (one process per tenant, boto3, the tenant's deploy role, GetParameters 10 names a call)
and writes OUTDIR/SERVICE.env (NAME=VALUE, literals and SSM values) and
OUTDIR/SERVICE.secrets (NAME=parameter ARN) for `ecs deploy --env-file/--secrets-env-file`.
Credentials and endpoint come from the environment (AWS_ENDPOINT_URL, the emulator's keys).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3


def main() -> None:
    manifest, tenant, outdir = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    services = [s for s in map(json.loads, open(manifest)) if s["tenant"] == tenant]
    if not services:
        raise SystemExit(f"peer_env: no services of {tenant} in {manifest}")
    first = services[0]
    creds = boto3.client("sts", region_name=first["region"]).assume_role(
        RoleArn=f"arn:aws:iam::{first['account_id']}:role/stamp-deploy", RoleSessionName="bench-ecs-deploy"
    )["Credentials"]
    ssm = boto3.client(
        "ssm",
        region_name=first["region"],
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    outdir.mkdir(parents=True, exist_ok=True)
    for svc in services:
        env = dict(svc["env"])
        names = sorted(set(svc["ssm"].values()))
        values: dict[str, str] = {}
        for i in range(0, len(names), 10):
            resp = ssm.get_parameters(Names=names[i : i + 10])
            if resp["InvalidParameters"]:
                raise SystemExit(f"peer_env: missing parameters {resp['InvalidParameters']}")
            values.update({p["Name"]: p["Value"] for p in resp["Parameters"]})
        for var, name in svc["ssm"].items():
            env[var] = values[name]
        (outdir / f"{svc['ecs_service']}.env").write_text("".join(f"{k}={env[k]}\n" for k in sorted(env)))
        (outdir / f"{svc['ecs_service']}.secrets").write_text(
            "".join(f"{k}={v}\n" for k, v in sorted(svc["secrets"].items()))
        )


if __name__ == "__main__":
    main()
