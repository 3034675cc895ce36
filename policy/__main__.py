"""The OpenWhisk policy pack. The CLI runs this file (`pulumi preview --policy-pack policy`).

Constructing PolicyPack starts the analyzer's gRPC server and blocks, so nothing may import this
module; the policies live in policies.py, which the tests import.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from policies import POLICIES

PolicyPack(name="openwhisk", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)
