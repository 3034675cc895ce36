"""Secrets: generates every credential the plan asks for, unless the stack supplies it.

Creates RandomPassword (passwords, and their bcrypt hash for htpasswd files), RandomUuid +
RandomPassword (`uuid:key` auth keys), TLS private keys, CA certificates and certificates that are
self-signed or signed by a planned CA. Exposes `values`, a map from secret name to a secret Output;
nothing here is ever exported in plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from planner.kafka import cluster_id
from planner.model import SecretSpec

CERT_VALIDITY_HOURS = 5 * 365 * 24
CERT_RENEWAL_HOURS = 30 * 24
SERVER_USES = ["key_encipherment", "digital_signature", "server_auth"]
CA_USES = ["cert_signing", "crl_signing", "digital_signature"]


def _uses(spec: SecretSpec) -> list[str]:
    if spec.kind == "ca_cert":
        return CA_USES
    return SERVER_USES + ["client_auth"] if spec.client_auth else SERVER_USES


@dataclass(frozen=True, kw_only=True)
class SecretsArgs:
    specs: tuple[SecretSpec, ...]
    """Every secret the plan uses, in dependency order (keys before the certificates they back)."""
    supplied: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secrets read from the stack config; these are not generated."""
    stack: str = "openwhisk"
    """The stack's name, which `cluster_id` specs are derived from."""


class Secrets(pulumi.ComponentResource):
    values: dict[str, pulumi.Output[str]]
    """Secret name -> secret Output."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:Secrets", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)
        self._stack = args.stack
        self._passwords: dict[str, random.RandomPassword] = {}
        self._cas: dict[str, tuple[tls.SelfSignedCert, str]] = {}
        """CA certificate name -> (certificate, name of its key)."""
        self.values = {}
        for spec in args.specs:
            if spec.name in args.supplied:
                value = args.supplied[spec.name]
            else:
                value = self._generate(spec)
            # Certificates are not confidential, but keeping them with their keys means every
            # template that mixes the two is treated alike.
            self.values[spec.name] = pulumi.Output.secret(value)
        self.register_outputs({"names": sorted(self.values)})

    def _generate(self, spec: SecretSpec) -> pulumi.Input[str]:
        keepers = {"generation": str(spec.generation)}
        if spec.kind == "password":
            pw = random.RandomPassword(spec.name, length=32, special=False, keepers=keepers,
                                       opts=self._child)
            self._passwords[spec.name] = pw
            return pw.result
        if spec.kind == "auth":
            uuid = random.RandomUuid(f"{spec.name}-uuid", keepers=keepers, opts=self._child)
            key = random.RandomPassword(f"{spec.name}-key", length=64, special=False,
                                        keepers=keepers, opts=self._child)
            return pulumi.Output.concat(uuid.result, ":", key.result)
        if spec.kind == "cluster_id":
            return cluster_id(self._stack)
        if spec.kind == "htpasswd":
            return pulumi.Output.concat(spec.user, ":", self._passwords[spec.source].bcrypt_hash)
        if spec.kind == "tls_key":
            # A key has no keepers; the generation replaces it through the engine instead (a
            # trigger that was never set replaces nothing, so existing keys stay).
            return tls.PrivateKey(spec.name, algorithm="ECDSA", ecdsa_curve="P256",
                                  opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(
                                      replacement_trigger=str(spec.generation)))).private_key_pem
        assert spec.tls is not None and spec.key is not None, spec
        subject = tls.SelfSignedCertSubjectArgs(common_name=spec.tls.common_name,
                                                organization="OpenWhisk")
        if spec.kind == "ca_cert" or spec.ca is None:
            cert = tls.SelfSignedCert(
                spec.name, private_key_pem=self.values[spec.key], subject=subject,
                dns_names=list(spec.tls.dns_names), ip_addresses=list(spec.tls.ip_addresses),
                is_ca_certificate=spec.kind == "ca_cert" or None,
                validity_period_hours=CERT_VALIDITY_HOURS, early_renewal_hours=CERT_RENEWAL_HOURS,
                allowed_uses=_uses(spec), opts=self._child)
            if spec.kind == "ca_cert":
                self._cas[spec.name] = (cert, spec.key)
            return cert.cert_pem
        request = tls.CertRequest(
            spec.name, private_key_pem=self.values[spec.key],
            subject=tls.CertRequestSubjectArgs(common_name=spec.tls.common_name,
                                               organization="OpenWhisk"),
            dns_names=list(spec.tls.dns_names), ip_addresses=list(spec.tls.ip_addresses),
            opts=self._child)
        ca, ca_key = self._cas[spec.ca]
        return tls.LocallySignedCert(
            spec.name, cert_request_pem=request.cert_request_pem, ca_cert_pem=ca.cert_pem,
            ca_private_key_pem=self.values[ca_key], validity_period_hours=CERT_VALIDITY_HOURS,
            early_renewal_hours=CERT_RENEWAL_HOURS, allowed_uses=_uses(spec),
            opts=self._child).cert_pem

