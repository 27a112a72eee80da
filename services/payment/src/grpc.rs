//! `doudi.payment.v1.Payments`: each method parses its request, calls the operation, and
//! answers with accounts masked; errors become `Status` here, once.

use crate::funds::{Fund, Month};
use crate::instructions::convert;
use crate::instructions::ops::Submitted;
use crate::service::PaymentService;
use doudi_core::Violations;
use doudi_proto::payment::v1 as pb;
use doudi_proto::payment::v1::payments_server::Payments;
use doudi_runtime::access::{Caller, caller};
use tonic::{Request, Response, Status};

#[derive(Debug, Clone)]
pub struct PaymentGrpc {
    service: PaymentService,
}

impl PaymentGrpc {
    pub fn new(service: PaymentService) -> Self {
        Self { service }
    }

    async fn answer(&self, id: i64) -> Result<pb::Instruction, Status> {
        let instruction = self.service.store.instruction(id).await?;
        let events = self.service.store.instruction_events(id).await?;
        Ok(convert::instruction(&instruction, &events))
    }
}

fn actor<T>(request: &Request<T>) -> String {
    caller(request).map_or_else(|| "unknown".to_owned(), Caller::actor)
}

fn month(field: &str, text: &str) -> Result<Month, Status> {
    Month::parse(text).ok_or_else(|| crate::PaymentError::from(Violations::of(field, "must be YYYY-MM")).into())
}

#[tonic::async_trait]
impl Payments for PaymentGrpc {
    async fn submit_instruction(
        &self,
        request: Request<pb::SubmitInstructionRequest>,
    ) -> Result<Response<pb::Instruction>, Status> {
        let new = convert::new_instruction(request.get_ref()).map_err(crate::PaymentError::from)?;
        let id = match self.service.submit_instruction(&new, &actor(&request)).await? {
            Submitted::Made(i) | Submitted::Again(i) => i.id,
        };
        Ok(Response::new(self.answer(id).await?))
    }

    async fn get_instruction(
        &self,
        request: Request<pb::GetInstructionRequest>,
    ) -> Result<Response<pb::Instruction>, Status> {
        Ok(Response::new(self.answer(request.get_ref().id).await?))
    }

    async fn list_instructions(
        &self,
        request: Request<pb::ListInstructionsRequest>,
    ) -> Result<Response<pb::ListInstructionsResponse>, Status> {
        let filter = convert::filter(request.get_ref()).map_err(crate::PaymentError::from)?;
        let (list, more) = self.service.list_instructions(&filter).await?;
        let instructions = list.iter().map(|i| convert::instruction(i, &[])).collect();
        Ok(Response::new(pb::ListInstructionsResponse { instructions, more }))
    }

    async fn cancel_instruction(
        &self,
        request: Request<pb::CancelInstructionRequest>,
    ) -> Result<Response<pb::Instruction>, Status> {
        let r = request.get_ref();
        let cancelled = self.service.cancel_instruction(r.id, &r.reason, &actor(&request)).await?;
        Ok(Response::new(self.answer(cancelled.id).await?))
    }

    async fn approve_payroll(
        &self,
        request: Request<pb::ApprovePayrollRequest>,
    ) -> Result<Response<pb::ApprovePayrollResponse>, Status> {
        let run = month("month", &request.get_ref().month)?;
        let (approved, approved_fen, held) = self.service.approve_payroll(run, &actor(&request)).await?;
        Ok(Response::new(pb::ApprovePayrollResponse { approved, approved_fen, held }))
    }

    async fn get_fund(&self, request: Request<pb::GetFundRequest>) -> Result<Response<pb::Fund>, Status> {
        let r = request.get_ref();
        let Some(fund) = Fund::from_proto(r.fund) else {
            return Err(crate::PaymentError::from(Violations::of("fund", "is required")).into());
        };
        let (p, held_count, held_fen) = self.service.store.fund(fund, i64::from(r.year)).await?;
        Ok(Response::new(pb::Fund {
            fund: r.fund,
            year: r.year,
            budget_fen: p.budget,
            committed_fen: p.committed,
            paid_fen: p.paid,
            available_fen: p.available,
            held_fen,
            held_count,
        }))
    }

    async fn household_history(
        &self,
        request: Request<pb::HouseholdHistoryRequest>,
    ) -> Result<Response<pb::HouseholdHistoryResponse>, Status> {
        let household = request.get_ref().household_no.trim().to_owned();
        if household.is_empty() {
            return Err(crate::PaymentError::from(Violations::of("householdNo", "is required")).into());
        }
        let (payments, overpayments) = self.service.household_history(&household).await?;
        Ok(Response::new(pb::HouseholdHistoryResponse {
            household_no: household,
            payments: payments
                .into_iter()
                .map(|p| pb::HouseholdPayment {
                    instruction_id: p.instruction_id,
                    month: p.month,
                    run_month: p.run_month,
                    kind: p.kind,
                    gross_fen: p.gross_fen,
                    withheld_fen: p.withheld_fen,
                    amount_fen: p.amount_fen,
                    state: crate::funds::State::parse(&p.state).map_or(0, |s| pb::InstructionState::from(s) as i32),
                })
                .collect(),
            overpayments: overpayments
                .into_iter()
                .map(|o| pb::Overpayment {
                    id: o.id,
                    month: o.month,
                    kind: o.kind,
                    amount_fen: o.amount_fen,
                    recovered_fen: o.recovered_fen,
                    recorded_in_run: o.recorded_in_run,
                })
                .collect(),
        }))
    }

    async fn reconcile_batch(
        &self,
        request: Request<pb::ReconcileBatchRequest>,
    ) -> Result<Response<pb::BatchReconciliation>, Status> {
        let r = request.get_ref();
        if r.batch_id <= 0 {
            return Err(crate::PaymentError::from(Violations::of("batchId", "is required")).into());
        }
        let limit = if r.limit <= 0 { 100 } else { r.limit.min(1_000) as usize };
        let reconciled = self.service.reconcile_batch(r.batch_id, limit).await?;
        Ok(Response::new(convert::reconciliation(&reconciled)))
    }

    async fn deliver_settlement_event(
        &self,
        request: Request<pb::DeliverSettlementEventRequest>,
    ) -> Result<Response<pb::DeliveryAck>, Status> {
        let sender = match caller(&request) {
            Some(Caller::Service(name)) => name.clone(),
            _ => return Err(Status::permission_denied("only a service delivers its outbox")),
        };
        let r = request.into_inner();
        let first_delivery = self.service.receive(&sender, &r.message_key, r.event.and_then(|e| e.event)).await?;
        Ok(Response::new(pb::DeliveryAck { first_delivery }))
    }
}
