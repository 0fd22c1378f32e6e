"""DescribeParameters page size as AWS documents it.

moto 5.2.5 answers DescribeParameters 10 parameters a page whatever MaxResults says; AWS honours
MaxResults up to 50. stamp asks for 50 so that checking k secrets costs ceil(k/50) calls, and the
call-budget tests and benchmarks must see the AWS behaviour, not moto's shortcut. This replaces
only the page size; filtering and everything else is moto's own.
"""
from __future__ import annotations

from typing import Any

AWS_MAX_RESULTS = 50
AWS_DEFAULT_MAX_RESULTS = 10


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.ssm.responses import SimpleSystemManagerResponse

    def describe_parameters(self: Any) -> Any:
        page_size = self._get_int_param("MaxResults") or AWS_DEFAULT_MAX_RESULTS
        page_size = max(1, min(page_size, AWS_MAX_RESULTS))
        token = self._get_param("NextToken")
        if hasattr(token, "strip"):
            token = token.strip()
        start = int(token) if token else 0
        result = self.ssm_backend.describe_parameters(self._get_param("Filters"), self._get_param("ParameterFilters"))
        page = result[start : start + page_size]
        response: dict[str, Any] = {"Parameters": [p.describe_response_object(False) for p in page]}
        if start + page_size < len(result):
            response["NextToken"] = str(start + page_size)
        return ActionResult(response)

    SimpleSystemManagerResponse.describe_parameters = describe_parameters
