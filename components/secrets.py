"""Secrets: generates every credential the plan asks for, unless the stack supplies it.

Creates RandomPassword (passwords), RandomUuid + RandomPassword (`uuid:key` auth keys) and a TLS
private key with a self-signed certificate for the edge. Exposes `values`, a map from secret name
to a secret Output; nothing here is ever exported in plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from planner.model import SecretSpec, TlsPlan

CERT_VALIDITY_HOURS = 5 * 365 * 24
CERT_RENEWAL_HOURS = 30 * 24


@dataclass(frozen=True, kw_only=True)
class SecretsArgs:
    specs: tuple[SecretSpec, ...]
    """Every secret the plan uses, with its kind and rotation generation."""
    tls: TlsPlan | None
    """Subject of the self-signed edge certificate (used when no certificate is supplied)."""
    supplied: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secrets read from the stack config; these are not generated."""


class Secrets(pulumi.ComponentResource):
    values: dict[str, pulumi.Output[str]]
    """Secret name -> secret Output."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("openwhisk:components:Secrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.values = {}
        tls_key: tls.PrivateKey | None = None
        for spec in args.specs:
            if spec.name in args.supplied:
                self.values[spec.name] = pulumi.Output.secret(args.supplied[spec.name])
                continue
            keepers = {"generation": str(spec.generation)}
            if spec.kind == "password":
                self.values[spec.name] = pulumi.Output.secret(random.RandomPassword(
                    spec.name, length=32, special=False, keepers=keepers, opts=child).result)
            elif spec.kind == "auth":
                uuid = random.RandomUuid(f"{spec.name}-uuid", keepers=keepers, opts=child)
                key = random.RandomPassword(f"{spec.name}-key", length=64, special=False,
                                            keepers=keepers, opts=child)
                self.values[spec.name] = pulumi.Output.secret(
                    pulumi.Output.concat(uuid.result, ":", key.result))
            elif spec.kind == "tls_key":
                tls_key = tls.PrivateKey(spec.name, algorithm="ECDSA", ecdsa_curve="P256", opts=child)
                self.values[spec.name] = pulumi.Output.secret(tls_key.private_key_pem)
        for spec in args.specs:
            if spec.kind == "tls_cert" and spec.name not in args.supplied:
                if tls_key is None or args.tls is None:
                    raise ValueError("a generated certificate needs a generated key and a TLS plan")
                cert = tls.SelfSignedCert(
                    spec.name, private_key_pem=tls_key.private_key_pem,
                    subject=tls.SelfSignedCertSubjectArgs(
                        common_name=args.tls.common_name, organization="OpenWhisk"),
                    dns_names=list(args.tls.dns_names), ip_addresses=list(args.tls.ip_addresses),
                    validity_period_hours=CERT_VALIDITY_HOURS, early_renewal_hours=CERT_RENEWAL_HOURS,
                    allowed_uses=["key_encipherment", "digital_signature", "server_auth"],
                    opts=child)
                # Not confidential, but kept with its key so templates treat both alike.
                self.values[spec.name] = pulumi.Output.secret(cert.cert_pem)
        self.register_outputs({"names": sorted(self.values)})
