"""The eligibility contract as seen by clients nobody on this project wrote.

A real `doudi up` (SQLite, demo county) on ephemeral ports (conftest.py); Python stubs generated
from proto/ at test time; the standard health, reflection and rich-error clients; grpcurl.
"""

import json
import pathlib
import re
import subprocess
import tempfile
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status
from google.rpc import error_details_pb2

from conftest import DOUDI, staff_credentials, tls_credentials

@pytest.fixture(scope="module")
def stubs(proto_stubs):
    from doudi.eligibility.v1 import eligibility_pb2, eligibility_pb2_grpc

    return eligibility_pb2, eligibility_pb2_grpc


@pytest.fixture
def channel(suite):
    """A county staff member's channel: TLS (the development CA) and the demo's staff token."""
    with grpc.secure_channel(suite["address"], staff_credentials(suite)) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield channel


def test_callers_are_authenticated_by_certificate_or_staff_token(stubs, suite):
    """Without credentials: UNAUTHENTICATED; another service's certificate: PERMISSION_DENIED;
    the settlement service's certificate (the caller GetCoverage is for) is answered."""
    pb, pb_grpc = stubs
    request = pb.GetCoverageRequest(national_id=suite["demo_id"], date="2016-03-10")
    with grpc.secure_channel(suite["address"], tls_credentials(suite)) as anonymous:
        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.EligibilityStub(anonymous).GetCoverage(request, timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with grpc.secure_channel(suite["address"], tls_credentials(suite, "gateway")) as gateway:
        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.EligibilityStub(gateway).GetCoverage(request, timeout=10)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with grpc.secure_channel(suite["address"], tls_credentials(suite, "settlement")) as settlement:
        answer = pb_grpc.EligibilityStub(settlement).GetCoverage(request, timeout=10)
        assert answer.category == pb.DIBAO_2
    with grpc.insecure_channel(suite["address"]) as plain:
        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.EligibilityStub(plain).GetCoverage(request, timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, "the port speaks TLS only"


def test_health_is_serving(channel):
    health = health_pb2_grpc.HealthStub(channel)
    for service in ["", "doudi.eligibility.v1.Eligibility"]:
        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_v1alpha_lists_and_describes_the_service(channel):
    database = ProtoReflectionDescriptorDatabase(channel)
    services = database.get_services()
    assert "doudi.eligibility.v1.Eligibility" in services
    file = database.FindFileContainingSymbol("doudi.eligibility.v1.Eligibility")
    assert file.package == "doudi.eligibility.v1"


def test_coverage_from_generated_client(stubs, suite, channel):
    pb, pb_grpc = stubs
    client = pb_grpc.EligibilityStub(channel)
    answer = client.GetCoverage(pb.GetCoverageRequest(national_id=suite["demo_id"], date="2016-03-10"), timeout=5)
    assert answer.category == pb.DIBAO_2
    assert [p.category for p in answer.categories] == [pb.DIBAO_2, pb.REGISTERED_POOR]
    assert answer.household_no == "DEMO-0002" and answer.registered
    before = client.GetCoverage(pb.GetCoverageRequest(national_id=suite["demo_id"], date="2014-01-01"), timeout=5)
    assert before.category == pb.NONE


def test_bad_input_carries_field_violations(stubs, channel):
    pb, pb_grpc = stubs
    client = pb_grpc.EligibilityStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        client.GetCoverage(pb.GetCoverageRequest(national_id="11010519491231002Y", date="2016-02-30"), timeout=5)
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert [v.field for v in bad_request.field_violations] == ["nationalId", "date"]


def test_register_household_round_trip(stubs, channel):
    pb, pb_grpc = stubs
    client = pb_grpc.EligibilityStub(channel)
    request = pb.RegisterHouseholdRequest(
        household_no="PY-1",
        township="城关镇",
        village="西村",
        members=[pb.MemberInput(national_id="11010519491231002X", name="赵一", relation=pb.HEAD, able_to_work=True)],
        monthly_income_fen=50000,
        bank_account="6228480000009999",
    )
    first = client.RegisterHousehold(request, timeout=5)
    assert first.bank_account_masked == "****9999"
    assert first.members[0].national_id_masked == "110105********002X"
    assert first.members[0].name_masked == "赵*"
    assert client.RegisterHousehold(request, timeout=5) == first
    request.monthly_income_fen += 1
    with pytest.raises(grpc.RpcError) as raised:
        client.RegisterHousehold(request, timeout=5)
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS


def grpcurl(suite, *args, token=True):
    """grpcurl as staff use it: TLS trusting the development CA, with the staff token."""
    tls = ["-cacert", str(suite["tls"] / "ca.crt")]
    auth = ["-H", f"authorization: Bearer {suite['token']}"] if token else []
    return subprocess.run(["grpcurl", *tls, *auth, *args], capture_output=True, text=True, timeout=30)


def grpcurl_public(*args):
    """The gateway's hospital port is plain unless `gateway.tls` gives it a certificate."""
    return subprocess.run(["grpcurl", "-plaintext", *args], capture_output=True, text=True, timeout=30)


def test_grpcurl_through_reflection(suite):
    listed = grpcurl(suite, suite["address"], "list", token=False)
    assert "doudi.eligibility.v1.Eligibility" in listed.stdout, listed.stderr
    request = json.dumps({"nationalId": suite["demo_id"], "date": "2016-03-10"})
    answer = grpcurl(suite, "-d", request, suite["address"], "doudi.eligibility.v1.Eligibility/GetCoverage")
    assert answer.returncode == 0, answer.stderr
    body = json.loads(answer.stdout)
    assert body["category"] == "DIBAO_2" and body["householdNo"] == "DEMO-0002"
    refused = grpcurl(suite, "-d", json.dumps({"nationalId": "123"}), suite["address"], "doudi.eligibility.v1.Eligibility/GetCoverage")
    assert refused.returncode != 0
    assert "InvalidArgument" in refused.stdout + refused.stderr
    assert "nationalId" in refused.stdout + refused.stderr


def test_reflection_lists_only_the_services_each_port_serves(suite):
    """grpcurl `list` (reflection v1alpha) on each port names what that port serves, nothing more."""
    common = {"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}
    eligibility = {"doudi.eligibility.v1.Eligibility", "doudi.eligibility.v1.DibaoProcedure", "doudi.eligibility.v1.StaffDirectory"}
    ports = [
        (suite["address"], eligibility),
        (suite["settlement"], {"doudi.settlement.v1.Settlements"}),
        (suite["payment"], {"doudi.payment.v1.Payments"}),
        (suite["relief"], {"doudi.relief.v1.Relief"}),
    ]
    for address, own in ports:
        listed = grpcurl(suite, address, "list", token=False)
        assert listed.returncode == 0, listed.stderr
        assert set(listed.stdout.split()) == own | common, (address, listed.stdout)
    listed = grpcurl_public(suite["gateway"], "list")
    assert set(listed.stdout.split()) == {"doudi.hospital.v1.HospitalSettlement"} | common, listed.stdout
    described = grpcurl_public(suite["gateway"], "describe", "doudi.hospital.v1.HospitalSettlement")
    assert described.returncode == 0 and "rpc Settle" in described.stdout, described.stderr


def test_the_printed_procedure_line_submits_an_application(suite):
    """The demo prints a grpcurl line with a county staff token; pasted, it opens an application."""
    line = next(l.strip() for l in suite["output"].splitlines() if "DibaoProcedure/SubmitApplication" in l)
    answer = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=30)
    assert answer.returncode == 0, answer.stderr
    application = json.loads(answer.stdout)
    assert application["stage"] == "SUBMITTED" and application["steps"][0]["role"] == "COUNTY"
    refused = subprocess.run(line.replace("Bearer st_", "Bearer st_9"), shell=True, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "Unauthenticated" in refused.stdout + refused.stderr


def test_payment_instructions_from_generated_client(proto_stubs, suite):
    """The payment contract from grpcio: a relief grant submitted with the relief service's
    certificate is made once (the same key again answers the same instruction; other content is
    ALREADY_EXISTS naming the key), accounts come back masked, and county staff read the fund."""
    from doudi.payment.v1 import payment_pb2 as pb, payment_pb2_grpc as pb_grpc

    grant = pb.SubmitInstructionRequest(
        source="relief", source_ref="interop-case-1", fund=pb.RELIEF, budget_year=2016,
        payee=pb.Payee(kind=pb.HOUSEHOLD, reference="DEMO-0001", name="张三", account="6228480000000011"),
        amount_fen=30000, purpose="emergency relief grant", reference="case interop-1")
    # The relief service's certificate, minted from the suite's CA as an operator would.
    out = tempfile.mkdtemp(prefix="doudi-relief-tls-")
    issued = subprocess.run([DOUDI, "tls", "issue", "--service", "relief", "--out", out, "--data-dir", suite["data"]],
                            capture_output=True, text=True, env=suite["env"], timeout=30)
    assert issued.returncode == 0, issued.stderr
    root = (suite["tls"] / "ca.crt").read_bytes()
    relief_tls = grpc.ssl_channel_credentials(root_certificates=root,
                                              private_key=pathlib.Path(out, "relief.key").read_bytes(),
                                              certificate_chain=pathlib.Path(out, "relief.crt").read_bytes())
    with grpc.secure_channel(suite["payment"], relief_tls) as relief:
        stub = pb_grpc.PaymentsStub(relief)
        first = stub.SubmitInstruction(grant, timeout=10)
        again = stub.SubmitInstruction(grant, timeout=10)
        assert first.id == again.id and first.state == pb.APPROVED, first
        assert first.payee.account == "****0011"
        grant.amount_fen = 40000
        with pytest.raises(grpc.RpcError) as raised:
            stub.SubmitInstruction(grant, timeout=10)
        assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert "relief/interop-case-1" in raised.value.details()
        status = rpc_status.from_call(raised.value)
        details = [d for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)]
        assert details, "the conflict carries a BadRequest naming the field"
    with grpc.secure_channel(suite["payment"], staff_credentials(suite)) as staff:
        fund = pb_grpc.PaymentsStub(staff).GetFund(pb.GetFundRequest(fund=pb.RELIEF, year=2016), timeout=10)
        assert fund.budget_fen > 0 and fund.committed_fen == 30000
        assert fund.available_fen == fund.budget_fen - fund.committed_fen - fund.paid_fen
    with grpc.secure_channel(suite["payment"], tls_credentials(suite)) as anonymous:
        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.PaymentsStub(anonymous).GetFund(pb.GetFundRequest(fund=pb.RELIEF, year=2016), timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_relief_from_generated_client(proto_stubs, suite):
    """Temporary relief from grpcio as the console would call it with a county token: an
    emergency grant is paid at once (an instruction in the payment service), its paperwork due in
    10 days; bad input is INVALID_ARGUMENT with a BadRequest naming the field."""
    import datetime

    from doudi.relief.v1 import relief_pb2 as rpb, relief_pb2_grpc as rpb_grpc
    from doudi.payment.v1 import payment_pb2 as pb, payment_pb2_grpc as pb_grpc

    today = datetime.date.today().isoformat()
    with grpc.secure_channel(suite["relief"], staff_credentials(suite)) as channel:
        relief = rpb_grpc.ReliefStub(channel)
        case = relief.SubmitCase(rpb.SubmitCaseRequest(
            kind=rpb.EMERGENCY, household_no="DEMO-0002", facts="突发重病", asked_fen=60000,
            occurred_on=today, documents=[rpb.Document(name="诊断证明", kind="医疗", sha256="ab" * 32)]), timeout=10)
        assert case.state == rpb.SUBMITTED and case.township
        granted = relief.GrantEmergency(rpb.GrantEmergencyRequest(case_id=case.id, amount_fen=60000), timeout=10)
        assert granted.state == rpb.EMERGENCY_GRANTED and granted.paperwork_due > today
        assert granted.grants[0].emergency and granted.grants[0].standard_fen > 0
        with pytest.raises(grpc.RpcError) as raised:
            relief.SubmitCase(rpb.SubmitCaseRequest(kind=rpb.EMERGENCY, household_no="DEMO-0002", facts="x",
                                                    asked_fen=0, occurred_on=today), timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(raised.value)
        bad = [d for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)]
        request = error_details_pb2.BadRequest()
        bad[0].Unpack(request)
        assert [v.field for v in request.field_violations] == ["askedFen"]
    with grpc.secure_channel(suite["payment"], staff_credentials(suite)) as channel:
        payments = pb_grpc.PaymentsStub(channel)
        for _ in range(100):
            found = payments.ListInstructions(pb.ListInstructionsRequest(fund=pb.RELIEF, limit=100), timeout=10)
            grants = [i for i in found.instructions if i.source == "relief" and i.source_ref == f"case:{case.id}:grant:1"]
            if grants:
                break
            time.sleep(0.05)
        assert len(grants) == 1 and grants[0].amount_fen == 60000 and grants[0].state == pb.APPROVED
