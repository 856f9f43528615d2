"""Create the resources template.yaml declares, on whatever endpoint a boto3 session points at.

The template is the only list of resources: each one is created from its own properties, in
dependency order, with intrinsic functions resolved by :mod:`leak_sandbox.template` against
the values the earlier resources returned. Every resource type the project uses is mapped
explicitly, property by property. A type or a property that is not mapped is a
:class:`ProvisioningError` naming it, never a silent skip, so a template change either reaches
the sandbox or stops it loudly.

Serverless functions and layers are not created: they run locally (the sandbox invokes the
handlers in-process). They are recorded as :class:`LocalFunction` with their resolved
environment (Globals merged) and event sources, so the sandbox wires them as Lambda would.

Usable in-process too::

    with mock_aws():
        provisioned = provision(TEMPLATE, boto3.Session(region_name="us-east-1"))
        provisioned.url("LeakQueue"), provisioned.name("IncidentsTable")

The modules: :mod:`.core` runs a provisioning, :mod:`.ordering` decides the order,
:mod:`.creators` creates CloudFormation's types and :mod:`.sam` SAM's (and what SAM generates),
:mod:`.context` is what each creator is handed, :mod:`.results` what the caller gets back.
"""

from leak_sandbox.provisioner.core import MAPPED_TYPES, provision
from leak_sandbox.provisioner.results import LocalFunction, Provisioned, ProvisioningError
from leak_sandbox.template import PSEUDO_PARAMETERS

__all__ = [
    "MAPPED_TYPES",
    "PSEUDO_PARAMETERS",
    "LocalFunction",
    "Provisioned",
    "ProvisioningError",
    "provision",
]
