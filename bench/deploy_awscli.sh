#!/usr/bin/env bash
# The deploy benchmark's second peer: the AWS CLI script teams write by hand, service by service.
#
#   bench/deploy_awscli.sh MANIFEST WORKDIR
#
# MANIFEST: one JSON object per line and service (see deploy_ecs_deploy.sh). Per tenant:
# sts assume-role into the deploy role. Per service: ssm get-parameters (10 names a call) for
# the plain SSM values, ecs describe-services for the running task definition,
# ecs describe-task-definition, jq to set the image, the whole environment and the secrets,
# ecs register-task-definition, ecs update-service, then a poll loop on describe-services every
# second until the new deployment is COMPLETED with the desired count running (what
# `aws ecs wait services-stable` checks, but it polls every 15 s and cannot be told otherwise
# in CLI v1; every tool in the benchmark polls once a second). The endpoint and base keys come
# from the environment.
set -euo pipefail

MANIFEST="$1"
WORK="$2"
AWS="${BENCH_AWS:-aws}"
TIMEOUT=600
mkdir -p "$WORK"

base_key="$AWS_ACCESS_KEY_ID" base_secret="$AWS_SECRET_ACCESS_KEY"
last_tenant=""
while IFS= read -r line; do
    tenant="$(jq -r .tenant <<<"$line")"
    account="$(jq -r .account_id <<<"$line")"
    cluster="$(jq -r .cluster <<<"$line")"
    service="$(jq -r .ecs_service <<<"$line")"
    export AWS_DEFAULT_REGION="$(jq -r .region <<<"$line")"

    if [[ "$tenant" != "$last_tenant" ]]; then
        creds="$(AWS_ACCESS_KEY_ID="$base_key" AWS_SECRET_ACCESS_KEY="$base_secret" AWS_SESSION_TOKEN='' \
            "$AWS" sts assume-role --role-arn "arn:aws:iam::$account:role/stamp-deploy" \
            --role-session-name bench-awscli --query Credentials --output json)"
        export AWS_ACCESS_KEY_ID="$(jq -r .AccessKeyId <<<"$creds")"
        export AWS_SECRET_ACCESS_KEY="$(jq -r .SecretAccessKey <<<"$creds")"
        export AWS_SESSION_TOKEN="$(jq -r .SessionToken <<<"$creds")"
        last_tenant="$tenant"
    fi

    # Plain SSM values, 10 names a call.
    values='{}'
    mapfile -t names < <(jq -r '.ssm | [.[]] | unique | .[]' <<<"$line")
    for ((i = 0; i < ${#names[@]}; i += 10)); do
        got="$("$AWS" ssm get-parameters --names "${names[@]:i:10}" --output json)"
        if [[ "$(jq '.InvalidParameters | length' <<<"$got")" != 0 ]]; then
            echo "missing parameters for $tenant/$service: $(jq -c .InvalidParameters <<<"$got")" >&2
            exit 1
        fi
        values="$(jq -c --argjson v "$values" '$v + (.Parameters | map({(.Name): .Value}) | add)' <<<"$got")"
    done

    current="$("$AWS" ecs describe-services --cluster "$cluster" --services "$service" \
        --query 'services[0].taskDefinition' --output text)"
    "$AWS" ecs describe-task-definition --task-definition "$current" --query taskDefinition --output json \
        >"$WORK/current.json"
    jq --argjson m "$line" --argjson values "$values" '
        ($m.env + ($m.ssm | map_values($values[.]))) as $env
        | del(.taskDefinitionArn, .revision, .status, .requiresAttributes, .compatibilities,
              .registeredAt, .registeredBy, .deregisteredAt)
        | .containerDefinitions |= map(
            if .name == $m.container then
                .image = ((.image | sub(":[^:/]*$"; "")) + ":" + $m.release)
                | .environment = ($env | to_entries | sort_by(.key) | map({name: .key, value: .value}))
                | .secrets = ($m.secrets | to_entries | sort_by(.key) | map({name: .key, valueFrom: .value}))
            else . end)' "$WORK/current.json" >"$WORK/new.json"
    new="$("$AWS" ecs register-task-definition --cli-input-json "file://$WORK/new.json" \
        --query taskDefinition.taskDefinitionArn --output text)"
    "$AWS" ecs update-service --cluster "$cluster" --service "$service" --task-definition "$new" \
        --query service.serviceName --output text >/dev/null

    deadline=$((SECONDS + TIMEOUT))
    while :; do
        state="$("$AWS" ecs describe-services --cluster "$cluster" --services "$service" --output json |
            jq -r --arg td "$new" '.services[0] as $s
                | ($s.deployments[] | select(.status == "PRIMARY")) as $p
                | if $p.taskDefinition != $td then "replaced"
                  elif $p.rolloutState == "FAILED" then "failed"
                  elif $p.rolloutState == "COMPLETED" and $p.runningCount == $s.desiredCount then "done"
                  else "waiting" end')"
        case "$state" in
            done) break ;;
            failed | replaced) echo "$tenant/$service: rollout $state" >&2; exit 1 ;;
        esac
        ((SECONDS < deadline)) || { echo "$tenant/$service: rollout timed out" >&2; exit 1; }
        sleep 1
    done
    echo "$tenant/$service deployed $new" >>"$WORK/awscli.log"
done <"$MANIFEST"
