#!/usr/bin/env python3
"""The render benchmark's peer: what an in-house Python tool doing stamp's render job looks like.

    python render_py.py --root FLEET --out-dir DIR

tomllib + jinja2 + json, single process, no validation beyond what jinja2 and json do: load
tenants/_defaults.toml and every tenant file, layer `[tenant]`, services and `env` the way
stamp does for the features gen_fleet.py fleets use (literals, `{ ssm }`, `{ secret }`,
`{ cfn_output }`, `{ unset }`; `{tenant}`/`{account_id}`/`{region}` placeholders), render each
service's template, inject `environment` and `secrets` into every container sorted by name
(SSM values and stack outputs as offline placeholders, secrets as parameter ARNs, exactly as
`stamp render --offline` prints them) and write DIR/TENANT/SERVICE.json.

It is deliberately a plain, reasonable script (templates compiled once, defaults parsed once),
not a strawman. bench.py also imports `load_fleet` and `resolve_env` to derive the inputs of
the deploy peers and the plan call formula from the same fleet files.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from pathlib import Path
from typing import Any

import jinja2

TENANT_KEYS = ("region", "cluster", "account_id", "ring", "deploy_role", "inspect_role")
SERVICE_KEYS = ("template", "desired_count", "cpu", "memory", "ecs_service")


def substitute(value: str, name: str, account_id: str, region: str) -> str:
    return value.replace("{tenant}", name).replace("{account_id}", account_id).replace("{region}", region)


def parameter_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account_id}:parameter/{name.lstrip('/')}"


def load_tenant(defaults: dict[str, Any], name: str, doc: dict[str, Any]) -> dict[str, Any]:
    """One tenant with its services, every layer merged in stamp's order."""
    d_tenant, t_tenant = defaults.get("tenant", {}), doc.get("tenant", {})
    tenant = {k: t_tenant.get(k, d_tenant.get(k)) for k in TENANT_KEYS}
    account, region = str(tenant["account_id"]), tenant["region"]
    # A release in the tenant's own file pins it; otherwise --release, then _defaults.toml's.
    tenant.update(name=name, account_id=account, pinned_release=t_tenant.get("release"), default_release=d_tenant.get("release"))
    for k in ("cluster", "deploy_role", "inspect_role"):
        if tenant.get(k):
            tenant[k] = substitute(tenant[k], name, account, region)
    tenant["cluster"] = tenant["cluster"] or name
    tenant["vars"] = {**d_tenant.get("vars", {}), **t_tenant.get("vars", {})}
    d_services, t_services = defaults.get("services", {}), doc.get("services", {})
    services = []
    for sname in sorted(set(d_services) | set(t_services)):
        ds, ts = d_services.get(sname, {}), t_services.get(sname, {})
        svc = {k: ts.get(k, ds.get(k)) for k in SERVICE_KEYS}
        svc["name"] = sname
        svc["ecs_service"] = svc["ecs_service"] or sname
        svc["desired_count"] = int(svc["desired_count"] if svc["desired_count"] is not None else 1)
        svc["vars"] = {**d_tenant.get("vars", {}), **ds.get("vars", {}), **t_tenant.get("vars", {}), **ts.get("vars", {})}
        # Layers 2-5 of DESIGN's precedence; layer 1 (the template's own entries) joins at render.
        env: dict[str, Any] = {}
        for layer in (defaults.get("env", {}), ds.get("env", {}), doc.get("env", {}), ts.get("env", {})):
            env.update(layer)
        svc["env"] = env
        services.append(svc)
    tenant["services"] = services
    return tenant


def load_fleet(root: Path, only: list[str] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with open(root / "tenants" / "_defaults.toml", "rb") as f:
        defaults = tomllib.load(f)
    names = sorted(p.stem for p in (root / "tenants").glob("*.toml") if not p.name.startswith("_"))
    if only is not None:
        names = [n for n in names if n in set(only)]
    tenants = []
    for name in names:
        with open(root / "tenants" / f"{name}.toml", "rb") as f:
            tenants.append(load_tenant(defaults, name, tomllib.load(f)))
    return defaults, tenants


def resolve_env(tenant: dict[str, Any], svc: dict[str, Any]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(literal/placeholder environment, ssm name per variable, secret ARN per variable)."""
    name, account, region = tenant["name"], tenant["account_id"], tenant["region"]
    env: dict[str, str] = {}
    ssm: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for key, value in svc["env"].items():
        if isinstance(value, str):
            env[key] = substitute(value, name, account, region)
        elif "unset" in value:
            continue
        elif "secret" in value:
            secrets[key] = parameter_arn(region, account, substitute(value["secret"], name, account, region))
        elif "ssm" in value:
            selector = substitute(value["ssm"], name, account, region)
            if "version" in value:
                selector = f"{selector}:{value['version']}"
            ssm[key] = selector
            env[key] = f"<ssm:{selector}>"
        elif "cfn_output" in value:
            env[key] = f"<cfn_output:{substitute(value['cfn_output'], name, account, region)}>"
    return env, ssm, secrets


def render_service(
    templates: jinja2.Environment, project: dict[str, Any], tenant: dict[str, Any], svc: dict[str, Any], release: str
) -> dict[str, Any]:
    env, _ssm, secrets = resolve_env(tenant, svc)
    ctx = {
        "project": project,
        "tenant": {**{k: tenant[k] for k in ("name", "account_id", "region", "cluster", "ring", "vars")}, "instance": ""},
        "service": {k: svc[k] for k in ("name", "cpu", "memory", "desired_count", "vars")},
        "release": release,
        "image": f"{project['image']}:{release}",
        "env": env,
        "secrets": secrets,
    }
    td = json.loads(templates.get_template(svc["template"]).render(**ctx))
    for container in td.get("containerDefinitions", []):
        merged = {e["name"]: e["value"] for e in container.get("environment", [])}
        merged.update(env)
        for key in secrets:
            merged.pop(key, None)
        container["environment"] = [{"name": k, "value": merged[k]} for k in sorted(merged)]
        if secrets:
            container["secrets"] = [{"name": k, "valueFrom": secrets[k]} for k in sorted(secrets)]
    return td


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, type=Path)
    ap.add_argument("--out-dir", required=True, type=Path)
    ap.add_argument("--release", help="release for tenants that do not pin one")
    args = ap.parse_args()
    defaults, tenants = load_fleet(args.root)
    project = defaults.get("project", {})
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(args.root / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    for tenant in tenants:
        release = tenant["pinned_release"] or args.release or tenant["default_release"]
        out = args.out_dir / tenant["name"]
        os.makedirs(out, exist_ok=True)
        for svc in tenant["services"]:
            td = render_service(templates, project, tenant, svc, release)
            with open(out / f"{svc['name']}.json", "w") as f:
                json.dump(td, f, indent=2)
                f.write("\n")
    print(json.dumps({"out_dir": str(args.out_dir), "files": sum(len(t["services"]) for t in tenants)}))


if __name__ == "__main__":
    main()
