//! Who may call each method of the eligibility service: the one place to read it. A service is
//! named by its client certificate; staff by their token. Township scope (a township's staff see
//! and change their own township only) is applied by the methods themselves.

use doudi_runtime::access::service::{ALL, PAYMENT, RELIEF, SETTLEMENT};
use doudi_runtime::access::{AllowList, Rule, StaffMay};

const NO_SERVICE: &[&str] = &[];
pub const ALLOW_LIST: AllowList = AllowList(&[
    // A settlement asks a patient's category; staff look a person up (township: their own).
    Rule { method: "/doudi.eligibility.v1.Eligibility/GetCoverage", services: &[SETTLEMENT], staff: StaffMay::Call },
    Rule { method: "/doudi.eligibility.v1.Eligibility/RegisterHousehold", services: NO_SERVICE, staff: StaffMay::Call },
    Rule { method: "/doudi.eligibility.v1.Eligibility/GetHousehold", services: NO_SERVICE, staff: StaffMay::Call },
    // Every recipient's full national ID: the payers, or the county.
    Rule {
        method: "/doudi.eligibility.v1.Eligibility/ListPremiumSubsidyPersons",
        services: &[SETTLEMENT, PAYMENT],
        staff: StaffMay::CountyOnly,
    },
    Rule {
        method: "/doudi.eligibility.v1.DibaoProcedure/StreamBenefitRoll",
        services: &[SETTLEMENT, PAYMENT],
        staff: StaffMay::CountyOnly,
    },
    // Accounts in full, to pay: the payment service (again, what a bank returned) and relief
    // (its grants), nobody else.
    Rule {
        method: "/doudi.eligibility.v1.DibaoProcedure/GetPaymentAccounts",
        services: &[PAYMENT, RELIEF],
        staff: StaffMay::No,
    },
    Rule { method: "/doudi.eligibility.v1.DibaoProcedure/GetNoticeList", services: NO_SERVICE, staff: StaffMay::Call },
    Rule {
        method: "/doudi.eligibility.v1.DibaoProcedure/SubmitApplication",
        services: NO_SERVICE,
        staff: StaffMay::Call,
    },
    Rule { method: "/doudi.eligibility.v1.DibaoProcedure/TakeStep", services: NO_SERVICE, staff: StaffMay::Call },
    Rule { method: "/doudi.eligibility.v1.DibaoProcedure/GetApplication", services: NO_SERVICE, staff: StaffMay::Call },
    Rule { method: "/doudi.eligibility.v1.DibaoProcedure/ListWaiting", services: NO_SERVICE, staff: StaffMay::Call },
    Rule {
        method: "/doudi.eligibility.v1.DibaoProcedure/SetTownshipQuota",
        services: NO_SERVICE,
        staff: StaffMay::CountyOnly,
    },
    Rule {
        method: "/doudi.eligibility.v1.DibaoProcedure/SetPoorVillage",
        services: NO_SERVICE,
        staff: StaffMay::CountyOnly,
    },
    Rule { method: "/doudi.eligibility.v1.DibaoProcedure/RecordReview", services: NO_SERVICE, staff: StaffMay::Call },
    Rule {
        method: "/doudi.eligibility.v1.DibaoProcedure/RecordMemberChange",
        services: NO_SERVICE,
        staff: StaffMay::Call,
    },
    Rule {
        method: "/doudi.eligibility.v1.DibaoProcedure/CorrectHousehold",
        services: NO_SERVICE,
        staff: StaffMay::Call,
    },
    // The suite's other services verify their callers' staff tokens here; staff do not.
    Rule { method: "/doudi.eligibility.v1.StaffDirectory/CheckStaffToken", services: &ALL, staff: StaffMay::No },
]);
