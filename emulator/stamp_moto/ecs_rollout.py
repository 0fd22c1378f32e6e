"""ECS rollout simulation patched into moto's ECS backend.

moto stores services but never rolls a deployment forward: after UpdateService the old
deployment stays PRIMARY/IN_PROGRESS forever and no task ever runs. stamp's apply step waits
for rollouts and rolls back failed ones, so tests need deployments that move. This module
wraps three backend methods (create_service, update_service, describe_services) and keeps
the rest of moto untouched:

* CreateService, or UpdateService with a different task definition (or forceNewDeployment),
  starts a rollout: a new PRIMARY deployment (IN_PROGRESS, runningCount 0); the previous
  PRIMARY becomes ACTIVE and keeps its tasks.
* Every DescribeServices that returns the service advances its rollout one step: the new
  deployment's runningCount climbs to desiredCount (half per poll), then the deployment turns
  COMPLETED, older deployments are drained (removed) and a steady-state event is added.
* A rollout fails when an image of the new task definition ends in "-broken", or when
  arm_failure() was called for that service: after one poll with failed tasks it turns FAILED
  with a circuit-breaker reason; its runningCount stays 0 and the previous deployment keeps
  running until the client rolls back (stamp does that itself; no automatic rollback here).
* With the service's deploymentConfiguration.deploymentCircuitBreaker {enable, rollback} both
  true, a rollout that turns FAILED is rolled back by "ECS" itself, as AWS documents: in the same
  poll, a new PRIMARY deployment of the last completed deployment's task definition starts
  (rolloutStateReason "ECS deployment circuit breaker: rolling back to deploymentId ID."), the
  failed one stays listed (ACTIVE, FAILED) until the rollback completes, and the service's
  taskDefinition is the old one again.
* arm_hang() makes the next rollout stay IN_PROGRESS forever (timeout tests).
* arm_alarm() sets a CloudWatch alarm of the service's account to ALARM when the service's next
  rollout starts (UpdateService): a health gate test with no race against the client's polls.
* Both take `times` (default 1): the next `times` rollouts of the service fail (or hang), so
  a client's rollback (itself a rollout) fails too: the "needs a human" case.
* UpdateService that only changes desiredCount keeps the PRIMARY deployment and its
  rolloutState; runningCount converges over the next polls, like a real scale-out.
* Tasks, as ECS's service scheduler keeps them: every task a deployment counts as running is a
  task record (group `service:NAME`, startedBy the deployment id, lastStatus RUNNING, the
  deployment's task definition) that ListTasks (filtered by serviceName, and by default only
  desiredStatus RUNNING, as AWS does) and DescribeTasks return. Draining a deployment or scaling
  in stops its tasks (lastStatus and desiredStatus STOPPED, with a stoppedReason); the tasks of a
  failing rollout are recorded as STOPPED. Tools that wait by counting running tasks of the new
  task definition (fabfuel's ecs-deploy) therefore see a rollout finish as on ECS.

Also fixed, because the real API does it and stamp reads it back:
* UpdateService stores the task definition as a full ARN (moto keeps `family:rev` as given).
* CreateService keeps deploymentConfiguration (moto drops it).
"""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task
from moto.ecs.responses import EC2ContainerServiceResponse

CIRCUIT_BREAKER_REASON = "ECS deployment circuit breaker: tasks failed to start."

# One lock for all rollout state: moto's server is threaded and a DescribeServices poll may
# race an UpdateService of the same service.
_LOCK = threading.RLock()
# (account, region, cluster name, service name) -> reasons, one consumed by each next rollout.
_ARMED_FAILURES: dict[tuple[str, str, str, str], list[str]] = {}
# The same key -> how many of the next rollouts hang.
_ARMED_HANGS: dict[tuple[str, str, str, str], int] = {}
# The same key -> alarm names set to ALARM when the next rollout starts.
_ARMED_ALARMS: dict[tuple[str, str, str, str], list[str]] = {}
# Deployment id -> simulation state. Kept beside the deployment dicts so that moto's response
# serializer never sees keys that are not in the ECS API.
_STATE: dict[str, dict[str, Any]] = {}
# Deployment id -> its tasks that are not stopped yet, oldest first.
_TASKS: dict[str, list["ServiceTask"]] = {}


class ServiceTask(Task):
    """A task the simulated service scheduler started.

    moto's own tasks run a state machine that moves one step towards STOPPED on every
    DescribeTasks; a service's task runs until the scheduler stops it, so the status here is
    set by the simulation only.
    """

    def __init__(self, backend: EC2ContainerServiceBackend, service: Service, deployment: dict[str, Any]):
        td = backend.describe_task_definition(deployment["taskDefinition"])
        cluster = backend._get_cluster(service.cluster_name)
        super().__init__(
            cluster,
            td,
            container_instance_arn=None,
            resource_requirements=None,
            backend=backend,
            group=f"service:{service.name}",
            launch_type=service.launch_type or "",
            started_by=deployment["id"],
            networking_configuration=service.network_configuration or None,
            platform_version=service.platform_version,
        )
        self.sim_status = "RUNNING"
        backend.tasks.setdefault(cluster.name, {})[self.task_arn] = self

    @property  # type: ignore[override]
    def status(self) -> str:
        return self.sim_status

    @status.setter
    def status(self, value: str) -> None:
        self.sim_status = value

    def advance(self) -> None:
        pass  # no per-describe progression: see the class docstring

    def stop(self, reason: str) -> None:
        self.sim_status = "STOPPED"
        self.desired_status = "STOPPED"
        self.stopped_reason = reason


def _can_run_tasks(backend: EC2ContainerServiceBackend, service: Service, deployment: dict[str, Any]) -> bool:
    # A task of an awsvpc task definition needs the service's subnets (moto gives it an ENI);
    # real ECS refuses such a service without them, moto does not, so skip the task records.
    td = backend.describe_task_definition(deployment["taskDefinition"])
    return td.network_mode != "awsvpc" or bool((service.network_configuration or {}).get("awsvpcConfiguration"))


def _start_tasks(backend: EC2ContainerServiceBackend, service: Service, deployment: dict[str, Any], n: int) -> None:
    if n <= 0 or not deployment.get("taskDefinition") or not _can_run_tasks(backend, service, deployment):
        return
    tasks = _TASKS.setdefault(deployment["id"], [])
    for _ in range(n):
        tasks.append(ServiceTask(backend, service, deployment))


def _stop_tasks(deployment_id: str, n: int | None, reason: str) -> None:
    """Stop n of the deployment's tasks (newest first, as a scale-in does), or all of them."""
    tasks = _TASKS.get(deployment_id, [])
    count = len(tasks) if n is None else min(n, len(tasks))
    for _ in range(count):
        tasks.pop().stop(reason)
    if not tasks:
        _TASKS.pop(deployment_id, None)


def _record_failed_tasks(backend: EC2ContainerServiceBackend, service: Service, deployment: dict[str, Any], n: int) -> None:
    if n <= 0 or not deployment.get("taskDefinition") or not _can_run_tasks(backend, service, deployment):
        return
    for _ in range(n):
        ServiceTask(backend, service, deployment).stop("Essential container in task exited")


def _key(account: str, region: str, cluster: str, service: str) -> tuple[str, str, str, str]:
    # Clients may pass ARNs; real ECS accepts both, so the arms do too.
    return (account, region, cluster.split("/")[-1], service.split("/")[-1])


def arm_failure(
    account: str, region: str, cluster: str, service: str, reason: str | None, times: int = 1
) -> None:
    with _LOCK:
        _ARMED_FAILURES[_key(account, region, cluster, service)] = [reason or CIRCUIT_BREAKER_REASON] * max(times, 1)


def arm_hang(account: str, region: str, cluster: str, service: str, times: int = 1) -> None:
    with _LOCK:
        _ARMED_HANGS[_key(account, region, cluster, service)] = max(times, 1)


def arm_alarm(account: str, region: str, cluster: str, service: str, alarm: str) -> None:
    with _LOCK:
        _ARMED_ALARMS.setdefault(_key(account, region, cluster, service), []).append(alarm)


def _fire_alarms(backend: EC2ContainerServiceBackend, key: tuple[str, str, str, str]) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    for name in _ARMED_ALARMS.pop(key, []):
        cloudwatch_backends[backend.account_id][backend.region_name].set_alarm_state(
            name, "Threshold Crossed: the rollout's new tasks answer 5xx", None, "ALARM"
        )


def _take_failure(key: tuple[str, str, str, str]) -> str | None:
    reasons = _ARMED_FAILURES.get(key)
    if not reasons:
        return None
    reason = reasons.pop(0)
    if not reasons:
        del _ARMED_FAILURES[key]
    return reason


def _take_hang(key: tuple[str, str, str, str]) -> bool:
    left = _ARMED_HANGS.get(key, 0)
    if left <= 0:
        return False
    if left == 1:
        del _ARMED_HANGS[key]
    else:
        _ARMED_HANGS[key] = left - 1
    return True


def reset() -> None:
    """Forget armed failures/hangs (called on /moto-api/reset, which wipes the services)."""
    with _LOCK:
        _ARMED_FAILURES.clear()
        _ARMED_HANGS.clear()
        _ARMED_ALARMS.clear()
        _STATE.clear()
        _TASKS.clear()


def _new_deployment_id() -> str:
    return f"ecs-svc/{uuid.uuid4().int % 10**19:019d}"


def _add_event(service: Service, message: str) -> None:
    # Real ECS lists events newest first.
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": utcnow(), "message": message})
    del service.events[100:]


def _broken_images(backend: EC2ContainerServiceBackend, task_definition_arn: str | None) -> list[str]:
    if not task_definition_arn:
        return []
    td = backend.describe_task_definition(task_definition_arn)
    return [c.get("image", "") for c in td.container_definitions if str(c.get("image", "")).endswith("-broken")]


def _start_rollout(
    backend: EC2ContainerServiceBackend,
    service: Service,
    template: dict[str, Any] | None,
    rollback_of: dict[str, Any] | None = None,
) -> None:
    """Make a new PRIMARY deployment for service.task_definition; demote the old PRIMARY.

    `rollback_of`: the circuit breaker's own rollback of that (failed) deployment, which stays
    listed until the rollback completes; no armed failure, hang or alarm applies to it.
    """
    if service.deployment_controller.get("type", "ECS") != "ECS":
        return  # CODE_DEPLOY / EXTERNAL services are driven by task sets; leave moto's behaviour.
    key = _key(backend.account_id, backend.region_name, service.cluster_name, service.name)
    fail_reason, hang = None, False
    if rollback_of is None:
        fail_reason = _take_failure(key)
        broken = _broken_images(backend, service.task_definition)
        if broken and fail_reason is None:
            fail_reason = CIRCUIT_BREAKER_REASON
        hang = _take_hang(key)
        _fire_alarms(backend, key)

    for d in service.deployments:
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"
            d["updatedAt"] = utcnow()
    # ACTIVE deployments with nothing running would never drain in a real cluster either.
    service.deployments = [d for d in service.deployments if d["runningCount"] > 0 or d is rollback_of]

    now = utcnow()
    dep_id = _new_deployment_id()
    base = dict(template or {})
    base.update(
        {
            "id": dep_id,
            "status": "PRIMARY",
            "taskDefinition": service.task_definition,
            "desiredCount": service.desired_count,
            "pendingCount": 0,
            "runningCount": 0,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "launchType": service.launch_type,
            "platformVersion": service.platform_version,
            "networkConfiguration": service.network_configuration or None,
            "rolloutState": "IN_PROGRESS",
            "rolloutStateReason": (
                f"ECS deployment circuit breaker: rolling back to deploymentId {rollback_of['id']}."
                if rollback_of is not None
                else "ECS deployment detected."
            ),
        }
    )
    _STATE[dep_id] = {"fail_reason": fail_reason, "hang": hang, "polls": 0, "settled": False}
    service.deployments.insert(0, base)
    _refresh_counts(service)


def _refresh_counts(service: Service) -> None:
    running = sum(d["runningCount"] for d in service.deployments)
    service.running_count = running
    primary = _primary(service)
    service.pending_count = primary["pendingCount"] if primary else 0


def _primary(service: Service) -> dict[str, Any] | None:
    for d in service.deployments:
        if d["status"] == "PRIMARY":
            return d
    return None


def _advance(backend: EC2ContainerServiceBackend, service: Service) -> None:
    """One poll's worth of progress for the service's PRIMARY deployment."""
    primary = _primary(service)
    if primary is None:
        return
    state = _STATE.setdefault(primary["id"], {"fail_reason": None, "hang": False, "polls": 0, "settled": False})
    desired = service.desired_count
    primary["desiredCount"] = desired
    if primary["rolloutState"] == "FAILED":
        return
    if state["hang"]:
        primary["pendingCount"] = desired
        _refresh_counts(service)
        return
    state["polls"] += 1

    if state["fail_reason"] is not None:
        primary["updatedAt"] = utcnow()
        if state["polls"] == 1:
            # First poll: tasks are launched and die, as a circuit breaker would observe them.
            primary["failedTasks"] += max(desired, 1)
            primary["pendingCount"] = desired
            _record_failed_tasks(backend, service, primary, max(desired, 1))
        else:
            primary["rolloutState"] = "FAILED"
            primary["rolloutStateReason"] = state["fail_reason"]
            primary["pendingCount"] = 0
            primary["runningCount"] = 0
            _add_event(
                service,
                f"(service {service.name}) (deployment {primary['id']}) deployment failed: tasks failed to start.",
            )
            _circuit_breaker_rollback(backend, service, primary)
        _refresh_counts(service)
        return

    running = primary["runningCount"]
    if running != desired:
        # Half the gap per poll (at least one task); the poll that reaches desiredCount reports
        # it, the next one settles, so a rollout of 2 tasks takes 3 polls.
        gap = abs(desired - running)
        step = max(1, math.ceil(gap / 2)) if gap > 1 else gap
        if desired > running:
            _start_tasks(backend, service, primary, step)
            running += step
        else:
            _stop_tasks(primary["id"], step, f"Scaling activity initiated by (deployment {primary['id']})")
            running -= step
        primary["runningCount"] = running
        primary["pendingCount"] = max(desired - running, 0)
        primary["updatedAt"] = utcnow()
        state["settled"] = False
        _refresh_counts(service)
        return
    if state["settled"]:
        return
    if primary["rolloutState"] == "IN_PROGRESS":
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
    primary["pendingCount"] = 0
    primary["updatedAt"] = utcnow()
    for d in service.deployments:
        if d is not primary:
            _STATE.pop(d["id"], None)
            _stop_tasks(d["id"], None, f"Scaling activity initiated by (deployment {primary['id']})")
    service.deployments = [primary]  # older deployments drained
    state["settled"] = True
    _refresh_counts(service)
    _add_event(service, f"(service {service.name}) has reached a steady state.")


def _circuit_breaker_rollback(backend: EC2ContainerServiceBackend, service: Service, failed: dict[str, Any]) -> None:
    """With the breaker's rollback on, back to the newest other deployment still running."""
    breaker = (getattr(service, "deployment_configuration", None) or {}).get("deploymentCircuitBreaker") or {}
    if not (breaker.get("enable") and breaker.get("rollback")):
        return
    previous = next((d for d in service.deployments if d is not failed and d["runningCount"] > 0), None)
    if previous is None:
        return  # AWS rolls back only to a deployment that completed; there is none
    service.task_definition = previous["taskDefinition"]
    _add_event(service, f"(service {service.name}) rolling back to deployment {previous['id']}.")
    _start_rollout(backend, service, None, rollback_of=failed)


_orig_create_service = EC2ContainerServiceBackend.create_service
_orig_update_service = EC2ContainerServiceBackend.update_service
_orig_describe_services = EC2ContainerServiceBackend.describe_services
_orig_create_service_response = EC2ContainerServiceResponse.create_service
_orig_list_tasks = EC2ContainerServiceBackend.list_tasks


def _create_service(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> Service:
    service = _orig_create_service(self, *args, **kwargs)
    with _LOCK:
        template = service.deployments[0] if service.deployments else None
        service.deployments = []
        if template is not None:
            template = {k: v for k, v in template.items() if k not in ("status", "rolloutState")}
        _start_rollout(self, service, template)
    return service


def _update_service(self: EC2ContainerServiceBackend, service_properties: dict[str, Any]) -> Service:
    cluster = service_properties.get("cluster", "default")
    name = str(service_properties.get("service", "")).split("/")[-1]
    force = bool(service_properties.get("force_new_deployment", False))
    td_given = bool(service_properties.get("task_definition"))
    with _LOCK:
        before = self._get_service(cluster, name)
        old_td = before.task_definition
        old_primary = _primary(before)
        # Re-applying a task definition over a FAILED deployment is how a client retries or rolls
        # back onto the same revision; without a new deployment the service would stay FAILED.
        retry = td_given and old_primary is not None and old_primary["rolloutState"] == "FAILED"
        # moto's forceNewDeployment renames the current deployment in place; the simulation
        # starts a real new one below, and the old one must keep its id (its tasks hang off it).
        identities = [(d["id"], d.get("createdAt")) for d in before.deployments]
        service = _orig_update_service(self, service_properties)
        for d, (dep_id, created) in zip(service.deployments, identities):
            d["id"], d["createdAt"] = dep_id, created
        if service.task_definition and ":task-definition/" not in service.task_definition:
            # Real ECS always answers with the full ARN, whatever form the request used.
            service.task_definition = self.describe_task_definition(service.task_definition).arn
        if service.task_definition != old_td or force or retry:
            _start_rollout(self, service, None)
        else:
            primary = _primary(service)
            if primary is not None:
                primary["desiredCount"] = service.desired_count
                primary["pendingCount"] = max(service.desired_count - primary["runningCount"], 0)
                primary["updatedAt"] = utcnow()
                _STATE.setdefault(primary["id"], {"fail_reason": None, "hang": False, "polls": 0})["settled"] = False
            _refresh_counts(service)
    return service


def _describe_services(self: EC2ContainerServiceBackend, cluster_str: str, names: list[str]) -> Any:
    services, failures = _orig_describe_services(self, cluster_str, names)
    with _LOCK:
        for service in services:
            _advance(self, service)
    return services, failures


def _list_tasks(
    self: EC2ContainerServiceBackend,
    cluster_str: str | None = None,
    container_instance: str | None = None,
    family: str | None = None,
    started_by: str | None = None,
    service_name: str | None = None,
    desiredStatus: str | None = None,
) -> list[Task]:
    # AWS lists only tasks whose desired status is RUNNING unless asked for STOPPED ones, and
    # filters by service (moto ignores serviceName: its services never start tasks).
    tasks = _orig_list_tasks(self, cluster_str, container_instance, family, started_by, None, desiredStatus or "RUNNING")
    if service_name:
        group = f"service:{service_name.split('/')[-1]}"
        tasks = [t for t in tasks if t.group == group]
    return tasks


def _create_service_response(self: EC2ContainerServiceResponse) -> Any:
    result = _orig_create_service_response(self)
    config = self._get_param("deploymentConfiguration")
    if config is not None:
        service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
        service.deployment_configuration = config
    return result


def install() -> None:
    EC2ContainerServiceBackend.create_service = _create_service  # type: ignore[method-assign]
    EC2ContainerServiceBackend.update_service = _update_service  # type: ignore[method-assign]
    EC2ContainerServiceBackend.describe_services = _describe_services  # type: ignore[method-assign]
    EC2ContainerServiceBackend.list_tasks = _list_tasks  # type: ignore[method-assign]
    EC2ContainerServiceResponse.create_service = _create_service_response  # type: ignore[method-assign]
