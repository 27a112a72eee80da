//! Delivering grants to the payment service (`SubmitInstruction`, as this service's
//! certificate) with the suite's relay: retried with backoff until acknowledged. The payment
//! service is idempotent on the instruction's key (the grant), so a delivery repeated after a
//! lost acknowledgement, or after a restart, makes no second payment.

use doudi_proto::payment::v1::SubmitInstructionRequest;
use doudi_proto::payment::v1::payments_client::PaymentsClient;
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
        let instruction = SubmitInstructionRequest::decode(message.payload.as_slice())
            .map_err(|e| tonic::Status::internal(format!("outbox message {} does not decode: {e}", message.key)))?;
        let mut request = tonic::Request::new(instruction);
        request.set_timeout(self.deadline);
        self.client.clone().submit_instruction(request).await.map(|_| ())
    }
}
