#!/usr/bin/env bash
# The deploy benchmark's first peer: a loop of fabfuel's ecs-deploy, service by service.
#
#   bench/deploy_ecs_deploy.sh MANIFEST WORKDIR
#
# MANIFEST has one JSON object per line and service (written by bench.py from the fleet files):
# tenant, account_id, region, cluster, ecs_service, container, release, env (literals), ssm
# (variable -> parameter name), secrets (variable -> parameter ARN). Per tenant, peer_env.py
# resolves the SSM values into env files (ecs-deploy cannot); per service, `ecs deploy` assumes
# the tenant's deploy role, sets the image tag, the whole environment and the secrets, registers
# the new revision, updates the service and waits for the rollout (its own wait: every
# --sleep-time seconds DescribeServices, then ListTasks + DescribeTasks until the desired count
# runs the new task definition). Everything else is ecs-deploy's default (it deregisters the
# previous revision). The emulator's endpoint and base keys come from the environment.
set -euo pipefail

MANIFEST="$1"
WORK="$2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${BENCH_PYTHON:-python3}"
ECS="${BENCH_ECS:-ecs}"
mkdir -p "$WORK"

last_tenant=""
while IFS=$'\t' read -r tenant account region cluster service container release; do
    if [[ "$tenant" != "$last_tenant" ]]; then
        "$PY" "$HERE/peer_env.py" "$MANIFEST" "$tenant" "$WORK/$tenant"
        last_tenant="$tenant"
    fi
    "$ECS" deploy "$cluster" "$service" \
        --tag "$release" \
        --env-file "$container" "$WORK/$tenant/$service.env" --exclusive-env \
        --secrets-env-file "$container" "$WORK/$tenant/$service.secrets" --exclusive-secrets \
        --account "$account" --assume-role stamp-deploy --region "$region" \
        --timeout 600 --sleep-time 1 >>"$WORK/ecs-deploy.log" 2>&1 ||
        { echo "ecs-deploy failed for $tenant/$service (see $WORK/ecs-deploy.log)" >&2; exit 1; }
done < <(jq -r '[.tenant, .account_id, .region, .cluster, .ecs_service, .container, .release] | @tsv' "$MANIFEST")
