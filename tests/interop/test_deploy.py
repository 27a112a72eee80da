"""The Kubernetes manifests render with kustomize and pass the Kubernetes schemas (strict)."""

import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_county_overlay_renders_and_validates(tmp_path):
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is required to render deploy/kubernetes (it is on this project's machines)")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy/kubernetes/overlays/county")], capture_output=True, text=True, check=True
    ).stdout
    for kind in ["Deployment", "Service", "PodDisruptionBudget", "ConfigMap", "Namespace"]:
        assert f"kind: {kind}" in rendered
    # Readiness follows each service's health: the inner ports (TLS only) through `doudi health`,
    # the gateway's plain hospital port through Kubernetes' own gRPC probe.
    assert "service: doudi.hospital.v1.HospitalSettlement" in rendered
    for service in ["doudi.eligibility.v1.Eligibility", "doudi.settlement.v1.Settlements"]:
        assert re.search(r"- health\s+- --addr\s+- 127\.0\.0\.1:\d+\s+- --service\s+- " + re.escape(service), rendered), rendered
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(rendered)
    checked = subprocess.run(
        ["kubernetes-validate", "--strict", "-k", "1.32.0", str(manifest)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
