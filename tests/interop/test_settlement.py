"""One-stop settlement as a hospital's billing system meets it: Python grpcio stubs generated from
proto/ for `doudi.hospital.v1.HospitalSettlement`, and plain curl against the HTTP/JSON endpoint.
Both settle policy.md's worked examples B1 and B2 exactly."""

import json
import subprocess

import grpc
import pytest
from grpc_status import rpc_status
from google.rpc import error_details_pb2


@pytest.fixture(scope="module")
def hospital(proto_stubs):
    from doudi.hospital.v1 import hospital_pb2, hospital_pb2_grpc
    from doudi.settlement.v1 import settlement_pb2

    return hospital_pb2, hospital_pb2_grpc, settlement_pb2


@pytest.fixture(scope="module")
def municipal_key(suite):
    """A MUNICIPAL hospital added while the suite runs: its key works on its first request."""
    from conftest import DOUDI

    out = subprocess.run(
        [DOUDI, "hospital", "add", "--code", "PY-CITY", "--name", "市人民医院", "--level", "MUNICIPAL", "--data-dir", suite["data"]],
        capture_output=True, text=True, env=suite["env"], timeout=30,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[-1]


def curl(suite, method, path, key=None, body=None):
    args = ["curl", "-s", "-X", method, "-w", "\n%{http_code}", f"http://{suite['http']}{path}"]
    if key:
        args += ["-H", f"Authorization: Bearer {key}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text, status = out.stdout.rsplit("\n", 1)
    return int(status), json.loads(text)


def test_b1_over_grpcio_then_b2_over_curl(suite, hospital, municipal_key):
    hpb, hpb_grpc, spb = hospital
    with grpc.insecure_channel(suite["gateway"]) as channel:
        client = hpb_grpc.HospitalSettlementStub(channel)
        bill = spb.Bill(
            bill_no="PY-B1", national_id=suite["demo_id"], visit_type=spb.INPATIENT,
            admitted_on="2016-03-01", discharged_on="2016-03-10", total_fen=2_000_000, in_policy_fen=1_800_000,
        )
        auth = [("authorization", f"Bearer {suite['demo_key']}")]
        settled = client.Settle(bill, metadata=auth, timeout=10)
        assert settled.status == spb.SETTLED
        assert (settled.basic_insurance_fen, settled.critical_illness_fen, settled.medical_assistance_fen,
                settled.patient_copay_fen) == (1_327_500, 111_250, 252_875, 308_375)
        assert [t.payer for t in settled.trace] == [spb.BASIC, spb.CRITICAL_ILLNESS, spb.MEDICAL_ASSISTANCE]
        assert client.Settle(bill, metadata=auth, timeout=10) == settled

    b2 = {"billNo": "PY-B2", "nationalId": suite["demo_id"], "visitType": "INPATIENT", "admittedOn": "2016-08-20",
          "dischargedOn": "2016-09-02", "totalFen": "9000000", "inPolicyFen": 8500000}
    status, body = curl(suite, "POST", "/v1/settlements", municipal_key, b2)
    assert status == 200, body
    assert body["status"] == "SETTLED" and body["category"] == "DIBAO_2"
    assert (body["basicInsuranceFen"], body["criticalIllnessFen"], body["medicalAssistanceFen"],
            body["patientCopayFen"]) == ("5052000", "1724000", "1206800", "1017200")
    status, again = curl(suite, "GET", f"/v1/settlements/{body['settlementId']}", municipal_key)
    assert (status, again) == (200, body)
    status, totals = curl(suite, "POST", "/v1/patients:yearTotals", municipal_key, {"nationalId": suite["demo_id"], "year": 2016})
    assert status == 200, totals
    assert totals["medicalAssistancePaidFen"] == str(252_875 + 1_206_800)


def test_errors_are_the_same_over_both_transports(suite, hospital):
    hpb, hpb_grpc, spb = hospital
    with grpc.insecure_channel(suite["gateway"]) as channel:
        client = hpb_grpc.HospitalSettlementStub(channel)
        bad = spb.Bill(bill_no="bad no", national_id=suite["demo_id"], visit_type=spb.INPATIENT,
                       admitted_on="2016-03-01", discharged_on="2016-03-10", total_fen=100, in_policy_fen=200)
        with pytest.raises(grpc.RpcError) as raised:
            client.Quote(bad, metadata=[("authorization", f"Bearer {suite['demo_key']}")], timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        detail = error_details_pb2.BadRequest()
        assert rpc_status.from_call(raised.value).details[0].Unpack(detail)
        grpc_fields = [v.field for v in detail.field_violations]
        with pytest.raises(grpc.RpcError) as raised:
            client.Quote(bad, timeout=10)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED

    body = {"billNo": "bad no", "nationalId": suite["demo_id"], "visitType": "INPATIENT", "admittedOn": "2016-03-01",
            "dischargedOn": "2016-03-10", "totalFen": "100", "inPolicyFen": "200"}
    status, answer = curl(suite, "POST", "/v1/settlements:quote", suite["demo_key"], body)
    assert status == 400 and answer["code"] == "INVALID_ARGUMENT"
    assert [d["field"] for d in answer["details"]] == grpc_fields == ["billNo", "inPolicyFen"]
    status, answer = curl(suite, "POST", "/v1/settlements:quote", None, body)
    assert (status, answer["code"]) == (401, "UNAUTHENTICATED")
    status, answer = curl(suite, "POST", "/v1/settlements", suite["demo_key"], {**body, "totlaFen": "1"})
    assert status == 400 and answer["details"][0]["field"] == "totlaFen"


def test_grpcurl_lists_the_hospital_service(suite):
    listed = subprocess.run(["grpcurl", "-plaintext", suite["gateway"], "list"], capture_output=True, text=True, timeout=30)
    assert "doudi.hospital.v1.HospitalSettlement" in listed.stdout, listed.stderr


def test_the_settlement_port_takes_bills_from_the_gateway_only(suite, hospital):
    """Anything that reaches the settlement port directly and claims a hospital is refused; with the
    gateway's certificate (the caller it is for) the same request is answered."""
    from conftest import tls_credentials
    from doudi.settlement.v1 import settlement_pb2_grpc

    _, _, spb = hospital
    claim = spb.SettleRequest(
        hospital=spb.Hospital(code="DEMO-H1", level=spb.COUNTY),
        bill=spb.Bill(bill_no="PY-DIRECT", national_id=suite["demo_id"], visit_type=spb.INPATIENT,
                      admitted_on="2016-03-01", discharged_on="2016-03-10", total_fen=2_000_000, in_policy_fen=1_800_000),
    )
    for service, code in [(None, grpc.StatusCode.UNAUTHENTICATED), ("eligibility", grpc.StatusCode.PERMISSION_DENIED)]:
        with grpc.secure_channel(suite["settlement"], tls_credentials(suite, service)) as channel:
            with pytest.raises(grpc.RpcError) as raised:
                settlement_pb2_grpc.SettlementsStub(channel).Quote(claim, timeout=10)
            assert raised.value.code() == code, service
    with grpc.secure_channel(suite["settlement"], tls_credentials(suite, "gateway")) as channel:
        quote = settlement_pb2_grpc.SettlementsStub(channel).Quote(claim, timeout=10)
        assert quote.medical_assistance_fen > 0
