#!/usr/bin/python3
"""kafka-configs.sh stand-in (TEST STAND-IN ONLY): just what components/assets/kafka/scram-users.sh
runs, `kafka-configs.sh --zookeeper Z --alter --add-config 'SCRAM-SHA-256=[password=P]'
--entity-type users --entity-name N`, storing the SCRAM credential in ZooKeeper like Kafka 2.x."""

import argparse
import json
import re
import sys

sys.path.insert(0, "/standin")
import scram  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402

parser = argparse.ArgumentParser(prog="kafka-configs.sh")
parser.add_argument("--zookeeper", required=True)
parser.add_argument("--alter", action="store_true")
parser.add_argument("--add-config", required=True)
parser.add_argument("--entity-type", choices=["users"], required=True)
parser.add_argument("--entity-name", required=True)
args = parser.parse_args()

found = re.fullmatch(r"(SCRAM-SHA-(?:256|512))=\[password=([^],=\[]+)\]", args.add_config)
if not args.alter or not found:
    sys.exit("kafka-configs.sh stand-in: only --alter --add-config 'SCRAM-SHA-x=[password=...]' is supported")
mechanism, password = found.groups()
zk = KazooClient(hosts=args.zookeeper, timeout=10)
try:
    zk.start(timeout=15)
except Exception as err:  # kazoo raises its own timeout type
    sys.exit(f"kafka-configs.sh stand-in: cannot reach ZooKeeper at {args.zookeeper}: {err}")
path = scram.user_path(args.entity_name)
config = scram.parse_node(zk.get(path)[0]) if zk.exists(path) else {}
config[mechanism] = scram.credential(mechanism, password)
data = json.dumps({"version": 1, "config": config}).encode()
if zk.exists(path):
    zk.set(path, data)
else:
    zk.create(path, data, makepath=True)
zk.stop()
print(f"Completed updating config for entity: user-principal '{args.entity_name}'.")
