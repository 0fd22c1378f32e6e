"""ExecuteChangeSet finished the way AWS finishes it, patched into moto's CloudFormation backend.

moto 5.2.5 executes a change set synchronously and leaves two gaps stamp's `infra apply` reads
across (its own source says "TODO: handle execution errors and implement rollback"):

* A resource that fails to create or update makes ExecuteChangeSet itself answer the resource
  service's error (or an HTTP 500), and the stack stays half-made in REVIEW_IN_PROGRESS with
  no failure event. On AWS, ExecuteChangeSet succeeds; the failure shows in the stack: a
  `CREATE_FAILED`/`UPDATE_FAILED` event on the resource with the service's message as its
  status reason, then the stack rolls back to `ROLLBACK_COMPLETE` (a create) or
  `UPDATE_ROLLBACK_COMPLETE` (an update). This module does that. The failure itself is moto's
  own: a property moto's resource model rejects (an SQS queue name with a space, a log group
  that already exists), never an injected one.
* The stack's outputs are computed from the template the stack object was made with (empty
  for a CREATE change set) and never again, so a stack created by a change set shows no
  outputs and an updated one keeps the old set. AWS recomputes them; here they are recomputed
  after every execution.

Everything else (parsing, resources, change-set bookkeeping) is moto's own.
"""

from __future__ import annotations

from typing import Any

# The exception's `stamp_failed` attribute: which resource raised, set where moto creates or
# updates a resource, read where the change set's execution fails.
_ATTR = "stamp_failed"


def _reason(exc: BaseException) -> str:
    # moto's service errors carry `message`; anything else (a KeyError deep in a model) is
    # reported by its text, as AWS reports an internal failure.
    return str(getattr(exc, "message", None) or exc or type(exc).__name__)


def install() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.models import CloudFormationBackend, Event

    def tagging(original: Any, action: str) -> Any:
        def wrapper(logical_id: str, resource_json: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            try:
                return original(logical_id, resource_json, *args, **kwargs)
            except Exception as exc:
                if not hasattr(exc, _ATTR):
                    setattr(exc, _ATTR, (logical_id, str(resource_json.get("Type", "")), action))
                raise

        return wrapper

    # ResourceMap calls these through the module's globals, so replacing them there is enough.
    parsing.parse_and_create_resource = tagging(parsing.parse_and_create_resource, "CREATE")
    parsing.parse_and_update_resource = tagging(parsing.parse_and_update_resource, "UPDATE")

    original_execute = CloudFormationBackend.execute_change_set

    def find_change_set(backend: Any, change_set_name: str) -> Any:
        if change_set_name in backend.change_sets:
            return backend.change_sets[change_set_name]
        for cs in backend.change_sets.values():
            if cs.change_set_name == change_set_name:
                return cs
        return None

    def resource_event(stack: Any, logical_id: str, rtype: str, status: str, reason: str | None) -> None:
        stack.events.append(
            Event(
                stack_id=stack.stack_id,
                stack_name=stack.name,
                logical_resource_id=logical_id,
                physical_resource_id="",
                resource_type=rtype,
                resource_status=status,
                resource_status_reason=reason,
                resource_properties=None,
            )
        )

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = find_change_set(self, change_set_name)
        try:
            original_execute(self, change_set_name, stack_name)
        except Exception as exc:
            if change_set is None:
                raise  # moto's own "no such change set" answer
            stack = change_set.stack
            create = change_set.change_set_type == "CREATE"
            logical_id, rtype, action = getattr(exc, _ATTR, (stack.name, "AWS::CloudFormation::Stack", ""))
            verb = "create" if (action or change_set.change_set_type) == "CREATE" else "update"
            resource_event(stack, logical_id, rtype, f"{verb.upper()}_FAILED", _reason(exc))
            if create:
                stack._add_stack_event(
                    "ROLLBACK_IN_PROGRESS",
                    resource_status_reason=(
                        f"The following resource(s) failed to {verb}: [{logical_id}]. Rollback requested by user."
                    ),
                )
                # AWS deletes what the failed create made; moto's delete is best effort here.
                try:
                    stack.resource_map.delete()
                except Exception:
                    pass
                stack._add_stack_event("ROLLBACK_COMPLETE")
                stack.status = "ROLLBACK_COMPLETE"
            else:
                stack._add_stack_event(
                    "UPDATE_ROLLBACK_IN_PROGRESS",
                    resource_status_reason=f"The following resource(s) failed to {verb}: [{logical_id}].",
                )
                # The stack keeps its previous template and parameters (moto set neither).
                stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
                stack.status = "UPDATE_ROLLBACK_COMPLETE"
            change_set.execution_status = "EXECUTE_FAILED"
            return
        if change_set is not None:
            stack = change_set.stack
            # A CREATE change set's stack was made with an empty template: parse the one that
            # was just executed, then compute the outputs from the resources as they are now.
            stack._parse_template()
            stack.output_map = stack._create_output_map()

    CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
