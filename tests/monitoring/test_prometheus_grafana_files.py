"""docker/prometheus and docker/grafana load, and every path, host and name in them leads somewhere:
to a file of the checkout through docker/compose.yaml's mounts, to a compose service, to the
provisioned data source. The alert rules pass their own unit tests (alerts_test.yml) where
Prometheus' promtool is installed."""

import json
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml
from django.conf import settings

from tests.front.test_production_shape import interpolate

DOCKER = Path(settings.BASE_DIR) / "docker"
PROMETHEUS = DOCKER / "prometheus" / "prometheus.yml"
DATASOURCES = DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARDS = DOCKER / "grafana" / "provisioning" / "dashboards" / "reviewapp.yml"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "reviewapp.json"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def service(name: str) -> dict:
    return compose()["services"][name]


def on_host(name: str, path: str) -> Path:
    """The file of the checkout that compose service `name` sees at `path` (through a bind mount)."""
    path = PurePosixPath(path)
    for volume in service(name).get("volumes", []):
        source, target, *_mode = volume.split(":")
        if source.startswith(".") and path.is_relative_to(target):
            return DOCKER / source / path.relative_to(target)
    raise AssertionError(f"{name} sees nothing of the checkout at {path}")


def read_only_mounts(name: str) -> list[str]:
    return [v for v in service(name)["volumes"] if v.startswith(".")]


def test_prometheus_yml_loads_and_its_files_are_mounted_from_the_checkout():
    config = yaml.safe_load(PROMETHEUS.read_text())
    command = service("prometheus")["command"]

    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    assert on_host("prometheus", "/etc/prometheus/prometheus.yml") == PROMETHEUS
    assert config["rule_files"]
    for rule_file in config["rule_files"]:
        host = on_host("prometheus", rule_file)
        assert host.is_file(), rule_file
        assert yaml.safe_load(host.read_text())["groups"]
    # What Prometheus is given may not be changed by it.
    assert all(mount.endswith(":ro") for mount in read_only_mounts("prometheus"))


def test_prometheus_scrapes_the_web_with_the_metrics_token_every_15_seconds():
    config = yaml.safe_load(PROMETHEUS.read_text())
    [scrape] = config["scrape_configs"]

    assert scrape["metrics_path"] == "/metrics"
    assert (scrape.get("scrape_interval") or config["global"]["scrape_interval"]) == "15s"
    [static] = scrape["static_configs"]
    [target] = static["targets"]
    host, port = target.split(":")
    assert host in compose()["services"]
    assert service(host)["environment"]["PORT"] == port
    # The token is a file compose makes from METRICS_TOKEN, the variable the web reads.
    assert scrape["authorization"]["type"] == "Bearer"
    path = PurePosixPath(scrape["authorization"]["credentials_file"])
    assert path.parent == PurePosixPath("/run/secrets")
    assert compose()["secrets"][path.name] == {"environment": "METRICS_TOKEN"}
    assert path.name in [s if isinstance(s, str) else s["source"] for s in service("prometheus")["secrets"]]
    assert "credentials" not in scrape["authorization"]  # never the token itself


def test_grafana_provisioning_loads_and_points_at_prometheus_and_the_dashboard():
    datasources = yaml.safe_load(DATASOURCES.read_text())
    providers = yaml.safe_load(DASHBOARDS.read_text())
    grafana = service("grafana")

    # Both files are where Grafana reads provisioning from.
    assert on_host("grafana", "/etc/grafana/provisioning/datasources/prometheus.yml") == DATASOURCES
    assert on_host("grafana", "/etc/grafana/provisioning/dashboards/reviewapp.yml") == DASHBOARDS
    assert all(mount.endswith(":ro") for mount in read_only_mounts("grafana"))

    [source] = datasources["datasources"]
    assert datasources["apiVersion"] == 1 and source["type"] == "prometheus"
    url = re.fullmatch(r"http://(?P<host>[\w-]+):(?P<port>\d+)", source["url"])
    assert url and url["host"] in compose()["services"], source["url"]
    assert any(port.endswith(f":{url['port']}") for port in service(url["host"])["ports"])
    assert (
        source["jsonData"]["timeInterval"]
        == yaml.safe_load(PROMETHEUS.read_text())["global"]["scrape_interval"]
    )

    [provider] = providers["providers"]
    assert providers["apiVersion"] == 1 and provider["type"] == "file"
    folder = on_host("grafana", provider["options"]["path"])
    assert folder.is_dir() and DASHBOARD.parent == folder
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert on_host("grafana", home) == DASHBOARD

    # Every query of the dashboard goes to the provisioned data source.
    board = json.loads(DASHBOARD.read_text())
    uids = {
        target.get("datasource", panel.get("datasource"))["uid"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    } | {variable["datasource"]["uid"] for variable in board["templating"]["list"]}
    assert uids == {source["uid"]}


def test_the_dashboard_is_one_grafana_accepts():
    board = json.loads(DASHBOARD.read_text())

    assert board["uid"] == "reviewapp" and board["id"] is None and board["schemaVersion"] >= 39
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["type"] in ("row", "text") or (panel["targets"] and panel["description"]), panel["title"]
        refs = [target["refId"] for target in panel.get("targets", [])]
        assert len(refs) == len(set(refs)), panel["title"]
    # The variables the brief's panels filter by.
    assert [v["name"] for v in board["templating"]["list"]] == ["app", "version"]
    # No two panels overlap.
    cells = [
        (x, y)
        for panel in board["panels"]
        for x in range(panel["gridPos"]["x"], panel["gridPos"]["x"] + panel["gridPos"]["w"])
        for y in range(panel["gridPos"]["y"], panel["gridPos"]["y"] + panel["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells))


def test_compose_pins_the_images_binds_loopback_and_asks_for_the_grafana_password():
    for name in ("prometheus", "grafana"):
        image = service(name)["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+", image), image
        # Unless docker/.env says otherwise, only this machine reaches them, like the web.
        [port] = service(name)["ports"]
        assert interpolate(port, {}).startswith("127.0.0.1:"), port
        assert service(name)["volumes"][-1].split(":")[0] in compose()["volumes"]
    password = service("grafana")["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert interpolate(password, {"GRAFANA_ADMIN_PASSWORD": "s3cret"}) == "s3cret"
    with pytest.raises(AssertionError, match="GRAFANA_ADMIN_PASSWORD"):
        interpolate(password, {})


def test_the_alert_rules_pass_their_unit_tests():
    done = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yml"],
        cwd=DOCKER / "prometheus",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
