#!/usr/bin/python3
"""kafka-configs.sh stand-in (TEST STAND-IN ONLY), installed as /opt/kafka/bin/kafka-configs.sh.

Just what the deployment's SCRAM step runs against a KRaft cluster:

    kafka-configs.sh --bootstrap-server host:port[,host:port] --command-config FILE --alter
        --add-config-file FILE --entity-type users --entity-name NAME

The command config is the admin client's properties (security.protocol PLAINTEXT or
SASL_PLAINTEXT, sasl.mechanism, sasl.jaas.config with username/password); the add-config file holds
`SCRAM-SHA-256=[password=...]` or `SCRAM-SHA-512=[iterations=N,password=...]` lines. Like Kafka's
admin client it computes the salted credential here and sends only that, authenticated, to the
first broker that answers (the stand-in's line-JSON op alter-user-scram); the broker has the
controller quorum store it. Passwords come from the files only, never from the command line."""

import argparse
import re
import sys

sys.path.insert(0, "/standin")
import scram  # noqa: E402
from standin import Bus, BusError  # noqa: E402


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # Kafka's tools print the problem and exit 1
        self.print_usage(sys.stderr)
        sys.exit(f"kafka-configs.sh: {message}")


def properties(path: str, what: str) -> list[tuple[str, str]]:
    """A Java properties file's key/value pairs (comments, `=` or `:`, `\\` continuations)."""
    try:
        text = open(path).read()
    except OSError as err:
        sys.exit(f"kafka-configs.sh: cannot read the {what} {path}: {err.strerror}")
    out = []
    for line in re.sub(r"\\\n\s*", "", text).splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        found = re.match(r"([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if not found:
            sys.exit(f"kafka-configs.sh: cannot parse a line of the {what} {path}")
        out.append((found[1], found[2]))
    return out


def main() -> int:
    parser = Parser(prog="kafka-configs.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--command-config", required=True)
    parser.add_argument("--alter", action="store_true", required=True)
    parser.add_argument("--add-config-file", required=True)
    parser.add_argument("--entity-type", choices=["users"], required=True)
    parser.add_argument("--entity-name", required=True)
    args = parser.parse_args()

    client = dict(properties(args.command_config, "command config"))
    protocol = client.get("security.protocol", "PLAINTEXT")
    if protocol not in ("PLAINTEXT", "SASL_PLAINTEXT"):
        sys.exit(f"kafka-configs.sh: security.protocol {protocol}: the stand-in speaks PLAINTEXT "
                 "and SASL_PLAINTEXT only")
    env = {"CONFIG_whisk_kafka_common_securityProtocol": protocol}
    if protocol == "SASL_PLAINTEXT":
        jaas = client.get("sasl.jaas.config", "")
        if not re.search(r"LoginModule\s+required\b.*username=.*password=", jaas):
            sys.exit("kafka-configs.sh: the command config's sasl.jaas.config has no login module "
                     "with username and password")
        env["CONFIG_whisk_kafka_common_saslJaasConfig"] = jaas
        env["CONFIG_whisk_kafka_common_saslMechanism"] = client.get("sasl.mechanism", "GSSAPI")

    changes = []
    for key, value in properties(args.add_config_file, "add-config file"):
        found = re.fullmatch(r"\[(.*)\]", value.strip())
        if key not in scram.HASHES or not found:
            sys.exit(f"kafka-configs.sh: the stand-in supports only SCRAM-SHA-256/512=[...] entries, "
                     f"not {key}")
        fields = dict(part.split("=", 1) for part in found[1].split(",") if "=" in part)
        if set(fields) - {"password", "iterations"} or not fields.get("password"):
            sys.exit(f"kafka-configs.sh: {key} needs [password=...] or [iterations=N,password=...]")
        iterations = fields.get("iterations", str(scram.ITERATIONS))
        if not iterations.isdigit():
            sys.exit(f"kafka-configs.sh: {key}: iterations must be a number")
        changes.append((key, scram.credential(key, fields["password"], int(iterations))))
    if not changes:
        sys.exit(f"kafka-configs.sh: the add-config file {args.add_config_file} holds no config")

    try:
        bus = Bus(args.bootstrap_server, env)
    except ValueError:
        sys.exit(f"kafka-configs.sh: --bootstrap-server {args.bootstrap_server}: expected "
                 "host:port[,host:port...]")
    for mechanism, credential in changes:
        try:
            bus.call("alter-user-scram", timeout=15, user=args.entity_name, mechanism=mechanism,
                     credential=credential)
        except (BusError, OSError, ValueError) as err:
            print(f"Error while executing config command with args '{' '.join(sys.argv[1:])}'\n"
                  f"java.util.concurrent.ExecutionException: {err}", file=sys.stderr)
            return 1
    print(f"Completed updating config for user {args.entity_name}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
