"""Shared fixtures: stubs compiled from proto/ by grpcio-tools, and one `doudi up` (SQLite,
demo county, every port ephemeral) for the whole session."""

import os
import pathlib
import re
import subprocess
import sys
import tempfile

import pytest

DOUDI = os.environ["DOUDI_BIN"]
PROTO_DIR = os.environ["DOUDI_PROTO_DIR"]


@pytest.fixture(scope="session")
def proto_stubs():
    """grpcio-tools compiles proto/ into importable modules (`doudi.<service>.v1.*_pb2`)."""
    from grpc_tools import protoc
    import grpc_tools

    out = tempfile.mkdtemp(prefix="doudi-stubs-")
    include = str(pathlib.Path(grpc_tools.__file__).parent / "_proto")
    protos = [str(p.relative_to(PROTO_DIR)) for p in pathlib.Path(PROTO_DIR).rglob("*.proto")]
    code = protoc.main(["protoc", f"-I{PROTO_DIR}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *protos])
    assert code == 0, "grpcio-tools could not compile proto/"
    sys.path.insert(0, out)
    return out


@pytest.fixture(scope="session")
def suite():
    data = tempfile.mkdtemp(prefix="doudi-interop-")
    ports = {f"DOUDI__{s}__LISTEN": "127.0.0.1:0" for s in ["ELIGIBILITY", "SETTLEMENT", "GATEWAY", "HTTP", "PAYMENT", "RELIEF"]}
    env = dict(os.environ, DOUDI__LOG__FILTER="warn", **ports)
    proc = subprocess.Popen([DOUDI, "up", "--data-dir", data], stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "press Ctrl-C" in line:
            break
    else:
        pytest.fail("doudi up exited early: " + "".join(lines))
    output = "".join(lines)
    yield {
        "data": data,
        "env": env,
        "address": re.search(r"eligibility\s+grpc://(\S+)", output).group(1),
        "settlement": re.search(r"settlement\s+grpc://(\S+)", output).group(1),
        "payment": re.search(r"payment\s+grpc://(\S+)", output).group(1),
        "relief": re.search(r"relief\s+grpc://(\S+)", output).group(1),
        # `doudi up` made the development CA and each service's certificate here.
        "tls": pathlib.Path(data) / "tls",
        "token": re.search(r"demo county staff token[^:]*: (st_\S+)", output).group(1),
        "gateway": re.search(r"gateway\s+grpc://(\S+)", output).group(1),
        "http": re.search(r"gateway\s+http://(\S+)", output).group(1),
        "demo_id": re.search(r"coverage (\d{17}[\dX]) --on", output).group(1),
        "demo_key": re.search(r"API key \(shown once\): (\S+)", output).group(1),
        "output": output,
    }
    proc.terminate()
    assert proc.wait(timeout=15) == 0, "doudi up did not stop cleanly on SIGTERM"


def tls_credentials(suite, service=None):
    """Server-side TLS trusting the suite's CA; with `service`, presenting that service's certificate."""
    import grpc

    tls = suite["tls"]
    root = (tls / "ca.crt").read_bytes()
    if service is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=(tls / f"{service}.key").read_bytes(),
        certificate_chain=(tls / f"{service}.crt").read_bytes(),
    )


def staff_credentials(suite):
    """What the console uses: server-side TLS and a staff token on every call."""
    import grpc

    return grpc.composite_channel_credentials(tls_credentials(suite), grpc.access_token_call_credentials(suite["token"]))
