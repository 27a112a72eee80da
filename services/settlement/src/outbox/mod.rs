//! The settlement service's outbox: what it tells other services (a hospital payable, its
//! reversal, a premium subsidy), as `doudi.settlement.v1.SettlementEvent` messages written in
//! the same transaction as the change they announce, each under a unique key the receiver
//! deduplicates on. The payment service's relay delivers them.

pub mod legacy;
pub mod relay;
pub mod store;

use doudi_proto::settlement::v1::SettlementEvent;
pub use doudi_proto::settlement::v1::settlement_event::Event;
use prost::Message;

/// Topics: which receiver a message is for.
pub const HOSPITAL_PAYABLE: &str = "hospital-payable";
pub const PREMIUM_SUBSIDY: &str = "premium-subsidy";

/// The one encoding of an outbox payload.
pub fn encode(event: Event) -> Vec<u8> {
    SettlementEvent { event: Some(event) }.encode_to_vec()
}

/// The one decoding of an outbox payload; `None` if it is not a `SettlementEvent` with an event.
pub fn decode(payload: &[u8]) -> Option<Event> {
    SettlementEvent::decode(payload).ok()?.event
}
