//! Who may call each method of the payment service: the one place to read it. Money moves on
//! county staff's word or a service's certificate; every answer masks accounts.

use doudi_runtime::access::service::{GATEWAY, RELIEF, SETTLEMENT};
use doudi_runtime::access::{AllowList, Rule, StaffMay};

const NO_SERVICE: &[&str] = &[];
pub const ALLOW_LIST: AllowList = AllowList(&[
    // Relief pays its grants here; county staff may instruct a payment by hand.
    Rule { method: "/doudi.payment.v1.Payments/SubmitInstruction", services: &[RELIEF], staff: StaffMay::CountyOnly },
    // The console (through the gateway) and county staff read.
    Rule {
        method: "/doudi.payment.v1.Payments/GetInstruction",
        services: &[GATEWAY, RELIEF],
        staff: StaffMay::CountyOnly,
    },
    Rule { method: "/doudi.payment.v1.Payments/ListInstructions", services: &[GATEWAY], staff: StaffMay::CountyOnly },
    Rule { method: "/doudi.payment.v1.Payments/GetFund", services: &[GATEWAY, RELIEF], staff: StaffMay::CountyOnly },
    Rule { method: "/doudi.payment.v1.Payments/HouseholdHistory", services: &[GATEWAY], staff: StaffMay::CountyOnly },
    Rule { method: "/doudi.payment.v1.Payments/ReconcileBatch", services: &[GATEWAY], staff: StaffMay::CountyOnly },
    // Only a person decides these.
    Rule { method: "/doudi.payment.v1.Payments/CancelInstruction", services: NO_SERVICE, staff: StaffMay::CountyOnly },
    Rule { method: "/doudi.payment.v1.Payments/ApprovePayroll", services: NO_SERVICE, staff: StaffMay::CountyOnly },
    // The settlement service's relay, and nobody else.
    Rule { method: "/doudi.payment.v1.Payments/DeliverSettlementEvent", services: &[SETTLEMENT], staff: StaffMay::No },
]);
