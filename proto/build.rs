//! Compiles `doudi/**/*.proto` without a protoc binary: protox parses them into a descriptor set,
//! which feeds prost/tonic code generation, pbjson (canonical proto3 JSON) and gRPC reflection.
use prost::Message;
use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "doudi/eligibility/v1/eligibility.proto",
    "doudi/eligibility/v1/procedure.proto",
    "doudi/eligibility/v1/staff.proto",
    "doudi/settlement/v1/settlement.proto",
    "doudi/settlement/v1/events.proto",
    "doudi/hospital/v1/hospital.proto",
    "doudi/payment/v1/payment.proto",
    "doudi/relief/v1/relief.proto",
];

const MASKED_DEBUG: &[&str] = &[
    ".doudi.eligibility.v1.GetCoverageRequest",
    ".doudi.eligibility.v1.MemberInput",
    ".doudi.eligibility.v1.RegisterHouseholdRequest",
    ".doudi.eligibility.v1.PremiumSubsidyPerson",
    ".doudi.eligibility.v1.CorrectHouseholdRequest",
    ".doudi.eligibility.v1.MemberChangeRequest",
    ".doudi.eligibility.v1.RecordReviewRequest",
    ".doudi.eligibility.v1.TakeStepRequest",
    ".doudi.eligibility.v1.CheckStaffTokenRequest",
    ".doudi.eligibility.v1.StaffHolder",
    ".doudi.settlement.v1.Bill",
    ".doudi.settlement.v1.YearTotalsRequest",
    ".doudi.settlement.v1.PremiumSubsidyEntry",
    ".doudi.hospital.v1.YearTotalsRequest",
    ".doudi.settlement.v1.PremiumSubsidyRecorded",
    ".doudi.eligibility.v1.HouseholdPayment",
    ".doudi.eligibility.v1.PaymentAccount",
    ".doudi.payment.v1.Payee",
    ".doudi.relief.v1.Person",
    ".doudi.relief.v1.SubmitCaseRequest",
    ".doudi.relief.v1.RecordIntakeRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let descriptors = protox::compile(PROTOS, ["."])?;
    let descriptor_bytes = descriptors.encode_to_vec();
    fs::write(out_dir.join("doudi_descriptor.bin"), &descriptor_bytes)?;

    // Each crate compiles only the side of the contracts it uses (features `client`, `server`).
    tonic_prost_build::configure()
        // Messages that carry a raw national ID, name or account get a masking `Debug` instead
        // (src/masked_debug.rs): a logged request never shows them.
        .skip_debug(MASKED_DEBUG)
        .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(env::var_os("CARGO_FEATURE_SERVER").is_some())
        .emit_rerun_if_changed(false)
        .compile_fds(descriptors)?;

    // Every field is emitted, defaults included: a JSON reader should never have to guess
    // whether a missing amount means zero. Unknown fields are refused, so a misspelt field
    // never passes silently.
    pbjson_build::Builder::new().register_descriptors(&descriptor_bytes)?.emit_fields().build(&[".doudi"])?;

    println!("cargo:rerun-if-changed=doudi");
    Ok(())
}
