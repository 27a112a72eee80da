//! Delivering the outbox to the payment service (`DeliverSettlementEvent`), with the suite's
//! relay (`doudi_runtime::relay`): retried with backoff until acknowledged.

use doudi_proto::payment::v1::DeliverSettlementEventRequest;
use doudi_proto::payment::v1::payments_client::PaymentsClient;
use doudi_proto::settlement::v1::SettlementEvent;
use doudi_runtime::relay::{PendingMessage, Receiver};
use prost::Message;
use std::time::Duration;
use tonic::transport::Channel;

#[derive(Debug, Clone)]
pub struct PaymentReceiver {
    client: PaymentsClient<Channel>,
    deadline: Duration,
}

impl PaymentReceiver {
    pub fn new(channel: Channel, deadline: Duration) -> Self {
        Self { client: PaymentsClient::new(channel), deadline }
    }
}

impl Receiver for PaymentReceiver {
    async fn deliver(&self, message: &PendingMessage) -> Result<(), tonic::Status> {
        // A payload that does not decode was written by this service: a bug to see, not to skip.
        let event = SettlementEvent::decode(message.payload.as_slice())
            .map_err(|e| tonic::Status::internal(format!("outbox message {} does not decode: {e}", message.key)))?;
        let mut request =
            tonic::Request::new(DeliverSettlementEventRequest { message_key: message.key.clone(), event: Some(event) });
        request.set_timeout(self.deadline);
        self.client.clone().deliver_settlement_event(request).await.map(|_| ())
    }
}
