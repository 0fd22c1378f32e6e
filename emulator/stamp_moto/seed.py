"""Seed a moto server with a stamp fleet: one AWS account per tenant.

    python -m stamp_moto.seed --endpoint URL --fleet DIR --params FILE [--tenants a,b] [--no-services]

For every tenant, working inside the tenant's own account (moto places the resources of an
assumed role in the account named in the role ARN):

* IAM roles stamp-deploy (everything) and stamp-readonly (Describe/List/Get only), trusting
  the base account 123456789012;
* in the project's ECR registry (`[project] image`, when it is an ECR repository of the base
  account): the repository, a policy letting every account read it, and an image for the seed
  release, every release the tenant files name and each of --image-tags;
* the account's SSM parameters from PARAMS (gen_fleet format; an optional "history" list is
  written first, so the final value is version len(history)+1);
* unless --no-services: the ECS cluster, and per service a first task definition revision
  rendered from the fleet's template (release v0.0.0-seed) and a Fargate service running it,
  polled until its rollout is COMPLETED, plus what that definition names in the tenant's account
  (its roles, its awslogs log groups), as the fleet's infrastructure stack would create. With --no-services an account has only what exists
  before the application does (stamp's roles, the SSM parameters): the demo's
  `stamp infra apply` builds the rest from the fleet's `[infra.app]` stack.

Idempotent: a parameter or service that already exists is left alone. Prints a JSON summary
(tenant -> account, region, cluster, services) on stdout and progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import jinja2
from botocore.config import Config
from botocore.exceptions import ClientError

BASE_ACCOUNT = "123456789012"
SEED_RELEASE = "v0.0.0-seed"
READONLY_ACTIONS = [
    "ecs:Describe*",
    "ecs:List*",
    "ssm:Describe*",
    "ssm:Get*",
    "ssm:List*",
    "cloudformation:Describe*",
    "cloudformation:List*",
    "cloudformation:Get*",
    "sts:GetCallerIdentity",
    # stamp verify / deploy's preflight, Secrets Manager metadata, autoscaled services.
    "ecr:DescribeImages",
    "iam:GetRole",
    "logs:DescribeLogGroups",
    "secretsmanager:DescribeSecret",
    # health gates: the state of a service's alarms.
    "cloudwatch:DescribeAlarms",
    "application-autoscaling:DescribeScalableTargets",
]
# What a tenant account may do in the project's registry (the repository policy): read images.
REGISTRY_READ_ACTIONS = ["ecr:DescribeImages", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
# A minimal, valid image manifest: the registry only needs something to tag.
IMAGE_MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2, "digest": "sha256:" + "0" * 64},
        "layers": [],
    }
)
TENANT_KEYS = ("region", "cluster", "account_id", "ring", "release")
SERVICE_KEYS = ("template", "desired_count", "cpu", "memory", "ecs_service")

# Retries would hide harness bugs and slow failures down; the server is local.
BOTO_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=4)


def policy(actions: list[str] | str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})


def trust_policy() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{BASE_ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def substitute(value: str, tenant: str, account_id: str, region: str) -> str:
    return value.replace("{tenant}", tenant).replace("{account_id}", account_id).replace("{region}", region)


def load_fleet(fleet: Path, only: list[str] | None) -> list[dict[str, Any]]:
    """The subset of the DSL the seeding needs: tenant identity, services, template vars."""
    with open(fleet / "tenants" / "_defaults.toml", "rb") as f:
        defaults = tomllib.load(f)
    names = sorted(p.stem for p in (fleet / "tenants").glob("*.toml") if not p.name.startswith("_"))
    if only:
        missing = sorted(set(only) - set(names))
        if missing:
            raise SystemExit(f"seed: unknown tenants {missing}; the fleet has {names}")
        names = [n for n in names if n in only]
    d_tenant = defaults.get("tenant", {})
    d_services = defaults.get("services", {})
    out = []
    for name in names:
        with open(fleet / "tenants" / f"{name}.toml", "rb") as f:
            doc = tomllib.load(f)
        t_tenant = doc.get("tenant", {})
        t_services = doc.get("services", {})
        ident = {k: t_tenant.get(k, d_tenant.get(k)) for k in TENANT_KEYS}
        if not ident["account_id"] or not ident["region"]:
            raise SystemExit(f"seed: tenant {name} has no account_id/region")
        account, region = str(ident["account_id"]), ident["region"]
        ident["cluster"] = substitute(ident.get("cluster") or f"{name}", name, account, region)
        tenant_vars = {**d_tenant.get("vars", {}), **t_tenant.get("vars", {})}
        services = []
        for sname in sorted(set(d_services) | set(t_services)):
            ds, ts = d_services.get(sname, {}), t_services.get(sname, {})
            svc = {k: ts.get(k, ds.get(k)) for k in SERVICE_KEYS}
            svc["name"] = sname
            svc["ecs_service"] = svc["ecs_service"] or sname
            svc["desired_count"] = int(svc["desired_count"] if svc["desired_count"] is not None else 1)
            # Defaults' tenant vars < defaults' service vars < tenant's vars < tenant's service vars.
            svc["vars"] = {**d_tenant.get("vars", {}), **ds.get("vars", {}), **t_tenant.get("vars", {}), **ts.get("vars", {})}
            services.append(svc)
        out.append(
            {
                "name": name,
                "account_id": account,
                "region": region,
                "cluster": ident["cluster"],
                "ring": ident.get("ring"),
                "release": ident.get("release"),
                "vars": tenant_vars,
                "services": services,
                "project": defaults.get("project", {}),
            }
        )
    return out


def render(env: jinja2.Environment, tenant: dict[str, Any], svc: dict[str, Any]) -> dict[str, Any]:
    project = tenant["project"]
    ctx = {
        "project": project,
        "tenant": {k: tenant[k] for k in ("name", "account_id", "region", "cluster", "ring", "vars")},
        "service": {k: svc[k] for k in ("name", "cpu", "memory", "desired_count", "vars")},
        "release": SEED_RELEASE,
        "image": f"{project.get('image', 'stamp-seed')}:{SEED_RELEASE}",
        "env": {},
        "secrets": {},
    }
    text = env.get_template(svc["template"]).render(**ctx)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"seed: template {svc['template']} for {tenant['name']}/{svc['name']} is not JSON: {exc}")


class Seeder:
    def __init__(self, endpoint: str, fleet: Path, params: dict[str, Any], services: bool):
        self.endpoint = endpoint
        self.params = params
        self.services = services
        self.jinja = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(fleet / "templates")),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self._local = threading.local()
        self.calls = 0
        self._calls_lock = threading.Lock()

    def session(self) -> boto3.session.Session:
        # One session per worker thread (sessions are not thread-safe), shared by all the
        # accounts that thread seeds: a session caches the parsed service models, and loading
        # them again for each tenant's clients dominated the seeding time.
        if not hasattr(self._local, "session"):
            self._local.session = boto3.session.Session()
        return self._local.session

    def base_sts(self) -> Any:
        if not hasattr(self._local, "sts"):
            self._local.sts = self.session().client(
                "sts",
                endpoint_url=self.endpoint,
                region_name="us-east-1",
                config=BOTO_CONFIG,
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "AKIASTAMPSEED"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "stamp-seed"),
                aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
            )
        return self._local.sts

    def credentials_for(self, account: str) -> dict[str, str]:
        creds = self.base_sts().assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/stamp-deploy", RoleSessionName="stamp-seed"
        )["Credentials"]
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }

    def seed_tenant(self, tenant: dict[str, Any]) -> dict[str, Any]:
        account, region = tenant["account_id"], tenant["region"]
        # One AssumeRole per account; every client of this tenant reuses the credentials.
        creds = self.credentials_for(account)

        def client(name: str) -> Any:
            return self.session().client(
                name, endpoint_url=self.endpoint, region_name=region, config=BOTO_CONFIG, **creds
            )

        iam, ssm = client("iam"), client("ssm")
        for role, actions in (("stamp-deploy", "*"), ("stamp-readonly", READONLY_ACTIONS)):
            try:
                iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust_policy())
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "EntityAlreadyExists":
                    raise
            iam.put_role_policy(RoleName=role, PolicyName=f"{role}-policy", PolicyDocument=policy(actions))

        nparams = 0
        for name, spec in sorted(self.params.get(account, {}).items()):
            values = [*spec.get("history", []), spec["value"]]
            try:
                ssm.put_parameter(Name=name, Type=spec["type"], Value=values[0], Overwrite=False)
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "ParameterAlreadyExists":
                    continue  # seeded earlier; keep its versions as they are
                raise
            for v in values[1:]:
                ssm.put_parameter(Name=name, Type=spec["type"], Value=v, Overwrite=True)
            nparams += 1

        summary: dict[str, Any] = {
            "account_id": account,
            "region": region,
            "cluster": tenant["cluster"],
            "parameters": nparams,
            "services": {},
        }
        if not self.services:
            return summary
        ecs = client("ecs")
        ecs.create_cluster(clusterName=tenant["cluster"])
        ec2 = client("ec2")
        subnets = [
            s["SubnetId"]
            for s in ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
        ]
        # moto validates both (and needs securityGroups present); real Fargate services have them too.
        groups = [
            g["GroupId"]
            for g in ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])[
                "SecurityGroups"
            ]
        ][:1]
        existing = {
            s["serviceName"]
            for s in ecs.describe_services(
                cluster=tenant["cluster"], services=[s["ecs_service"] for s in tenant["services"]][:10]
            )["services"]
            if s["status"] == "ACTIVE"
        } if tenant["services"] else set()
        for svc in tenant["services"]:
            if svc["ecs_service"] in existing:
                continue
            td = render(self.jinja, tenant, svc)
            self.dependencies(iam, client("logs"), tenant, td)
            arn = ecs.register_task_definition(**td)["taskDefinition"]["taskDefinitionArn"]
            ecs.create_service(
                cluster=tenant["cluster"],
                serviceName=svc["ecs_service"],
                taskDefinition=arn,
                desiredCount=svc["desired_count"],
                launchType="FARGATE",
                networkConfiguration={
                    "awsvpcConfiguration": {"subnets": subnets, "securityGroups": groups, "assignPublicIp": "DISABLED"}
                },
                deploymentConfiguration={
                    "deploymentCircuitBreaker": {"enable": True, "rollback": False},
                    "maximumPercent": 200,
                    "minimumHealthyPercent": 100,
                },
                tags=[{"key": "stamp:tenant", "value": tenant["name"]}, {"key": "stamp:release", "value": SEED_RELEASE}],
            )
            summary["services"][svc["name"]] = {"ecs_service": svc["ecs_service"], "task_definition": arn}
        self.settle(ecs, tenant["cluster"], [s["ecs_service"] for s in tenant["services"]])
        return summary

    @staticmethod
    def dependencies(iam: Any, logs: Any, tenant: dict[str, Any], td: dict[str, Any]) -> None:
        """The roles and log groups a rendered definition names in the tenant's own account."""
        prefix = f"arn:aws:iam::{tenant['account_id']}:role/"
        for arn in (td.get("executionRoleArn"), td.get("taskRoleArn")):
            if arn and arn.startswith(prefix):
                try:
                    iam.create_role(RoleName=arn[len(prefix):].split("/")[-1], AssumeRolePolicyDocument=trust_policy())
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "EntityAlreadyExists":
                        raise
        for c in td.get("containerDefinitions", []):
            log = c.get("logConfiguration") or {}
            group = (log.get("options") or {}).get("awslogs-group")
            if log.get("logDriver") == "awslogs" and group:
                try:
                    logs.create_log_group(logGroupName=group)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
                        raise

    def seed_images(self, tenants: list[dict[str, Any]], extra_tags: list[str]) -> int:
        """The project's repository in the base account's registry, readable by every account."""
        if not tenants:
            return 0
        image = str(tenants[0]["project"].get("image", ""))
        host, _, repo = image.partition("/")
        parts = host.split(".")
        if len(parts) < 6 or parts[1:3] != ["dkr", "ecr"] or parts[0] != BASE_ACCOUNT or not repo:
            return 0
        ecr = self.session().client(
            "ecr",
            endpoint_url=self.endpoint,
            region_name=parts[3],
            config=BOTO_CONFIG,
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "AKIASTAMPSEED"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "stamp-seed"),
            aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        )
        try:
            ecr.create_repository(repositoryName=repo)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "RepositoryAlreadyExistsException":
                raise
        ecr.set_repository_policy(
            repositoryName=repo,
            policyText=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Sid": "tenants", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": REGISTRY_READ_ACTIONS}],
                }
            ),
        )
        tags = {SEED_RELEASE, *extra_tags, *(t["release"] for t in tenants if t.get("release"))}
        for tag in sorted(tags):
            try:
                ecr.put_image(repositoryName=repo, imageManifest=IMAGE_MANIFEST, imageTag=tag)
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ImageAlreadyExistsException":
                    raise
        return len(tags)

    @staticmethod
    def settle(ecs: Any, cluster: str, names: list[str]) -> None:
        """Poll (each DescribeServices advances the simulated rollout) until all are COMPLETED."""
        pending = list(names)
        for _ in range(20):
            if not pending:
                return
            still = []
            for i in range(0, len(pending), 10):
                for s in ecs.describe_services(cluster=cluster, services=pending[i : i + 10])["services"]:
                    primary = next(d for d in s["deployments"] if d["status"] == "PRIMARY")
                    if primary["rolloutState"] != "COMPLETED" or s["runningCount"] != s["desiredCount"]:
                        still.append(s["serviceName"])
            pending = still
        raise SystemExit(f"seed: services {pending} in {cluster} did not settle")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--fleet", required=True, type=Path, help="folder holding tenants/ and templates/")
    ap.add_argument("--params", required=True, type=Path, help="gen_fleet params.json")
    ap.add_argument("--tenants", help="comma-separated subset")
    ap.add_argument("--no-services", action="store_true", help="roles and parameters only: no cluster, no services")
    ap.add_argument("--image-tags", default="", help="comma-separated extra tags to push to the project's repository")
    ap.add_argument("--workers", type=int, default=4, help="tenants seeded concurrently")
    args = ap.parse_args(argv)
    if not args.endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        raise SystemExit(f"seed: refusing non-local endpoint {args.endpoint}")

    started = time.monotonic()
    tenants = load_fleet(args.fleet, args.tenants.split(",") if args.tenants else None)
    params = json.loads(args.params.read_text())
    seeder = Seeder(args.endpoint, args.fleet, params, not args.no_services)
    nimages = seeder.seed_images(tenants, [t for t in args.image_tags.split(",") if t])
    results: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for tenant, summary in zip(tenants, pool.map(seeder.seed_tenant, tenants)):
            results[tenant["name"]] = summary
    elapsed = time.monotonic() - started
    nparams = sum(r["parameters"] for r in results.values())
    nsvc = sum(len(r["services"]) for r in results.values())
    print(
        f"seed: {len(results)} tenants, {nparams} parameters, {nsvc} services, {nimages} image tags in {elapsed:.1f}s",
        file=sys.stderr,
    )
    json.dump(results, sys.stdout, indent=1, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
