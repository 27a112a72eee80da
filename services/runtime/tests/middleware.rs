//! The middleware every service sits behind: requests beyond the concurrency limit are shed at
//! once (RESOURCE_EXHAUSTED), and a request running past the timeout is cut off.

mod common;

use doudi_proto::eligibility::v1 as pb;
use doudi_proto::eligibility::v1::eligibility_client::EligibilityClient;
use doudi_proto::eligibility::v1::eligibility_server::{Eligibility, EligibilityServer};
use doudi_runtime::config::ServerConfig;
use doudi_runtime::server;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tonic::{Code, Request, Response, Status};

/// GetCoverage says it has started, then holds until the test releases a permit; the rest
/// answer at once.
struct Held(Arc<Semaphore>, Arc<tokio::sync::Notify>);

#[tonic::async_trait]
impl Eligibility for Held {
    async fn get_coverage(
        &self,
        _: Request<pb::GetCoverageRequest>,
    ) -> Result<Response<pb::GetCoverageResponse>, Status> {
        self.1.notify_one();
        let _permit = self.0.acquire().await.map_err(|_| Status::internal("closed"))?;
        Ok(Response::new(pb::GetCoverageResponse::default()))
    }

    async fn register_household(
        &self,
        _: Request<pb::RegisterHouseholdRequest>,
    ) -> Result<Response<pb::Household>, Status> {
        Err(Status::unimplemented("not in this test"))
    }

    async fn get_household(&self, _: Request<pb::GetHouseholdRequest>) -> Result<Response<pb::Household>, Status> {
        Ok(Response::new(pb::Household::default()))
    }

    async fn list_premium_subsidy_persons(
        &self,
        _: Request<pb::ListPremiumSubsidyPersonsRequest>,
    ) -> Result<Response<pb::ListPremiumSubsidyPersonsResponse>, Status> {
        Err(Status::unimplemented("not in this test"))
    }
}

async fn start(
    config: ServerConfig,
    release: Arc<Semaphore>,
) -> (server::RunningService, EligibilityClient<tonic::transport::Channel>, Arc<tokio::sync::Notify>) {
    let started = Arc::new(tokio::sync::Notify::new());
    let held = Held(release, started.clone());
    let (running, channel) = common::serve(tonic::service::Routes::new(EligibilityServer::new(held)), &config).await;
    (running, EligibilityClient::new(channel), started)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_limit_are_shed_at_once() {
    let release = Arc::new(Semaphore::new(0));
    let config = ServerConfig { concurrency_limit: 1, ..ServerConfig::default() };
    let (running, client, started) = start(config, release.clone()).await;
    // The held call takes the only slot once it is inside the handler.
    let mut first = client.clone();
    let held = tokio::spawn(async move { first.get_coverage(pb::GetCoverageRequest::default()).await });
    tokio::time::timeout(Duration::from_secs(30), started.notified()).await.expect("the held call reached the handler");
    let mut probe = client.clone();
    let shed = probe.get_household(pb::GetHouseholdRequest::default()).await.err();
    let shed = shed.expect("a request beyond the limit is shed at once");
    assert_eq!(shed.code(), Code::ResourceExhausted, "{shed:?}");
    release.add_permits(1);
    assert!(held.await.expect("task").is_ok(), "the held call completes");
    assert!(probe.get_household(pb::GetHouseholdRequest::default()).await.is_ok(), "capacity is back");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_is_cut_off() {
    let release = Arc::new(Semaphore::new(0));
    let config = ServerConfig { request_timeout_ms: 100, ..ServerConfig::default() };
    let (running, mut client, _) = start(config, release.clone()).await;
    let started = std::time::Instant::now();
    let status = client.get_coverage(pb::GetCoverageRequest::default()).await.expect_err("times out");
    assert!(matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A shorter deadline sent by the caller (grpc-timeout) wins over the server's.
    let mut request = Request::new(pb::GetCoverageRequest::default());
    request.set_timeout(Duration::from_millis(20));
    let status = client.get_coverage(request).await.expect_err("times out");
    assert!(matches!(status.code(), Code::Cancelled | Code::DeadlineExceeded), "{status:?}");
    running.shutdown().await;
}
