#!/usr/bin/env python3
"""Build, start, check and remove the local lab.

The lab looks like production from Ansible's side:

* ``alab-public``  (198.18.0.0/24): the controller (this machine) and the bastion.
* ``alab-private`` (198.18.1.0/24): the bastion and the analytics server. Podman's
  NAT on this machine stands in for the VPC's NAT instance, so the server's own
  firewall is what closes its egress, as in production.
* ``alab-bastion``: systemd + sshd on both networks, EC2 name ``nat-bastion``.
* ``alab-analytics-server``: systemd + sshd on the private network only.
* ``alab-mirror`` (198.18.1.30:8080): the wheel mirror, a static web server for
  ``.lab/mirror`` (an S3 bucket in production); the server reaches it only while
  an egress window is open.
* ``moto_server`` on 127.0.0.1 answering the EC2 API, seeded with a VPC, subnets,
  security groups and two instances tagged exactly as production tags them,
  whose private addresses are the containers' addresses.
* a second ``moto_server`` on this machine's private-network address
  (198.18.1.1:5056) standing in for S3: the bucket of the workspace copies, which
  the server reaches through its firewall as S3 through a VPC endpoint.
* ``alab-imds`` (198.18.1.40, holding 169.254.169.254): the instance metadata
  service's stand-in (lab/imds.py, IMDSv2 with fake credentials); the server
  routes 169.254.169.254 to it, so its firewall's rules for the real address
  are the ones tested.

Everything the lab creates carries the label ``analytics-lab=1`` (podman) or lives
in the state folder ``.lab/`` (keys, ssh_config, moto's pid and log), so ``down``
removes exactly that and nothing else. The image is a cache keyed by the hash of
its recipe and survives ``down``; ``clean`` removes it too.

Only the standard library and boto3 (from the controller lock) are used.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB_DIR = ROOT / "lab"
STATE = Path(os.environ.get("LAB_STATE_DIR", ROOT / ".lab"))
# The images, each built from its recipe (lab/image/RELEASE.sh): Debian 12 for
# the lab's nodes and every scenario, Ubuntu 24.04 for the noble scenarios of
# the roles that support it.
RELEASES = ("debian12", "ubuntu2404")
CONTAINERS_CONF = LAB_DIR / "containers.conf"

# Containers and networks of the lab carry this label; `down` removes exactly those.
# The image carries no label: containers inherit their image's labels, and
# molecule's containers of the same image are not the lab's to remove.
LABEL = "analytics-lab=1"

# The cloud-image hooks every recipe sources; part of each image's cache key.
IMAGE_HOOKS = LAB_DIR / "image" / "cloud-image.sh"
# Settings `podman import` applies to the image; part of the image's cache key.
IMAGE_CHANGES: tuple[str, ...] = ()

MOTO_HOST = "127.0.0.1"
MOTO_PORT = 5055  # inventory/lab.aws_ec2.yml names the same endpoint
REGION = "eu-west-1"
PROJECT = "analytics"
ENVIRONMENT = "lab"
ADMIN_USER = "admin"

# S3 stand-in: on this machine's address in the private network, where the
# server's copies reach it (inventory/group_vars/env_lab.yml names it).
S3_PORT = 5056
WORKSPACE_BUCKET = "analytics-lab-workspace"

# Ids each node's user namespace maps (0 to 65535, as a Debian system uses).
ID_RANGE = 65536

# Bounded waits: every loop below gives up after this many seconds.
MOTO_START_TIMEOUT = 30
BOOT_TIMEOUT = 90


@dataclass(frozen=True)
class Network:
    name: str
    subnet: str
    gateway: str  # this machine's address on the network; also its DNS resolver


@dataclass(frozen=True)
class Node:
    container: str
    hostname: str  # also the EC2 Name tag and the inventory hostname
    role: str  # EC2 Role tag; the inventory's keyed groups come from it
    instance_type: str
    addresses: tuple[tuple[str, str], ...]  # (network name, address), primary first
    # First host uid (and gid) of the node's user namespace: see create_node.
    host_id_base: int = 0


PUBLIC = Network("alab-public", "198.18.0.0/24", "198.18.0.1")
PRIVATE = Network("alab-private", "198.18.1.0/24", "198.18.1.1")
NETWORKS = (PUBLIC, PRIVATE)

BASTION = Node(
    container="alab-bastion",
    hostname="nat-bastion",
    role="bastion",
    instance_type="t3.micro",
    addresses=((PUBLIC.name, "198.18.0.10"), (PRIVATE.name, "198.18.1.10")),
    host_id_base=1_000_000,
)
SERVER = Node(
    container="alab-analytics-server",
    hostname="analytics-server",
    role="analytics-server",
    instance_type="c7i.2xlarge",
    addresses=((PRIVATE.name, "198.18.1.20"),),
    host_id_base=1_100_000,
)
NODES = (BASTION, SERVER)


@dataclass(frozen=True)
class Service:
    """A container of the private network that serves one port: the wheel mirror, the metadata stand-in."""

    container: str
    address: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


# The wheel mirror: a static web server (an S3 bucket in production) serving
# STATE/mirror read-only; tools/wheel_mirror.py fills that folder from the lock.
MIRROR = Service(container="alab-mirror", address="198.18.1.30", port=8080)
# The instance metadata stand-in, on the address every EC2 instance uses for it.
IMDS = Service(container="alab-imds", address="198.18.1.40", port=80)
METADATA_ADDRESS = "169.254.169.254"


@dataclass(frozen=True)
class Moto:
    """One moto_server process of the lab: its name (pid and log files), address and port."""

    name: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


EC2_API = Moto("moto", MOTO_HOST, MOTO_PORT)
S3_API = Moto("moto-s3", PRIVATE.gateway, S3_PORT)
MOTOS = (EC2_API, S3_API)
MIRROR_DIR = STATE / "mirror"


class LabError(RuntimeError):
    """A problem the user can fix; main() prints it without a traceback."""


def log(message: str) -> None:
    # On stderr: `labctl image` prints the image's name, and callers capture stdout.
    print(f"lab: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- podman


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def podman(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    cmd = ["podman", *args]
    proc = subprocess.run(cmd, env=podman_env(), text=True, capture_output=capture, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"{shlex.join(cmd)} failed ({proc.returncode}): {(proc.stderr or '').strip()}")
    return proc


def labelled(kind: str) -> list[str]:
    """Names of the lab's containers or networks (those with the lab label)."""
    if kind == "container":
        out = podman("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}").stdout
    else:
        out = podman("network", "ls", "--filter", f"label={LABEL}", "--format", "{{.Name}}").stdout
    return [line for line in out.split() if line]


def lab_images(releases: tuple[str, ...] = RELEASES) -> list[str]:
    """Every tag of the releases' images, current or built from an older recipe."""
    filters = [f"--filter=reference={image_repo(release)}" for release in releases]
    out = podman("images", *filters, "--format", "{{.Repository}}:{{.Tag}}").stdout
    return [line for line in out.split() if line]


# --------------------------------------------------------------------------- image


def image_repo(release: str = "debian12") -> str:
    return f"localhost/analytics-lab/{release}"


def image_recipe(release: str = "debian12") -> Path:
    return LAB_DIR / "image" / f"{release}.sh"


def recipe_digest(recipe: Path) -> str:
    """The image's cache key: everything that shapes it, the recipe, the hooks it sources, the import settings."""
    shaping = recipe.read_bytes() + IMAGE_HOOKS.read_bytes() + json.dumps(IMAGE_CHANGES).encode()
    return hashlib.sha256(shaping).hexdigest()[:12]


def image_name(release: str = "debian12") -> str:
    return f"{image_repo(release)}:{recipe_digest(image_recipe(release))}"


def ensure_image(release: str = "debian12") -> str:
    """Build the release's image unless one built from its current recipe exists."""
    name = image_name(release)
    if podman("image", "exists", name, check=False).returncode == 0:
        return name
    recipe = image_recipe(release)
    log(f"building {name} from {recipe.relative_to(ROOT)} (about half a minute)")
    with tempfile.TemporaryDirectory(prefix="alab-image-") as tmp:
        tar = Path(tmp) / "rootfs.tar"
        build = subprocess.run(["bash", str(recipe), str(tar)], capture_output=True, text=True, check=False)
        if build.returncode != 0:
            raise LabError(f"image recipe failed ({build.returncode}):\n{build.stderr[-3000:]}")
        podman("import", *(f"--change={change}" for change in IMAGE_CHANGES), str(tar), name)
    for old in lab_images((release,)):
        if old != name:
            podman("rmi", old, check=False)
    return name


# --------------------------------------------------------------------------- keys and ssh config


def ensure_keys() -> None:
    """Generate the lab's client key and per-node host keys (once per lab)."""
    STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
    client = STATE / "id_ed25519"
    if not client.exists():
        keygen(client, "ed25519", comment="analytics-lab admin")
    # An analyst of the lab (inventory/group_vars/env_lab.yml lists her).
    analyst = STATE / "analyst_ed25519"
    if not analyst.exists():
        keygen(analyst, "ed25519", comment="ada@analytics-lab")
    for node in NODES:
        for kind, bits in (("ed25519", None), ("rsa", 4096)):
            path = STATE / "hostkeys" / node.hostname / f"ssh_host_{kind}_key"
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                keygen(path, kind, bits=bits, comment=f"root@{node.hostname}")


def keygen(path: Path, kind: str, bits: int | None = None, comment: str = "") -> None:
    cmd = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        cmd[4:4] = ["-b", str(bits)]
    subprocess.run(cmd, check=True)


def known_hosts_lines() -> list[str]:
    lines = []
    for node in NODES:
        names = ",".join([node.hostname] + [address for _, address in node.addresses])
        for kind in ("ed25519", "rsa"):
            pub = (STATE / "hostkeys" / node.hostname / f"ssh_host_{kind}_key.pub").read_text().split()
            lines.append(f"{names} {pub[0]} {pub[1]}")
    return lines


def ssh_config_text() -> str:
    """The lab's ssh_config: what an analyst's ~/.ssh/config holds in production.

    ssh passes ``-F`` on to the ProxyJump process, so the jump to the bastion uses
    these settings too: the lab key, the pinned host keys, no agent forwarding.
    """
    return "\n".join(
        [
            "# Written by lab/labctl.py for this lab only; regenerated by `make lab`.",
            "Host *",
            f"    User {ADMIN_USER}",
            f"    IdentityFile {STATE / 'id_ed25519'}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {STATE / 'known_hosts'}",
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
            "    ForwardAgent no",
            "    ConnectTimeout 10",
            "",
        ]
    )


def write_client_files() -> None:
    (STATE / "known_hosts").write_text("\n".join(known_hosts_lines()) + "\n")
    (STATE / "ssh_config").write_text(ssh_config_text())


def env_lines() -> list[str]:
    """Shell exports that point Ansible, boto3 and podman at this lab."""
    env = {
        "AWS_ENDPOINT_URL": EC2_API.url,
        # S3 calls of the controller's tools go to the S3 stand-in.
        "AWS_ENDPOINT_URL_S3": S3_API.url,
        "AWS_ACCESS_KEY_ID": "lab",
        "AWS_SECRET_ACCESS_KEY": "lab",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "CONTAINERS_CONF": str(CONTAINERS_CONF),
        # ansible.cfg's ssh_args plus the lab's ssh_config (see ssh_config_text).
        "ANSIBLE_SSH_ARGS": f"-o ControlMaster=auto -o ControlPersist=60s -F {STATE / 'ssh_config'}",
    }
    return [f"export {key}={shlex.quote(value)}" for key, value in env.items()]


# --------------------------------------------------------------------------- networks and containers


def create_networks() -> None:
    for net in NETWORKS:
        podman("network", "create", "--label", LABEL, "--subnet", net.subnet, "--gateway", net.gateway, net.name)


def create_node(node: Node, image: str) -> None:
    nets = [f"--network={name}:ip={address}" for name, address in node.addresses]
    podman(
        "create",
        "--name", node.container,
        "--hostname", node.hostname,
        "--label", LABEL,
        "--systemd=always",
        # Root in the node is not this machine's root: its ids are mapped to a
        # range of their own, so the kernel refuses it the host's kernel settings
        # (kernel.*, fs.*) while its own network namespace's (net.*) are its to
        # set, as on an instance. podman mounts /proc/sys read-only unless told.
        f"--uidmap=0:{node.host_id_base}:{ID_RANGE}",
        f"--gidmap=0:{node.host_id_base}:{ID_RANGE}",
        "--security-opt=unmask=/proc/sys",
        # The firewall role manages the container's own nftables ruleset.
        "--cap-add=NET_ADMIN",
        # An EC2 instance has every capability; the workspace copies' service
        # needs this one (read any file) beyond podman's default set.
        "--cap-add=DAC_READ_SEARCH",
        *nets,
        image,
        "/sbin/init",
    )  # fmt: skip
    hostkeys = STATE / "hostkeys" / node.hostname
    for key in sorted(hostkeys.iterdir()):
        podman("cp", str(key), f"{node.container}:/etc/ssh/{key.name}")
    with tempfile.TemporaryDirectory() as tmp:
        ssh_dir = Path(tmp) / ".ssh"
        ssh_dir.mkdir()
        (ssh_dir / "authorized_keys").write_text((STATE / "id_ed25519.pub").read_text())
        podman("cp", str(ssh_dir), f"{node.container}:/home/{ADMIN_USER}/")
    start_node(node)
    # podman cp writes as root: hand the key files to their owners.
    script = (
        f"chown -R {ADMIN_USER}:{ADMIN_USER} /home/{ADMIN_USER}/.ssh"
        f" && chmod 0700 /home/{ADMIN_USER}/.ssh && chmod 0600 /home/{ADMIN_USER}/.ssh/authorized_keys"
        " && chmod 0600 /etc/ssh/ssh_host_*_key && chmod 0644 /etc/ssh/ssh_host_*_key.pub"
    )
    podman("exec", node.container, "sh", "-c", script)


def extra_node(container: str, hostname: str, address: str) -> Node:
    """A host of the private network that is neither bastion nor server (an auditor, a probe)."""
    return Node(container, hostname, role="extra", instance_type="-", addresses=((PRIVATE.name, address),))


def run_extra(node: Node, *command: str, options: tuple[str, ...] = ()) -> None:
    """Start a labelled container of the lab image for an extra node, replacing an old one."""
    podman("rm", "--force", node.container, check=False)
    network, address = node.addresses[0]
    podman(
        "run", "--detach", "--name", node.container, "--hostname", node.hostname, "--label", LABEL,
        f"--network={network}:ip={address}", *options, image_name(), *command,
    )  # fmt: skip


def start_mirror() -> None:
    """The wheel mirror's web server; its access log (podman logs) shows what the server fetched."""
    MIRROR_DIR.mkdir(parents=True, exist_ok=True)
    podman("rm", "--force", MIRROR.container, check=False)
    podman(
        "run", "--detach", "--name", MIRROR.container, "--hostname", "wheel-mirror", "--label", LABEL,
        f"--network={PRIVATE.name}:ip={MIRROR.address}", "--volume", f"{MIRROR_DIR}:/srv/mirror:ro",
        image_name(), "python3", "-m", "http.server", str(MIRROR.port), "--bind", MIRROR.address,
        "--directory", "/srv/mirror",
    )  # fmt: skip


def start_imds() -> None:
    """The metadata stand-in: it holds 169.254.169.254 on its loopback (hence NET_ADMIN) and serves lab/imds.py."""
    podman("rm", "--force", IMDS.container, check=False)
    podman(
        "run", "--detach", "--name", IMDS.container, "--hostname", "instance-metadata", "--label", LABEL,
        f"--network={PRIVATE.name}:ip={IMDS.address}", "--cap-add=NET_ADMIN",
        "--volume", f"{LAB_DIR / 'imds.py'}:/srv/imds.py:ro", image_name(),
        "sh", "-c", f"ip address add {METADATA_ADDRESS}/32 dev lo && exec python3 /srv/imds.py {IMDS.port}",
    )  # fmt: skip


def route_metadata(node: Node) -> None:
    """Route the metadata address to the stand-in, as an instance reaches it through its link."""
    podman("exec", node.container, "ip", "route", "replace", f"{METADATA_ADDRESS}/32", "via", IMDS.address)


def wait_for_sshd(node: Node) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        proc = podman("exec", node.container, "systemctl", "is-active", "ssh", check=False)
        if proc.stdout.strip() == "active":
            return
        time.sleep(1)
    raise LabError(f"sshd in {node.container} did not start within {BOOT_TIMEOUT}s; see `podman logs {node.container}`")


def start_node(node: Node) -> None:
    """Start a created or stopped node's container, systemd and all.

    systemd in the node's user namespace must own the cgroup podman made for the
    container, or it cannot make its units' cgroups and exits at once. podman
    leaves it to this machine's root: `podman init` makes the container (and its
    cgroup) without running it, the cgroup is handed over, then it starts.
    """
    podman("init", node.container)
    pid = node_pid(node)
    for cgroup in systemd_cgroups(Path(f"/proc/{pid}/cgroup").read_text()):
        for folder, _dirs, files in os.walk(cgroup):
            for path in (Path(folder), *(Path(folder) / f for f in files)):
                os.chown(path, node.host_id_base, node.host_id_base)
    podman("start", node.container)


def systemd_cgroups(proc_cgroup: str) -> list[Path]:
    """The folders of the cgroups systemd manages, from a /proc/PID/cgroup text.

    With cgroup v2 that is the unified hierarchy's; with v1, the name=systemd one.
    """
    folders = []
    for line in proc_cgroup.splitlines():
        _number, controllers, path = line.split(":", 2)
        if controllers == "":
            folders.append(Path("/sys/fs/cgroup") / path.lstrip("/"))
        elif controllers == "name=systemd":
            folders.append(Path("/sys/fs/cgroup/systemd") / path.lstrip("/"))
    return folders


def node_pid(node: Node) -> str:
    """The host pid of the node's container's first process (0 when it is not running)."""
    return podman("inspect", "--format", "{{.State.Pid}}", node.container).stdout.strip()


def node_isolated(node: Node) -> bool:
    """Whether the node's container runs in the user namespace create_node gives it."""
    pid = node_pid(node)
    first = Path(f"/proc/{pid}/uid_map").read_text().split()
    return first[:3] == ["0", str(node.host_id_base), str(ID_RANGE)]


def node_running(node: Node | Service) -> bool:
    proc = podman("inspect", "--format", "{{.State.Running}}", node.container, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


# --------------------------------------------------------------------------- moto


def lab_moto_pids(service: Moto) -> list[int]:
    """Pids of moto_server processes serving one of the lab's ports.

    Found by command line rather than only by pid file, so that a moto left
    behind by a lab that was killed half-way (or by another checkout) is found.
    """
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(Path(arg).name == "moto_server" for arg in argv[:2]) and str(service.port) in argv:
            pids.append(int(proc.name))
    return pids


def moto_pid(service: Moto = EC2_API) -> int | None:
    """Pid of the moto_server this lab started for a service, if it is still alive."""
    try:
        pid = int((STATE / f"{service.name}.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if pid in lab_moto_pids(service) else None


def stop_moto() -> None:
    for service in MOTOS:
        for pid in lab_moto_pids(service):
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        (STATE / f"{service.name}.pid").unlink(missing_ok=True)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def moto_answers(service: Moto = EC2_API) -> bool:
    try:
        with urllib.request.urlopen(f"{service.url}/moto-api/", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_moto(service: Moto = EC2_API) -> None:
    if port_in_use(service.host, service.port):
        raise LabError(
            f"{service.host}:{service.port} is taken by a process the lab did not start; "
            f"stop it: the lab's {service.name} needs this port (inventory/lab.aws_ec2.yml and "
            "inventory/group_vars/env_lab.yml name it)"
        )
    moto = Path(sys.executable).parent / "moto_server"
    # The child inherits its own copy of the log's descriptor.
    with (STATE / f"{service.name}.log").open("ab") as log_file:
        proc = subprocess.Popen(
            [str(moto), "-H", service.host, "-p", str(service.port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives this command; `down` stops it by pid
        )
    (STATE / f"{service.name}.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + MOTO_START_TIMEOUT
    while time.monotonic() < deadline:
        if moto_answers(service):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise LabError(f"moto_server did not answer on {service.url}; see {STATE / (service.name + '.log')}")


def moto_client(api: str, service: Moto):
    """A boto3 client of one AWS API, pointed at the lab's moto for it."""
    import boto3  # controller lock; imported here so `down` works without it

    return boto3.client(
        api,
        endpoint_url=service.url,
        region_name=REGION,
        aws_access_key_id="lab",
        aws_secret_access_key="lab",
    )


def s3_client():
    return moto_client("s3", S3_API)


def seed_s3() -> None:
    """The workspace copies' bucket, versioned as production's should be."""
    s3 = s3_client()
    s3.create_bucket(Bucket=WORKSPACE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=WORKSPACE_BUCKET, VersioningConfiguration={"Status": "Enabled"})


def ec2_client():
    return moto_client("ec2", EC2_API)


def tags(name: str, role: str | None = None) -> list[dict[str, str]]:
    """Tags exactly as production sets them (see inventory/prod.aws_ec2.yml)."""
    pairs = {"Name": name, "Project": PROJECT, "Environment": ENVIRONMENT}
    if role:
        pairs["Role"] = role
    return [{"Key": key, "Value": value} for key, value in pairs.items()]


def tag_spec(resource: str, name: str, role: str | None = None) -> list[dict]:
    return [{"ResourceType": resource, "Tags": tags(name, role)}]


def seed_ec2() -> dict[str, str]:
    """Create the production-shaped VPC and instances; return instance ids by hostname."""
    ec2 = ec2_client()
    vpc = ec2.create_vpc(CidrBlock="198.18.0.0/16", TagSpecifications=tag_spec("vpc", "analytics"))["Vpc"]["VpcId"]
    subnets = {}
    for net, label in ((PUBLIC, "public"), (PRIVATE, "private")):
        subnets[net.name] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=net.subnet, TagSpecifications=tag_spec("subnet", f"analytics-{label}")
        )["Subnet"]["SubnetId"]

    bastion_sg = ec2.create_security_group(
        GroupName="nat-bastion", Description="SSH bastion and NAT", VpcId=vpc,
        TagSpecifications=tag_spec("security-group", "nat-bastion"),
    )["GroupId"]  # fmt: skip
    ec2.authorize_security_group_ingress(
        GroupId=bastion_sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": PUBLIC.subnet}]}],
    )
    server_sg = ec2.create_security_group(
        GroupName="analytics-server", Description="Analytics server: SSH from the bastion, no egress", VpcId=vpc,
        TagSpecifications=tag_spec("security-group", "analytics-server"),
    )["GroupId"]  # fmt: skip
    ec2.authorize_security_group_ingress(
        GroupId=server_sg,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": bastion_sg}]}
        ],
    )
    # A new security group allows all egress; the analytics server's must not.
    ec2.revoke_security_group_egress(
        GroupId=server_sg, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )

    image = ec2.register_image(Name="debian-12-amd64-lab", Architecture="x86_64", RootDeviceName="/dev/xvda")
    groups = {BASTION.hostname: bastion_sg, SERVER.hostname: server_sg}
    ids = {}
    for node in NODES:
        interfaces = [
            {
                "DeviceIndex": index,
                "SubnetId": subnets[net_name],
                "PrivateIpAddress": address,
                "Groups": [groups[node.hostname]],
            }
            for index, (net_name, address) in enumerate(node.addresses)
        ]
        reservation = ec2.run_instances(
            ImageId=image["ImageId"], MinCount=1, MaxCount=1, InstanceType=node.instance_type,
            NetworkInterfaces=interfaces,
            TagSpecifications=tag_spec("instance", node.hostname, node.role),
            # As many launch templates leave it: IMDSv1 allowed, replies for 2
            # hops. site.yml (the instance_metadata role) must tighten it.
            MetadataOptions={"HttpTokens": "optional", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"},
        )  # fmt: skip
        ids[node.hostname] = reservation["Instances"][0]["InstanceId"]
    return ids


def seeded_instances() -> int:
    """How many running lab instances moto knows (0 when moto does not answer)."""
    if not moto_answers():
        return 0
    filters = [
        {"Name": "tag:Project", "Values": [PROJECT]},
        {"Name": "tag:Environment", "Values": [ENVIRONMENT]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    reservations = ec2_client().describe_instances(Filters=filters)["Reservations"]
    return sum(len(r["Instances"]) for r in reservations)


# --------------------------------------------------------------------------- commands


def healthy(image: str) -> list[str]:
    """What is wrong with the current lab; an empty list means it can be reused."""
    problems = []
    for node in NODES:
        if not node_running(node):
            problems.append(f"{node.container} is not running")
        elif not node_isolated(node):
            problems.append(f"{node.container} runs without its own user namespace")
        else:
            used = podman("inspect", "--format", "{{.ImageName}}", node.container).stdout.strip()
            if used != image:
                problems.append(f"{node.container} runs {used}, not {image}")
    for service in (MIRROR, IMDS):
        if not node_running(service):
            problems.append(f"{service.container} is not running")
    if not moto_pid(S3_API):
        problems.append("the S3 stand-in (moto_server) is not running")
    if not moto_pid():
        problems.append("moto_server is not running")
    elif seeded_instances() != len(NODES):
        problems.append("moto does not hold the lab's instances")
    for name in ("ssh_config", "known_hosts", "id_ed25519"):
        if not (STATE / name).exists():
            problems.append(f"{STATE / name} is missing")
    return problems


def cmd_up(args: argparse.Namespace) -> None:
    image = ensure_image()
    problems = ["--fresh asked for a new lab"] if args.fresh else healthy(image)
    if not problems:
        log("reusing the running lab (use --fresh for a new one)")
    else:
        log("starting a new lab: " + "; ".join(problems))
        remove_lab(keep_keys=False)
        ensure_keys()
        write_client_files()
        create_networks()
        for node in NODES:
            create_node(node, image)
        start_mirror()
        start_imds()
        for node in NODES:
            wait_for_sshd(node)
        route_metadata(SERVER)
        start_moto()
        seed_ec2()
        start_moto(S3_API)
        seed_s3()
    (STATE / "env").write_text("\n".join(env_lines()) + "\n")
    log(f"ready: bastion {BASTION.addresses[0][1]}, analytics server {SERVER.addresses[0][1]} (private)")


def remove_lab(keep_keys: bool) -> None:
    """Remove what the lab created: labelled containers and networks, moto, state."""
    stop_moto()
    containers = labelled("container")
    if containers:
        remove_containers(containers)
    networks = labelled("network")
    if networks:
        podman("network", "rm", "--force", *networks)
    if STATE.exists() and not keep_keys:
        for path in sorted(STATE.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()


def remove_containers(containers: list[str], attempts: int = 10) -> None:
    """podman rm, again a second later while podman's own clean-up still holds a mount.

    A killed container's /dev/shm can stay mounted for a moment after it stops
    ("device or resource busy"), the user-namespaced nodes' in particular.
    """
    for attempt in range(1, attempts + 1):
        proc = podman("rm", "--force", "--ignore", "--time", "2", *containers, check=attempt == attempts)
        if proc.returncode == 0:
            return
        time.sleep(1)


def cmd_down(args: argparse.Namespace) -> None:
    remove_lab(keep_keys=False)
    if args.images:
        for image in lab_images():
            podman("rmi", "--force", image, check=False)
    log("removed")


def cmd_image(args: argparse.Namespace) -> None:
    print(ensure_image(args.release))


def cmd_status(_: argparse.Namespace) -> None:
    problems = healthy(image_name())
    print(json.dumps({"healthy": not problems, "problems": problems}, indent=2))
    sys.exit(0 if not problems else 1)


def cmd_env(_: argparse.Namespace) -> None:
    print("\n".join(env_lines()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the lab, reusing a healthy one")
    up.add_argument("--fresh", action="store_true", help="always start a new lab")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="remove everything the lab created")
    down.add_argument("--images", action="store_true", help="also remove the cached lab image")
    down.set_defaults(func=cmd_down)
    image = sub.add_parser("image", help="build the image if its recipe changed; print its name")
    image.add_argument("--release", choices=RELEASES, default="debian12", help="which image (default: debian12)")
    image.set_defaults(func=cmd_image)
    sub.add_parser("status", help="say whether the lab is up and complete").set_defaults(func=cmd_status)
    sub.add_parser("env", help="print the shell exports that point tools at the lab").set_defaults(func=cmd_env)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except LabError as err:
        print(f"lab: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
