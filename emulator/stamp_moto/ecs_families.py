"""ListTaskDefinitionFamilies as AWS documents it.

moto 5.2.5 lists every family it ever registered, ignores `status`, and keeps listing a family
whose revisions were all deleted. AWS lists a family only while it has revisions: ACTIVE when
one of them is ACTIVE, INACTIVE when all of them are, ALL either way (the default); once
DeleteTaskDefinitions removed its last revision, the family is gone. `stamp down` deletes every
revision of a tenant's families, and its test lists the families to show none is left.
Filtering by `familyPrefix` and paging stay moto's own (moto does not page this call).
"""
from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.ecs.responses import EC2ContainerServiceResponse

    def list_task_definition_families(self: Any) -> Any:
        prefix = self._get_param("familyPrefix")
        status = self._get_param("status") or "ALL"
        families = []
        for family in self.ecs_backend.list_task_definition_families(prefix):
            revisions = self.ecs_backend.task_definitions.get(family, {}).values()
            statuses = {td.status for td in revisions}
            if not statuses:
                continue
            if status == "ACTIVE" and "ACTIVE" not in statuses:
                continue
            if status == "INACTIVE" and "ACTIVE" in statuses:
                continue
            families.append(family)
        return ActionResult({"families": families})

    EC2ContainerServiceResponse.list_task_definition_families = list_task_definition_families
