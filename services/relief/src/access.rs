//! Who may call each method of the relief service: the one place to read it. Relief is decided
//! by people: every method is for staff (township staff within their township, checked by the
//! methods; county staff everywhere); the console reaches them through the gateway with the
//! member of staff's own token, so no service certificate is admitted on its own.

use doudi_runtime::access::{AllowList, Rule, StaffMay};

const NO_SERVICE: &[&str] = &[];
const fn staff(method: &'static str) -> Rule {
    Rule { method, services: NO_SERVICE, staff: StaffMay::Call }
}

pub const ALLOW_LIST: AllowList = AllowList(&[
    staff("/doudi.relief.v1.Relief/SubmitCase"),
    staff("/doudi.relief.v1.Relief/GetCase"),
    staff("/doudi.relief.v1.Relief/AcceptCase"),
    staff("/doudi.relief.v1.Relief/ReviewCase"),
    // Township staff within 3 S, county staff within 12 S or with a special approval: the
    // method decides by the member of staff's role.
    staff("/doudi.relief.v1.Relief/ApproveCase"),
    staff("/doudi.relief.v1.Relief/GrantEmergency"),
    staff("/doudi.relief.v1.Relief/RejectCase"),
    staff("/doudi.relief.v1.Relief/AddDocuments"),
    staff("/doudi.relief.v1.Relief/ListCases"),
    staff("/doudi.relief.v1.Relief/HouseholdGrants"),
    staff("/doudi.relief.v1.Relief/GetBudget"),
    staff("/doudi.relief.v1.Relief/RecordIntake"),
    staff("/doudi.relief.v1.Relief/ListReferrals"),
    staff("/doudi.relief.v1.Relief/AnswerReferral"),
    staff("/doudi.relief.v1.Relief/CloseReferral"),
]);
