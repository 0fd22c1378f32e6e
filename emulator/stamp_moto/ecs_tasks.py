"""One-off tasks (RunTask) that run, exit and log, patched into moto's ECS backend.

moto serves RunTask, DescribeTasks and StopTask, but its tasks walk a fixed state machine
(RUNNING → … → STOPPED over a few DescribeTasks) and every container reports exit code 0; no
output reaches CloudWatch Logs. `stamp run` and `before_deploy` read a container's exit code and
point at its awslogs stream, so tests need tasks that end the way AWS documents:

* A task started by RunTask (not by the service simulation in ecs_rollout.py) reads markers
  from the command override of its container: `exit=N` (the container's exit code, default 0)
  and `sleep=S` (seconds it runs, default 0). The first DescribeTasks always shows it RUNNING;
  the first one at least S seconds after RunTask shows it STOPPED (stopCode
  EssentialContainerExited, stoppedReason "Essential container in task exited") with that exit
  code on the container. Deterministic: nothing advances between calls.
* When it stops, one log event is put where the awslogs driver would write it: the container's
  `awslogs-group`, stream `PREFIX/CONTAINER/TASK-ID` (created if missing; the group must exist,
  as on AWS): `stamp_moto: ran <command> in <container>; exit code N`.
* StopTask stops it at once (stopCode UserInitiated, the caller's reason, exit code 143: the
  container got SIGTERM), and logs that too.
* RunTask of a Fargate task definition whose containers give no memory of their own (the task
  gives it, as the example templates do) works: moto adds the containers' memory up and fails
  on the missing value; here a container without one counts as 0, like its cpu.
* A service CloudFormation creates keeps its LaunchType, PlatformVersion, NetworkConfiguration
  and CapacityProviderStrategy (moto's resource drops them; DescribeServices on AWS returns
  them): a one-off task runs where the service's tasks run, read from DescribeServices.
* An ENI in a VPC without DNS hostnames has no private DNS name (moto's task start reads the
  attribute, which moto then never set).
* POST /stamp-control/fail-next-run-task {"account_id", "region", "cluster", "reason"}: the
  next RunTask in that cluster answers with no task and `failures: [{reason}]`, as ECS does
  when there is no capacity or a subnet is wrong (moto cannot produce those failures).
"""

from __future__ import annotations

import shlex
import threading
import time
from typing import Any

from moto.core.utils import utcnow
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ecs.models import EC2ContainerServiceBackend, Service, Task
from moto.ecs.responses import EC2ContainerServiceResponse

_LOCK = threading.RLock()
# (account, region, cluster name) -> reasons, one consumed by each next RunTask there.
_ARMED: dict[tuple[str, str, str], list[str]] = {}


class OneOffTask(Task):
    """A RunTask task: RUNNING until its `sleep` has passed, then STOPPED with its exit code."""

    def setup(self, backend: EC2ContainerServiceBackend, overrides: dict[str, Any]) -> None:
        td = backend.describe_task_definition(self.task_definition_arn)
        containers = td.container_definitions
        over = next((o for o in (overrides or {}).get("containerOverrides", []) or [] if o.get("command")), None)
        name = (over or {}).get("name") or containers[0].get("name")
        definition = next((c for c in containers if c.get("name") == name), containers[0])
        self.sim_command = list((over or {}).get("command") or definition.get("command") or [])
        self.sim_exit = 0
        self.sim_sleep = 0.0
        for word in self.sim_command:
            for part in str(word).split():
                key, _, value = part.partition("=")
                try:
                    if key == "exit":
                        self.sim_exit = int(value)
                    elif key == "sleep":
                        self.sim_sleep = float(value)
                except ValueError:
                    pass
        self.sim_status = "RUNNING"
        self.sim_started = time.monotonic()
        self.sim_described = False
        self.sim_definition = definition
        self.stop_code = None
        self.stopped_at = None
        self.started_at = utcnow()
        container = self.containers[0]
        container.name = definition.get("name")
        container.image = definition.get("image")
        container.last_status = "RUNNING"
        container.exitCode = None

    @property  # type: ignore[override]
    def status(self) -> str:
        return self.sim_status

    @status.setter
    def status(self, value: str) -> None:
        # moto's StopTask sets last_status = "STOPPED": see stop_task below for the rest.
        self.sim_status = value

    def advance(self) -> None:
        # moto calls this on every DescribeTasks of the task.
        with _LOCK:
            if self.sim_status == "STOPPED":
                return
            if not self.sim_described:
                self.sim_described = True
                return
            if time.monotonic() - self.sim_started >= self.sim_sleep:
                self.finish(self.sim_exit, "EssentialContainerExited", "Essential container in task exited")

    def finish(self, code: int, stop_code: str, reason: str) -> None:
        self.sim_status = "STOPPED"
        self.desired_status = "STOPPED"
        self.stop_code = stop_code
        self.stopped_reason = reason
        self.stopped_at = utcnow()
        container = self.containers[0]
        container.last_status = "STOPPED"
        container.exitCode = code
        self.log(f"stamp_moto: ran {shlex.join(str(w) for w in self.sim_command)} in {container.name}; exit code {code}")

    def log(self, message: str) -> None:
        options = (self.sim_definition.get("logConfiguration") or {}).get("options") or {}
        group, prefix = options.get("awslogs-group"), options.get("awslogs-stream-prefix")
        if (self.sim_definition.get("logConfiguration") or {}).get("logDriver") != "awslogs" or not group or not prefix:
            return
        from moto.logs.models import logs_backends

        region = options.get("awslogs-region") or self.region_name
        logs = logs_backends[self._account_id][region]
        if group not in logs.groups:
            return  # AWS would fail the task start; the preflight (stamp verify) reports it
        stream = f"{prefix}/{self.containers[0].name}/{self.id}"
        logs.ensure_log_stream(group, stream)
        logs.put_log_events(group, stream, [{"timestamp": int(time.time() * 1000), "message": message}])


_orig_requirements = EC2ContainerServiceBackend._calculate_task_resource_requirements
_orig_run_task = EC2ContainerServiceBackend.run_task
_orig_stop_task = EC2ContainerServiceBackend.stop_task
_orig_run_task_response = EC2ContainerServiceResponse.run_task


def _run_task(self: EC2ContainerServiceBackend, *args: Any, **kwargs: Any) -> list[Task]:
    tasks = _orig_run_task(self, *args, **kwargs)
    overrides = kwargs.get("overrides") if "overrides" in kwargs else (args[3] if len(args) > 3 else None)
    with _LOCK:
        for task in tasks:
            if type(task) is Task:
                task.__class__ = OneOffTask
                task.setup(self, overrides or {})
    return tasks


_orig_service_from_cfn = Service.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]
_orig_service_update_cfn = Service.update_from_cloudformation_json.__func__  # type: ignore[attr-defined]


def _keep_launch(service: Service, properties: dict[str, Any]) -> Service:
    if properties.get("LaunchType"):
        service.launch_type = properties["LaunchType"]
    if properties.get("PlatformVersion"):
        service.platform_version = properties["PlatformVersion"]
    vpc = (properties.get("NetworkConfiguration") or {}).get("AwsvpcConfiguration")
    if vpc:
        config = {"subnets": list(vpc.get("Subnets") or []), "securityGroups": list(vpc.get("SecurityGroups") or [])}
        if vpc.get("AssignPublicIp"):
            config["assignPublicIp"] = vpc["AssignPublicIp"]
        service.network_configuration = {"awsvpcConfiguration": config}
    strategy = properties.get("CapacityProviderStrategy")
    if strategy:
        service.capacity_provider_strategy = [
            {"capacityProvider": c["CapacityProvider"], "weight": int(c.get("Weight", 0)), "base": int(c.get("Base", 0))}
            for c in strategy
        ]
    return service


def _cfn_properties(args: tuple[Any, ...], kwargs: dict[str, Any], position: int) -> dict[str, Any]:
    # moto passes the template's resource as `cloudformation_json`, by keyword or position.
    json_ = kwargs.get("cloudformation_json", args[position] if len(args) > position else {})
    return (json_ or {}).get("Properties") or {}


def _service_from_cfn(cls: Any, *args: Any, **kwargs: Any) -> Service:
    service = _orig_service_from_cfn(cls, *args, **kwargs)
    return _keep_launch(service, _cfn_properties(args, kwargs, 1))


def _service_update_cfn(cls: Any, *args: Any, **kwargs: Any) -> Service:
    service = _orig_service_update_cfn(cls, *args, **kwargs)
    return _keep_launch(service, _cfn_properties(args, kwargs, 2))


def _requirements(task_definition: Any) -> Any:
    # A copy whose containers name a memory (0 where they give none): moto sums them.
    class Patched:
        def __init__(self, td: Any):
            self.container_definitions = [
                c if (c.get("memory") or c.get("memoryReservation") or c.get("Memory") or c.get("MemoryReservation"))
                else {**c, "memory": 0}
                for c in td.container_definitions
            ]

        def __getattr__(self, name: str) -> Any:
            return getattr(task_definition, name)

    return _orig_requirements(Patched(task_definition))


def _stop_task(self: EC2ContainerServiceBackend, cluster_str: str, task_str: str, reason: str) -> Task:
    with _LOCK:
        task = _orig_stop_task(self, cluster_str, task_str, reason)
        if isinstance(task, OneOffTask) and task.stop_code is None:
            task.finish(143, "UserInitiated", reason or "Task stopped by user")
        return task


def _run_task_response(self: EC2ContainerServiceResponse) -> Any:
    from moto.core.responses import ActionResult

    cluster = str(self._get_param("cluster", "default")).split("/")[-1]
    key = (self.current_account, self.region, cluster)
    with _LOCK:
        reasons = _ARMED.get(key)
        reason = reasons.pop(0) if reasons else None
        if reasons is not None and not reasons:
            del _ARMED[key]
    if reason is None:
        return _orig_run_task_response(self)
    arn = f"arn:aws:ecs:{self.region}:{self.current_account}:container-instance/{cluster}/none"
    return ActionResult({"tasks": [], "failures": [{"arn": arn, "reason": reason}]})


def arm_run_task_failure(account: str, region: str, cluster: str, reason: str, times: int = 1) -> None:
    with _LOCK:
        _ARMED[(account, region, cluster.split("/")[-1])] = [reason] * max(times, 1)


def reset() -> None:
    with _LOCK:
        _ARMED.clear()


def install() -> None:
    NetworkInterface.private_dns_name = None  # type: ignore[attr-defined]
    Service.create_from_cloudformation_json = classmethod(_service_from_cfn)  # type: ignore[method-assign,assignment]
    Service.update_from_cloudformation_json = classmethod(_service_update_cfn)  # type: ignore[method-assign,assignment]
    EC2ContainerServiceBackend._calculate_task_resource_requirements = staticmethod(_requirements)  # type: ignore[method-assign,assignment]
    EC2ContainerServiceBackend.run_task = _run_task  # type: ignore[method-assign]
    EC2ContainerServiceBackend.stop_task = _stop_task  # type: ignore[method-assign]
    EC2ContainerServiceResponse.run_task = _run_task_response  # type: ignore[method-assign]
