"""deploy/kubernetes renders (kustomize), every object is valid against the Kubernetes schemas
(offline), and the objects agree with each other and with the bot: Service selectors find pods,
probes hit the bot server's routes, env names are Settings fields, commands are real CLI commands.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from aiohttp.test_utils import make_mocked_request

from bot.cli import build_parser
from bot.config import Settings
from bot.server import create_web_app

KUBERNETES = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes"
OVERLAYS = ("demo", "production")
# The oldest Kubernetes the manifests support, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# Created out of band in production (README "Kubernetes"), never kept in git.
EXTERNAL_SECRETS = {"production": {"detectx-secrets"}}
BOT_SECRET_KEYS = {"TELEGRAM_BOT_TOKEN", "WEBHOOK_SECRET", "DATABASE_URL"}
# Variables for the Python runtime in a read-only container, not bot settings.
RUNTIME_ENV = {"MPLCONFIGDIR", "PYTHONDONTWRITEBYTECODE"}
WORKLOADS = {"Deployment", "StatefulSet", "Job"}

Manifest = dict[str, Any]

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")


@cache
def render(overlay: str) -> tuple[Manifest, ...]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def of_kind(objects: tuple[Manifest, ...], *kinds: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] in kinds]


def named(objects: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


def pod_spec(workload: Manifest) -> Manifest:
    return cast(Manifest, workload["spec"]["template"]["spec"])


def containers(workload: Manifest) -> Iterator[Manifest]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def bot_container(objects: tuple[Manifest, ...]) -> Manifest:
    (container,) = pod_spec(named(objects, "Deployment", "detectx-bot"))["containers"]
    return cast(Manifest, container)


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> tuple[Manifest, ...]:
    return render(overlay)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_is_valid_against_the_kubernetes_schema(
    objects: tuple[Manifest, ...], version: str
) -> None:
    assert objects, "the overlay rendered no objects"
    invalid = {}
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            invalid[(obj["kind"], obj["metadata"]["name"])] = str(exc).splitlines()[0]
    assert invalid == {}


def test_schema_check_refuses_a_deployment_with_an_unknown_field(
    objects: tuple[Manifest, ...],
) -> None:
    """The check above can fail: a misspelt field in the bot's Deployment is refused."""
    deployment = copy.deepcopy(next(o for o in objects if o["kind"] == "Deployment"))
    deployment["spec"]["replicaz"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_the_overlays_hold_what_the_deployment_needs(overlay: str) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in render(overlay)}
    assert {
        ("Deployment", "detectx-bot"),
        ("Service", "detectx-bot"),
        ("Ingress", "detectx-bot"),
        ("PodDisruptionBudget", "detectx-bot"),
        ("HorizontalPodAutoscaler", "detectx-bot"),
        ("Deployment", "detectx-tfserving"),
        ("Service", "detectx-tfserving-headless"),
        ("HorizontalPodAutoscaler", "detectx-tfserving"),
        ("Job", "detectx-db-upgrade"),
        ("ConfigMap", "detectx-bot"),
    } <= kinds
    if overlay == "demo":
        assert ("StatefulSet", "detectx-mysql") in kinds
    else:
        assert ("Service", "detectx-database") in kinds
        assert not of_kind(render(overlay), "StatefulSet")


def test_the_bot_runs_three_replicas_and_the_budget_keeps_most_of_them(
    objects: tuple[Manifest, ...],
) -> None:
    bot = named(objects, "Deployment", "detectx-bot")
    assert bot["spec"]["replicas"] == 3
    assert named(objects, "HorizontalPodAutoscaler", "detectx-bot")["spec"]["minReplicas"] == 3
    pdb = named(objects, "PodDisruptionBudget", "detectx-bot")["spec"]
    assert 1 <= pdb["minAvailable"] < bot["spec"]["replicas"]


def test_service_selectors_match_pod_labels_and_named_ports(
    objects: tuple[Manifest, ...],
) -> None:
    workloads = of_kind(objects, *WORKLOADS)
    for service in of_kind(objects, "Service"):
        spec = service["spec"]
        if spec.get("type") == "ExternalName":
            continue
        name = service["metadata"]["name"]
        matching = [
            w
            for w in workloads
            if selects(spec["selector"], w["spec"]["template"]["metadata"]["labels"])
        ]
        assert matching, f"Service {name} selects no pods"
        for workload in matching:
            port_names = {p["name"] for c in containers(workload) for p in c.get("ports", [])}
            for port in spec["ports"]:
                target = port.get("targetPort", port["port"])
                if isinstance(target, str):
                    assert target in port_names, f"Service {name}: no container port {target}"


def test_deployment_selectors_pdbs_and_autoscalers_point_at_real_workloads(
    objects: tuple[Manifest, ...],
) -> None:
    workloads = of_kind(objects, *WORKLOADS)
    for workload in of_kind(objects, "Deployment", "StatefulSet"):
        selector = workload["spec"]["selector"]["matchLabels"]
        assert selects(selector, workload["spec"]["template"]["metadata"]["labels"])
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(
            selects(selector, w["spec"]["template"]["metadata"]["labels"]) for w in workloads
        )
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        workload = named(objects, target["kind"], target["name"])
        for container in pod_spec(workload)["containers"]:
            assert "cpu" in container["resources"]["requests"], "CPU autoscaling needs requests"


def test_the_ingress_sends_the_webhook_path_to_the_bot_service_over_tls(
    objects: tuple[Manifest, ...],
) -> None:
    ingress = named(objects, "Ingress", "detectx-bot")["spec"]
    config = named(objects, "ConfigMap", "detectx-bot")["data"]
    (rule,) = ingress["rules"]
    assert rule["host"] in ingress["tls"][0]["hosts"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == config["WEBHOOK_PATH"]
    webhook = urlsplit(config["WEBHOOK_URL"])
    assert (webhook.scheme, webhook.hostname, webhook.path) == (
        "https",
        rule["host"],
        config["WEBHOOK_PATH"],
    )
    backend = path["backend"]["service"]
    service = named(objects, "Service", backend["name"])
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


async def test_bot_probes_hit_routes_of_the_bots_server_on_its_port(
    objects: tuple[Manifest, ...],
) -> None:
    container = bot_container(objects)
    config = named(objects, "ConfigMap", "detectx-bot")["data"]
    services = SimpleNamespace(settings=SimpleNamespace(webhook_path=config["WEBHOOK_PATH"]))
    app = create_web_app(cast(Any, None), cast(Any, services), webhook=True)
    (http_port,) = [p for p in container["ports"] if p["name"] == "http"]
    assert str(http_port["containerPort"]) == config["LISTEN_PORT"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] == "http"
        url = urlsplit(get["path"])
        assert url.query in {"probe=live", "probe=ready"}, probe
        match = await app.router.resolve(make_mocked_request("GET", get["path"]))
        assert match.http_exception is None, f"{probe}: {get['path']} is not a route"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz?probe=ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz?probe=live"


def _bot_env_names(objects: tuple[Manifest, ...], overlay: str) -> set[str]:
    container = bot_container(objects)
    names = {e["name"] for e in container.get("env", [])}
    for source in container["envFrom"]:
        if "configMapRef" in source:
            names |= set(named(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
        elif source["secretRef"]["name"] not in EXTERNAL_SECRETS.get(overlay, set()):
            secret = named(objects, "Secret", source["secretRef"]["name"])
            names |= set(secret.get("data", {})) | set(secret.get("stringData", {}))
        else:
            names |= BOT_SECRET_KEYS
    return names


def test_bot_environment_names_are_settings_and_its_values_parse(
    objects: tuple[Manifest, ...], overlay: str
) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    names = _bot_env_names(objects, overlay)
    assert names - RUNTIME_ENV <= fields, names - RUNTIME_ENV - fields
    assert names >= BOT_SECRET_KEYS
    data = named(objects, "ConfigMap", "detectx-bot")["data"]
    assert not set(data) & BOT_SECRET_KEYS, "secrets belong in the Secret"
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in data.items()})  # type: ignore[call-arg]
    assert settings.webhook_mode


def test_tfserving_address_resolves_to_every_pod_of_the_headless_service(
    objects: tuple[Manifest, ...],
) -> None:
    address = named(objects, "ConfigMap", "detectx-bot")["data"]["TFSERVING_ADDRESS"]
    assert address.startswith("dns:///")
    host, _, port = address.removeprefix("dns:///").rpartition(":")
    service = named(objects, "Service", host)["spec"]
    assert service["clusterIP"] == "None"
    (grpc,) = [p for p in service["ports"] if p["port"] == int(port)]
    tfserving = named(objects, "Deployment", "detectx-tfserving")
    assert selects(service["selector"], tfserving["spec"]["template"]["metadata"]["labels"])
    (server,) = pod_spec(tfserving)["containers"]
    assert f"--port={port}" in server["args"]
    assert grpc["targetPort"] in {p["name"] for p in server["ports"]}


def test_config_maps_and_secrets_that_pods_use_exist(
    objects: tuple[Manifest, ...], overlay: str
) -> None:
    config_maps = {o["metadata"]["name"] for o in of_kind(objects, "ConfigMap")}
    secrets = {o["metadata"]["name"] for o in of_kind(objects, "Secret")}
    secrets |= EXTERNAL_SECRETS.get(overlay, set())
    for workload in of_kind(objects, *WORKLOADS):
        for container in containers(workload):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                else:
                    assert source["secretRef"]["name"] in secrets
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    data = named(objects, "ConfigMap", ref["name"])["data"]
                    assert ref["key"] in data
        for volume in pod_spec(workload).get("volumes", []):
            if "configMap" in volume:
                data = named(objects, "ConfigMap", volume["configMap"]["name"])["data"]
                assert {item["key"] for item in volume["configMap"].get("items", [])} <= set(data)


def test_the_model_download_and_the_migration_run_real_detectbot_commands(
    objects: tuple[Manifest, ...],
) -> None:
    (download,) = pod_spec(named(objects, "Deployment", "detectx-tfserving"))["initContainers"]
    (upgrade,) = pod_spec(named(objects, "Job", "detectx-db-upgrade"))["containers"]
    bot = bot_container(objects)
    assert download["image"] == upgrade["image"] == bot["image"]
    parser = build_parser()
    assert parser.parse_args(bot["args"]).command == "run"
    args = parser.parse_args(upgrade["args"])
    assert (args.command, args.db_command) == ("db", "upgrade")
    args = parser.parse_args(download["args"])
    assert (args.command, args.model_command) == ("model", "download")
    env = {e["name"]: e for e in download["env"]}
    (server,) = pod_spec(named(objects, "Deployment", "detectx-tfserving"))["containers"]
    assert f"--model_base_path={env['MODEL_PATH']['value']}" in server["args"]
    model_name = named(objects, "ConfigMap", "detectx-bot")["data"]["MODEL_NAME"]
    assert f"--model_name={model_name}" in server["args"]


def test_containers_run_as_non_root_on_a_read_only_root_filesystem_with_pinned_images(
    objects: tuple[Manifest, ...],
) -> None:
    for workload in of_kind(objects, *WORKLOADS):
        pod_security = pod_spec(workload)["securityContext"]
        assert pod_security["runAsNonRoot"] is True
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault"
        for container in containers(workload):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            if workload["kind"] != "StatefulSet":
                assert security["readOnlyRootFilesystem"] is True, container["name"]
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image
            assert "memory" in container["resources"]["limits"]


def test_tfserving_monitoring_config_is_the_one_compose_uses() -> None:
    kubernetes_copy = KUBERNETES / "base" / "tfserving-monitoring.config"
    compose_copy = KUBERNETES.parent / "tfserving" / "monitoring.config"
    assert kubernetes_copy.read_text() == compose_copy.read_text()
