"""deploy/kubernetes/: valid against the Kubernetes API schemas (kubernetes-validate, which bundles them
and runs offline), and consistent with the rest of the project: deploy/nginx.conf's limits carried over
to ingress-nginx, gunicorn's timeouts within the pod's probes and grace period, the app's routes, body
limit and user. The Deployment's pod is run with podman kube play."""

import copy
import http.client
import ipaddress
import os
import re
import time
from pathlib import Path

import pytest

from bench.servers import free_port
from bench.servers import wait_for
from tests.helpers.answer import NGINX_CONF
from tests.helpers.answer import fetch
from tests.helpers.answer import form
from tests.helpers.containers import IMAGE
from tests.helpers.containers import USER
from tests.helpers.containers import podman
from tests.helpers.containers import runtime
from tests.helpers.keys import kubernetes_secret
from tests.helpers.oracle import MAX_BODY_SIZE
from tests.helpers.oracle import ROOT
from tests.helpers.oracle import TEST_KEY as KEY
from tests.helpers.oracle import issued_at
from tests.helpers.oracle import signed
from tests.helpers.servers import gunicorn_settings
from tests.helpers.servers import require
from tests.helpers.servers import require_executable
from wsgiapp import ROUTES

MANIFESTS = ROOT / "deploy" / "kubernetes" / "wsgiapp.yaml"
CONTROLLER_CONFIG = ROOT / "deploy" / "kubernetes" / "ingress-nginx-config.yaml"
# What nginx uses where deploy/nginx.conf sets nothing (nginx.org, ngx_http_proxy_module).
NGINX_DEFAULTS = {"proxy_read_timeout": "60s", "proxy_send_timeout": "60s"}
# ingress-nginx syncs its upstreams at most every 1/0.3 s (--sync-rate-limit), and its nginx workers
# take up to 1 s more to pick the change up: a pod is out of its upstreams this long after it stops.
INGRESS_NGINX_UPDATE_SECONDS = 1 / 0.3 + 1
ANNOTATION = "nginx.ingress.kubernetes.io/"


@pytest.fixture(scope="module")
def yaml():
    return pytest.importorskip(
        "yaml", reason="PyYAML comes with kubernetes-validate: pip install -e '.[test]'"
    )


@pytest.fixture(scope="module")
def resources(yaml) -> dict[str, dict]:
    """The manifests by kind and name: "Ingress/wsgiapp"."""
    documents = list(yaml.safe_load_all(MANIFESTS.read_text("utf-8")))
    named = {f"{document['kind']}/{document['metadata']['name']}": document for document in documents}
    assert len(named) == len(documents), "two resources of one kind and name"
    return named


@pytest.fixture(scope="module")
def controller_config(yaml) -> dict[str, str]:
    return yaml.safe_load(CONTROLLER_CONFIG.read_text("utf-8"))["data"]


def nginx_conf(directive: str) -> list[str]:
    """The arguments of each use of a directive in deploy/nginx.conf, as written."""
    return re.findall(rf"^\s*{directive}\s+([^;]*);", NGINX_CONF.read_text("utf-8"), re.M)


def nginx_seconds(value: str) -> int:
    """An nginx time without a unit or in seconds ("10", "10s"), as ingress-nginx takes it: unitless."""
    return int(value.removesuffix("s"))


def ingresses(resources) -> list[dict]:
    return [resource for key, resource in resources.items() if key.startswith("Ingress/")]


def pod_spec(resources) -> dict:
    return resources["Deployment/wsgiapp"]["spec"]["template"]["spec"]


def test_the_manifests_are_valid_against_the_kubernetes_api_schemas(resources, controller_config):
    try:
        import kubernetes_validate
    except ImportError:
        kubernetes_validate = None
    require("kubernetes-validate", kubernetes_validate, "pip install -e '.[test]'")
    assert set(resources) == {
        "Deployment/wsgiapp",
        "Service/wsgiapp",
        "PodDisruptionBudget/wsgiapp",
        "NetworkPolicy/wsgiapp",
        "Ingress/wsgiapp",
        "Ingress/wsgiapp-posts",
    }
    # The controller's settings as the ConfigMap they patch: every value a string.
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ingress-nginx-controller"}}
    for resource in [*resources.values(), {**config_map, "data": controller_config}]:
        # Strict: a misspelt field is an error, not ignored. Raises ValidationError when invalid.
        kubernetes_validate.validate(resource, kubernetes_validate.latest_version(), strict=True)


def test_a_misspelt_field_or_a_number_for_a_string_is_refused(resources, controller_config):
    """The check above can fail: the same Deployment with one field misspelt does not pass, nor the
    controller's settings with a number where ingress-nginx wants its string."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    deployment = resources["Deployment/wsgiapp"]
    wrong = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, kubernetes_validate.latest_version(), strict=True)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ingress-nginx-controller"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {**config_map, "data": {**controller_config, "keep-alive": 10}},
            kubernetes_validate.latest_version(),
            strict=True,
        )


def test_the_deployment_rolls_out_without_a_gap(resources):
    spec = resources["Deployment/wsgiapp"]["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert resources["PodDisruptionBudget/wsgiapp"]["spec"]["minAvailable"] == 1
    (container,) = spec["template"]["spec"]["containers"]
    assert set(container["resources"]) == {"requests", "limits"}


def test_a_stopping_pod_serves_until_the_ingress_drops_it_then_stops_gracefully(resources):
    """The preStop pause outlasts ingress-nginx's update of its upstreams; after it, SIGTERM, and
    gunicorn's graceful_timeout still fits in the grace period, which counts from the pause's start."""
    pod = pod_spec(resources)
    (container,) = pod["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    assert pause > INGRESS_NGINX_UPDATE_SECONDS
    assert pause < pod["terminationGracePeriodSeconds"] - gunicorn_settings().graceful_timeout


def test_the_probes_ask_for_a_page_and_leave_stuck_workers_to_gunicorn(resources):
    """Each probe asks for a page the app serves to GET, waits 2 s or more behind the two sync workers'
    requests, and liveness gives up only after gunicorn's worker timeout, which replaces a stuck worker
    without restarting the container."""
    (container,) = pod_spec(resources)["containers"]
    (port,) = container["ports"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert "GET" in ROUTES[container[probe]["httpGet"]["path"]].methods
        assert container[probe]["httpGet"]["port"] == port["name"]
        assert container[probe]["timeoutSeconds"] >= 2
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > gunicorn_settings().timeout


def test_the_pod_runs_as_the_images_own_user(resources):
    """The user and group the Containerfile gives the image, as `podman run` runs it. The rest of the
    lock-down is checked running, in test_the_pod_runs_under_podman_kube_play."""
    security = pod_spec(resources)["securityContext"]
    image_user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Containerfile").read_text(), re.M)
    user = tuple(int(number) for number in image_user.groups())
    assert (security["runAsUser"], security["runAsGroup"]) == user


def test_the_keys_come_from_a_secret_file_and_never_from_a_literal(resources):
    pod = pod_spec(resources)
    (container,) = pod["containers"]
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["SECRET_KEY_FILE"]["value"] == "/run/secrets/wsgiapp/keys"
    assert not {"SECRET_KEY", "SECRET_KEY_FALLBACKS"} & set(env)
    (mount,) = container["volumeMounts"]
    assert (mount["mountPath"], mount["readOnly"]) == ("/run/secrets/wsgiapp", True)
    (volume,) = pod["volumes"]
    assert volume == {"name": mount["name"], "secret": {"secretName": "wsgiapp-keys", "defaultMode": 0o400}}


def test_only_the_ingress_controller_reaches_the_pods(resources):
    """No other pod can skip the controller's buffering and limits, or claim https; the app opens no
    connection, so none may leave."""
    policy = resources["NetworkPolicy/wsgiapp"]["spec"]
    assert policy["podSelector"] == resources["Deployment/wsgiapp"]["spec"]["selector"]
    (container,) = pod_spec(resources)["containers"]
    (port,) = container["ports"]
    assert policy["ingress"] == [
        {
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
            ],
            "ports": [{"port": port["name"]}],
        }
    ]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    assert "egress" not in policy


def test_x_forwarded_proto_is_believed_from_one_private_network(resources):
    """FORWARDED_ALLOW_IPS is a pod network, written as one (gunicorn reads networks): neither `*` nor
    every 10.x address, which would miss the common pod networks outside it and take in the nodes'."""
    (container,) = pod_spec(resources)["containers"]
    env = {variable["name"]: variable["value"] for variable in container["env"]}
    network = ipaddress.ip_network(env["FORWARDED_ALLOW_IPS"])
    assert network.is_private
    assert network.prefixlen > 8


def test_the_ingresses_carry_nginx_conf_limits(resources):
    """Both Ingresses, for ingress-nginx: the body limit of nginx.conf, which is the app's own; the
    request and the answer buffered whole (nginx's default, which nginx.conf keeps); nginx.conf's proxy
    timeouts (nginx's defaults), longer than gunicorn's worker timeout; its connections per address."""
    (client_max_body_size,) = nginx_conf("client_max_body_size")
    assert int(client_max_body_size.removesuffix("k")) * 1024 == MAX_BODY_SIZE
    assert not nginx_conf("proxy_request_buffering") and not nginx_conf("proxy_buffering")
    (limit_conn,) = nginx_conf("limit_conn")
    timeout = gunicorn_settings().timeout
    for ingress in ingresses(resources):
        annotations = ingress["metadata"]["annotations"]
        assert ingress["spec"]["ingressClassName"] == "nginx"
        assert annotations[ANNOTATION + "proxy-body-size"] == client_max_body_size
        assert annotations[ANNOTATION + "proxy-request-buffering"] == "on"
        assert annotations[ANNOTATION + "proxy-buffering"] == "on"
        for directive in ("proxy_read_timeout", "proxy_send_timeout"):
            (value,) = nginx_conf(directive) or [NGINX_DEFAULTS[directive]]
            annotation = annotations[ANNOTATION + directive.replace("_", "-")]
            assert int(annotation) == nginx_seconds(value) > timeout
        assert annotations[ANNOTATION + "limit-connections"] == limit_conn.split()[-1]


def test_posts_are_rate_limited_as_nginx_conf_does(resources):
    """nginx.conf limits POSTs per address; ingress-nginx limits paths, so the second Ingress holds
    exactly the paths that take a POST, with nginx.conf's rate and burst, and the first none."""
    (zone,) = nginx_conf("limit_req_zone")
    rate = int(re.search(r"rate=(\d+)r/s", zone)[1])
    (limit_req,) = nginx_conf("limit_req")
    burst = int(re.search(r"burst=(\d+)", limit_req)[1])
    assert "nodelay" in limit_req.split()
    posts = resources["Ingress/wsgiapp-posts"]
    (rule,) = posts["spec"]["rules"]
    assert {(path["path"], path["pathType"]) for path in rule["http"]["paths"]} == {
        (path, "Exact") for path, route in ROUTES.items() if "POST" in route.methods
    }
    annotations = posts["metadata"]["annotations"]
    assert int(annotations[ANNOTATION + "limit-rps"]) == rate
    # ingress-nginx's burst is the rate times the multiplier, and it adds nodelay.
    assert rate * int(annotations[ANNOTATION + "limit-burst-multiplier"]) == burst
    assert not any(
        name.startswith(ANNOTATION + "limit-r")
        for name in resources["Ingress/wsgiapp"]["metadata"]["annotations"]
    )


def test_the_ingresses_serve_one_site_with_one_certificate_from_cert_manager(resources):
    """Both Ingresses name the same host and the Secret wsgiapp-tls; only one asks cert-manager for the
    certificate (two would make two Certificates for one Secret), and both reach the Service."""
    service = resources["Service/wsgiapp"]["spec"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert service["selector"] == resources["Deployment/wsgiapp"]["spec"]["selector"]["matchLabels"]
    issuers = []
    for ingress in ingresses(resources):
        (rule,) = ingress["spec"]["rules"]
        assert ingress["spec"]["tls"] == [{"hosts": [rule["host"]], "secretName": "wsgiapp-tls"}]
        assert {path["backend"]["service"]["name"] for path in rule["http"]["paths"]} == {"wsgiapp"}
        assert {path["backend"]["service"]["port"]["name"] for path in rule["http"]["paths"]} == {"http"}
        issuers += [
            name for name in ingress["metadata"]["annotations"] if name.startswith("cert-manager.io/")
        ]
    assert issuers == ["cert-manager.io/cluster-issuer"]
    assert resources["Ingress/wsgiapp"]["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]


def test_the_controller_settings_are_nginx_conf_s(controller_config):
    """What ingress-nginx takes only controller-wide: nginx.conf's HSTS header (ingress-nginx's own
    default differs in max-age and includeSubDomains), its 429s and its client timeouts."""
    (hsts,) = [
        header for header in nginx_conf("add_header") if header.startswith("Strict-Transport-Security")
    ]
    directives = hsts.split('"')[1].split("; ")
    assert controller_config["hsts"] == "true"
    assert controller_config["hsts-max-age"] == directives[0].removeprefix("max-age=")
    assert controller_config["hsts-include-subdomains"] == str("includeSubDomains" in directives).lower()
    assert controller_config["hsts-preload"] == str("preload" in directives).lower()
    assert [controller_config["limit-req-status-code"]] == nginx_conf("limit_req_status")
    assert [controller_config["limit-conn-status-code"]] == nginx_conf("limit_conn_status")
    for key, directive in [
        ("client-header-timeout", "client_header_timeout"),
        ("client-body-timeout", "client_body_timeout"),
        ("keep-alive", "keepalive_timeout"),
    ]:
        (value,) = nginx_conf(directive)
        assert int(controller_config[key]) == nginx_seconds(value)


def kube_pod(deployment: dict, name: str, keys: Path, port: int) -> dict:
    """The Deployment's pod as a Pod for podman kube play: the test image; the keys from a folder laid out
    as a Secret volume (podman 4.3 crashes on a Secret volume); the port published on loopback."""
    template = copy.deepcopy(deployment["spec"]["template"])
    spec = template["spec"]
    (container,) = spec["containers"]
    container["image"] = IMAGE
    (http_port,) = container["ports"]
    http_port.update(hostIP="127.0.0.1", hostPort=port)
    (volume,) = spec["volumes"]
    spec["volumes"] = [{"name": volume["name"], "hostPath": {"path": str(keys), "type": "Directory"}}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": name},
        "spec": spec,
    }


def proc_status(container: str) -> dict[str, list[str]]:
    """/proc/1/status of the container (gunicorn's master): its fields, each split on whitespace."""
    lines = podman("exec", container, "cat", "/proc/1/status").stdout.splitlines()
    return {name: value.split() for name, _, value in (line.partition(":") for line in lines)}


def answers_within(url: str, seconds: float) -> int:
    """The status of a GET of url, answered within seconds (a probe's timeoutSeconds)."""
    parts = url.split("/", 3)
    host, port = parts[2].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=seconds)
    try:
        conn.request("GET", "/" + parts[3])
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.slow
def test_the_pod_runs_under_podman_kube_play(image, resources, yaml, tmp_path):
    """The Deployment's pod template, played by podman kube play with the test image, a folder laid out
    as the Secret volume (hostPath: podman 4.3 crashes on a Secret volume), its port on loopback.

    What runs as in the manifest: the user and group, the read-only root, no capabilities, no new
    privileges, seccomp, the environment, the key file at SECRET_KEY_FILE, the preStop command (run
    here with podman exec: podman runs no lifecycle hook). What podman 4.3 does not do, and is only
    checked offline above: the probes (readiness is ignored; liveness becomes a healthcheck that runs
    curl, which the image lacks, against port 0, the named port unresolved, and no timer runs it without
    systemd), so the test asks for their paths itself, within their timeouts;
    terminationGracePeriodSeconds; fsGroup (the folder's file is the user's already). The Service,
    NetworkPolicy, PodDisruptionBudget, Ingresses and cert-manager need a cluster."""
    require_executable("catatonit", "/usr/libexec/podman/catatonit", install="apt-get install catatonit")
    deployment = resources["Deployment/wsgiapp"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    security = deployment["spec"]["template"]["spec"]["securityContext"]
    env = {variable["name"]: variable["value"] for variable in container["env"]}
    port = free_port()
    name = f"wsgiapp-kube-{os.getpid()}-{port}"
    played = tmp_path / "pod.yaml"
    played.write_text(
        yaml.safe_dump(
            kube_pod(deployment, name, kubernetes_secret(tmp_path / "keys", KEY, owner=USER), port)
        )
    )
    url = f"http://127.0.0.1:{port}"
    # The network podman already has: kube play would add a network of its own to the machine's CNI setup.
    podman(*runtime(), "kube", "play", "--network", "podman", str(played))
    try:
        running = f"{name}-{container['name']}"

        def logs() -> str:
            run = podman("logs", running, check=False)
            return run.stdout + run.stderr

        def answers() -> bool:
            try:
                return fetch(url + "/").status == 200
            except OSError:
                return False

        # Up well before liveness would first restart it: no startupProbe needed.
        liveness = container["livenessProbe"]
        wait_for(answers, liveness["periodSeconds"] * liveness["failureThreshold"], logs)

        status = proc_status(running)
        assert status["Uid"] == [str(security["runAsUser"])] * 4
        assert status["Gid"] == [str(security["runAsGroup"])] * 4
        assert status["CapEff"] == ["0000000000000000"]
        assert status["NoNewPrivs"] == ["1"]
        assert status["Seccomp"] == ["2"]
        write = podman("exec", running, "sh", "-c", ": > /written", check=False)
        assert write.returncode != 0 and "Read-only file system" in write.stderr
        environ = podman("exec", running, "cat", "/proc/1/environ").stdout.split("\0")
        assert {f"{name}={value}" for name, value in env.items()} <= set(environ)

        for probe in ("readinessProbe", "livenessProbe"):
            path = container[probe]["httpGet"]["path"]
            assert answers_within(url + path, container[probe]["timeoutSeconds"]) == 200

        # Signed with the key of the file, and plain http: the published port's address, podman's
        # bridge, is outside FORWARDED_ALLOW_IPS, so its X-Forwarded-Proto is not believed.
        https = form("alice")
        https["headers"] = {**https["headers"], "X-Forwarded-Proto": "https"}
        header = fetch(url + "/setcookie", **https).cookie_header()
        peer = [line for line in logs().splitlines() if '"POST /setcookie ' in line][-1].split(" ", 1)[0]
        assert ipaddress.ip_address(peer) not in ipaddress.ip_network(env["FORWARDED_ALLOW_IPS"])
        assert set(header.split("; ")) == {
            signed("alice", KEY, at=issued_at(header.split("; ")[0])),
            "HttpOnly",
            "Path=/",
            "SameSite=Lax",
        }

        # The preStop hook's command runs in the locked-down container, for its whole pause.
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        paused = time.monotonic()
        podman("exec", running, *command)
        assert time.monotonic() - paused >= int(command[1])
        assert answers()
    finally:
        podman("kube", "down", str(played), check=False)
