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

/// GetCoverage holds until the test releases a permit; the rest answer at once.
struct Held(Arc<Semaphore>);

#[tonic::async_trait]
impl Eligibility for Held {
    async fn get_coverage(
        &self,
        _: Request<pb::GetCoverageRequest>,
    ) -> Result<Response<pb::GetCoverageResponse>, Status> {
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
) -> (server::RunningService, EligibilityClient<tonic::transport::Channel>) {
    let (running, channel) =
        common::serve(tonic::service::Routes::new(EligibilityServer::new(Held(release))), &config).await;
    (running, EligibilityClient::new(channel))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_limit_are_shed_at_once() {
    let release = Arc::new(Semaphore::new(0));
    let config = ServerConfig { concurrency_limit: 1, ..ServerConfig::default() };
    let (running, client) = start(config, release.clone()).await;
    let mut first = client.clone();
    let held = tokio::spawn(async move { first.get_coverage(pb::GetCoverageRequest::default()).await });
    // Wait until the held call occupies the only slot.
    let mut probe = client.clone();
    let mut shed = None;
    // Generous: under a full parallel test run on two cores the held call can take seconds to
    // reach the server; the loop ends as soon as a probe is shed.
    for _ in 0..4_000 {
        match probe.get_household(pb::GetHouseholdRequest::default()).await {
            Err(status) => {
                shed = Some(status);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
    let shed = shed.expect("a request beyond the limit was shed within 20 s");
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
    let (running, mut client) = start(config, release.clone()).await;
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
