"""Filter ``ec2_api``: the region and endpoint through which a run calls the EC2 API, worked out by one rule.

The hosts were found through the EC2 inventory file, so the API calls about
them go where that file points (the lab's moto, or AWS). Every play and role
that calls EC2 for a host asks this filter instead of re-deriving it:

* region: the role's own setting, else the host's placement (the inventory's
  ``placement.region``), else the inventory file's first ``regions:`` entry,
  else ``AWS_REGION``, else ``AWS_DEFAULT_REGION``;
* endpoint: the role's own setting, else the inventory file's ``endpoint_url``,
  else ``AWS_ENDPOINT_URL``, else '' (AWS's own).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from ansible.errors import AnsibleFilterError

EC2_INVENTORY = re.compile(r"aws_ec2\.ya?ml$")


def inventory_file(sources: Any) -> str:
    """The first EC2 inventory file among the run's inventory sources, or ''."""
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence):
        raise AnsibleFilterError(f"ec2_api: expected ansible_inventory_sources (a list), got {sources!r}")
    return next((str(source) for source in sources if EC2_INVENTORY.search(str(source))), "")


def ec2_api(
    sources: Any,
    region: str = "",
    endpoint_url: str = "",
    host_region: str = "",
    environment: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """{'source', 'region', 'endpoint_url', 'tag_filters'}; '' where nothing says (the caller names the fix).

    Filters run in the controller's ansible-playbook process: environment
    defaults to its environment, as lookup('env') would read it.
    """
    environment = os.environ if environment is None else environment
    source = inventory_file(sources)
    config: dict[str, Any] = {}
    if source:
        try:
            config = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise AnsibleFilterError(f"ec2_api: cannot read the EC2 inventory file {source}: {err}") from err
    regions = config.get("regions") or [""]
    filters = config.get("filters") or {}
    region = (
        region
        or host_region
        or str(regions[0])
        or environment.get("AWS_REGION", "")
        or environment.get("AWS_DEFAULT_REGION", "")
    )
    endpoint_url = endpoint_url or str(config.get("endpoint_url") or "") or environment.get("AWS_ENDPOINT_URL", "")
    return {
        "source": source,
        "region": region,
        "endpoint_url": endpoint_url,
        "tag_filters": {key: value for key, value in filters.items() if str(key).startswith("tag:")},
    }


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"ec2_api": ec2_api}
