//! Spans reach an OTLP/gRPC collector: an in-process receiver stands in for one.

mod common;

use doudi_runtime::config::{LogConfig, ServerConfig};
use doudi_runtime::telemetry;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use tokio::sync::mpsc;

struct Receiver(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_over_otlp() {
    let (sent, mut received) = mpsc::unbounded_channel();
    let collector = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind collector");
    let collector_addr = collector.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Receiver(sent)))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(collector)),
    );

    let guard = telemetry::init(
        &LogConfig::default(),
        "doudi-test",
        telemetry::TraceSink::Otlp(format!("http://{collector_addr}")),
    );
    let (running, channel) = common::serve(tonic::service::Routes::default(), &ServerConfig::default()).await;
    tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest { service: String::new() })
        .await
        .expect("health answers");
    running.shutdown().await;
    // Dropping the guard flushes the batch exporter.
    tokio::task::spawn_blocking(move || drop(guard)).await.expect("flush");

    let export = tokio::time::timeout(std::time::Duration::from_secs(10), received.recv())
        .await
        .expect("the collector received an export in time")
        .expect("an export");
    let resource = export.resource_spans[0].resource.as_ref().expect("resource");
    let service_name = resource.attributes.iter().find(|a| a.key == "service.name").expect("service.name");
    assert!(format!("{:?}", service_name.value).contains("doudi-test"));
    let names: Vec<&str> = export
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.as_str())
        .collect();
    assert!(names.contains(&"/grpc.health.v1.Health/Check"), "{names:?}");
}
