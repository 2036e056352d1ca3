"""deploy/kubernetes/wsgiapp.yaml: valid against the Kubernetes API schemas (kubernetes-validate, which
bundles them and runs offline), and holding what the deployment needs: two replicas or more rolled out
without a gap, probes, resources, a locked-down container, the keys from a Secret file and never from a
literal value, the trusted proxy addresses."""

import re

import pytest

from tests.helpers.oracle import ROOT
from tests.helpers.servers import require

MANIFESTS = ROOT / "deploy" / "kubernetes" / "wsgiapp.yaml"


@pytest.fixture(scope="module")
def resources() -> dict[str, dict]:
    yaml = pytest.importorskip(
        "yaml", reason="PyYAML comes with kubernetes-validate: pip install -e '.[test]'"
    )
    return {document["kind"]: document for document in yaml.safe_load_all(MANIFESTS.read_text("utf-8"))}


def test_the_manifests_are_valid_against_the_kubernetes_api_schemas(resources):
    try:
        import kubernetes_validate
    except ImportError:
        kubernetes_validate = None
    require("kubernetes-validate", kubernetes_validate, "pip install -e '.[test]'")
    assert set(resources) == {"Deployment", "Service", "PodDisruptionBudget", "Ingress"}
    for resource in resources.values():
        # Strict: a misspelt field is an error, not ignored. Raises ValidationError when invalid.
        kubernetes_validate.validate(resource, kubernetes_validate.latest_version(), strict=True)


def test_a_misspelt_field_is_refused(resources):
    """The check above can fail: the same Deployment with one field misspelt does not pass."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    wrong = {**resources["Deployment"], "spec": {**resources["Deployment"]["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, kubernetes_validate.latest_version(), strict=True)


def test_the_deployment_rolls_out_without_a_gap(resources):
    spec = resources["Deployment"]["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert resources["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    (container,) = spec["template"]["spec"]["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/", "port": "http"}
    assert set(container["resources"]) == {"requests", "limits"}
    # gunicorn's graceful_timeout (30 s) fits in the grace period.
    assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > 30


def test_the_container_is_locked_down(resources):
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # The image's own user (Containerfile), not root.
    image_user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Containerfile").read_text(), re.M)
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == tuple(
        int(number) for number in image_user.groups()
    )
    assert pod["automountServiceAccountToken"] is False


def test_the_keys_come_from_a_secret_file_and_never_from_a_literal(resources):
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {variable["name"]: variable for variable in container["env"]}
    assert env["SECRET_KEY_FILE"]["value"] == "/run/secrets/wsgiapp/keys"
    assert not {"SECRET_KEY", "SECRET_KEY_FALLBACKS"} & set(env)
    (mount,) = container["volumeMounts"]
    assert (mount["mountPath"], mount["readOnly"]) == ("/run/secrets/wsgiapp", True)
    (volume,) = pod["volumes"]
    assert volume == {"name": mount["name"], "secret": {"secretName": "wsgiapp-keys", "defaultMode": 0o400}}
    # The trusted proxy addresses are a setting the manifest passes.
    assert env["FORWARDED_ALLOW_IPS"]["value"]


def test_the_ingress_ends_tls_for_the_service(resources):
    ingress = resources["Ingress"]["spec"]
    (rule,) = ingress["rules"]
    assert ingress["tls"] == [{"hosts": [rule["host"]], "secretName": "wsgiapp-tls"}]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "wsgiapp", "port": {"name": "http"}}
    assert resources["Service"]["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
