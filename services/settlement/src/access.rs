//! Who may call each method of the settlement service: the one place to read it. Bills come only
//! from the gateway, which authenticated the hospital by its API key and passes it on; nobody
//! else can claim to be a hospital. Premium subsidies are queued by county staff.

use doudi_runtime::access::service::GATEWAY;
use doudi_runtime::access::{AllowList, Rule, StaffMay};

const FROM_GATEWAY: &[&str] = &[GATEWAY];

pub const ALLOW_LIST: AllowList = AllowList(&[
    Rule { method: "/doudi.settlement.v1.Settlements/Quote", services: FROM_GATEWAY, staff: StaffMay::No },
    Rule { method: "/doudi.settlement.v1.Settlements/Settle", services: FROM_GATEWAY, staff: StaffMay::No },
    Rule { method: "/doudi.settlement.v1.Settlements/Reverse", services: FROM_GATEWAY, staff: StaffMay::No },
    Rule { method: "/doudi.settlement.v1.Settlements/GetSettlement", services: FROM_GATEWAY, staff: StaffMay::No },
    Rule { method: "/doudi.settlement.v1.Settlements/FindSettlement", services: FROM_GATEWAY, staff: StaffMay::No },
    Rule { method: "/doudi.settlement.v1.Settlements/YearTotals", services: FROM_GATEWAY, staff: StaffMay::No },
    Rule { method: "/doudi.settlement.v1.Settlements/Reconcile", services: FROM_GATEWAY, staff: StaffMay::No },
    Rule {
        method: "/doudi.settlement.v1.Settlements/RecordPremiumSubsidies",
        services: &[],
        staff: StaffMay::CountyOnly,
    },
]);
