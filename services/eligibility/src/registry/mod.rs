//! The registry: households and their members as registered, a county's recipients imported
//! from its spreadsheet, and the poverty list matched against dibao households.

pub mod csv;
pub mod csv_file;
pub mod grpc;
pub mod household;
pub mod household_store;
pub mod import;
mod import_inserts;
pub mod import_plan;
mod import_run;
pub mod import_source;
pub mod import_store;
pub mod ops;
pub mod payment_accounts;
pub mod poverty;
pub mod poverty_store;
