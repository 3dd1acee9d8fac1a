#!/usr/bin/env python3
"""Writes the bench/ scenarios: larger incidents than examples/, for
`haven simulate FILE --compare classic` and docs/PERFORMANCE.md.

Run from the repository root: python3 bench/generate.py
"""

NETWORKS = """
[[network]]
name = "Mgmt"
control = true
authority = true

[[network]]
name = "Private"
migration = true

[[network]]
name = "Corp"
"""


def node(name, memory_mb, corp_uplink="eth1", bond=False):
    corp = ('{ name = "bond0", network = "Corp", members = ["eth3", "eth4"] }'
            if bond else '{ name = "eth1", network = "Corp" }')
    uplink = "bond0" if bond else corp_uplink
    return f"""
[[node]]
name = "{name}"
memory_mb = {memory_mb}
nics = [
  {{ name = "eth0", network = "Mgmt" }},
  {corp},
  {{ name = "eth2", network = "Private" }},
]
switches = [ {{ name = "Corp", uplink = "{uplink}" }} ]
"""


def vm(name, node_name, memory_mb, mac, priority="medium"):
    return f"""
[[vm]]
name = "{name}"
node = "{node_name}"
memory_mb = {memory_mb}
priority = "{priority}"
adapters = [ {{ switch = "Corp", mac = "{mac:012X}" }} ]
"""


def step(at, action, node_name, nic=None):
    text = f'\n[[step]]\nat = "{at}"\naction = "{action}"\nnode = "{node_name}"\n'
    if nic:
        text += f'nic = "{nic}"\n'
    return text


def single_nic():
    s = """# One NIC pulled on a node with 40 small VMs (128 MB each), limit 2 per
# node: haven detects at once and drains the node two at a time; the classic
# profile notices each VM only at its next 60 s poll.
name = "single-nic-40-vms"

[settings]
max_concurrent_migrations = 2
""" + NETWORKS
    for n in ["A", "B", "C", "D"]:
        s += node(n, 65536)
    for i in range(40):
        s += vm(f"vm{i:02d}", "A", 128, 0x00155D100000 + i)
    return s + step("10s", "link_down", "A", "eth1")


def tor_failure():
    s = """# A top-of-rack switch fails: the Corp uplinks of 4 of 16 nodes go down at
# the same instant. 10 VMs of 2 GB on each node; 12 healthy nodes receive
# the 40 impaired VMs, each node in at most 2 migrations at once.
name = "tor-failure-16-nodes"

[settings]
max_concurrent_migrations = 2
""" + NETWORKS
    nodes = [f"n{i:02d}" for i in range(1, 17)]
    for n in nodes:
        s += node(n, 65536)
    count = 0
    for n in nodes:
        for i in range(10):
            prio = "high" if i == 0 else "medium"
            s += vm(f"{n}-vm{i}", n, 2048, 0x00155D200000 + count, prio)
            count += 1
    s += "\n# The rack of n01..n04 loses its switch.\n"
    for n in nodes[:4]:
        s += step("10s", "link_down", n, "eth1")
    return s


def flapping():
    s = """# A flapping link: A's Corp port goes down and up every 700 ms for 30 s,
# then stays up. haven (no hold-down, its default) moves the VMs off the bad
# link two at a time, cancelling queued moves each time the link is briefly
# back (H6); the classic profile acts on whatever its 60 s polls happen to
# see. With `hold_down_ms = 2000` haven would move nothing: a hold-down
# ignores blips, and a link that never stays down 2 s is never acted on.
name = "flapping-link"

[settings]
max_concurrent_migrations = 2
hold_down_ms = 0
""" + NETWORKS
    for n in ["A", "B", "C"]:
        s += node(n, 65536)
    for i in range(10):
        s += vm(f"vm{i}", "A", 2048, 0x00155D300000 + i)
    t = 10_000
    while t < 40_000:
        s += step(f"{t}ms", "link_down", "A", "eth1")
        s += step(f"{t + 700}ms", "link_up", "A", "eth1")
        t += 1400
    return s


def seed_001_cluster():
    s = """# The wiring of seed 001 on a 10-node cluster: each host shares its Corp NIC
# (its only path to the authority) with the protected switch. The cable of
# n01 is pulled. With haven's certificate authentication its 5 VMs move;
# under the classic profile (authority authentication) every try fails with
# authority_unreachable [S1.1-S1.3].
name = "seed-001-10-nodes"

[settings]
max_concurrent_migrations = 2
migration_auth = "certificate"

[[network]]
name = "Corp"
control = true
authority = true

[[network]]
name = "Private"
migration = true
"""
    count = 0
    for i in range(1, 11):
        n = f"n{i:02d}"
        s += f"""
[[node]]
name = "{n}"
memory_mb = 65536
nics = [
  {{ name = "eth0", network = "Corp" }},
  {{ name = "eth1", network = "Private" }},
]
switches = [ {{ name = "Corp", uplink = "eth0", share_with_host = true }} ]
"""
        for j in range(5):
            s += vm(f"{n}-vm{j}", n, 4096, 0x00155D400000 + count)
            count += 1
    return s + step("10s", "link_down", "n01", "eth0")


def small_node():
    s = """# A 3-node cluster with one node too small: A's Corp fails with ten 8 GB
# VMs on it; B can take them all, C (16 GB) only one at a time (H3 counts
# memory reserved by migrations in flight), so haven never overcommits C.
name = "small-node"

[settings]
max_concurrent_migrations = 2
""" + NETWORKS
    s += node("A", 131072) + node("B", 131072) + node("C", 16384)
    for i in range(10):
        s += vm(f"vm{i}", "A", 8192, 0x00155D500000 + i)
    return s + step("10s", "link_down", "A", "eth1")


for name, text in [
    ("single-nic-40-vms", single_nic()),
    ("tor-failure-16-nodes", tor_failure()),
    ("flapping-link", flapping()),
    ("seed-001-10-nodes", seed_001_cluster()),
    ("small-node", small_node()),
]:
    with open(f"bench/{name}.toml", "w") as f:
        f.write(text)
