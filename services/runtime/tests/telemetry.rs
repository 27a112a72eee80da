//! A server span continues the caller's trace (W3C `traceparent` in gRPC metadata) and is
//! exported; the middleware answers health over a real connection.

mod common;

use doudi_runtime::config::{LogConfig, ServerConfig};
use doudi_runtime::telemetry;
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tracing::Instrument;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_spans_continue_the_callers_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let _telemetry = telemetry::init(&LogConfig::default(), "test", telemetry::TraceSink::Provider(provider));

    let (running, channel) = common::serve(tonic::service::Routes::default(), &ServerConfig::default()).await;
    let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
    request
        .metadata_mut()
        .insert("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01").parse().expect("metadata"));
    HealthClient::new(channel.clone()).check(request).await.expect("health answers");
    // A call without a caller's trace starts a trace of its own.
    HealthClient::new(channel.clone())
        .check(HealthCheckRequest { service: String::new() })
        .await
        .expect("health answers");
    // A call made inside a span, through the interceptor, carries that span as the parent.
    let calling = tracing::info_span!("calling service");
    let mut traced = HealthClient::with_interceptor(channel, telemetry::propagate_trace);
    traced.check(HealthCheckRequest { service: String::new() }).instrument(calling).await.expect("health answers");
    running.shutdown().await;

    let spans = exporter.get_finished_spans().expect("spans");
    let checks: Vec<_> = spans.iter().filter(|s| s.name == "/grpc.health.v1.Health/Check").collect();
    assert_eq!(checks.len(), 3, "{:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>());
    let caller = spans.iter().find(|s| s.name == "calling service").expect("the caller's span is exported");
    let child = checks
        .iter()
        .find(|s| s.parent_span_id == caller.span_context.span_id())
        .expect("the server span is the caller's child");
    assert_eq!(child.span_context.trace_id(), caller.span_context.trace_id());
    let continued = checks
        .iter()
        .find(|s| s.span_context.trace_id() == TraceId::from_hex(TRACE_ID).expect("trace id"))
        .expect("one span continues the caller's trace");
    assert_eq!(continued.parent_span_id, SpanId::from_hex(PARENT_SPAN_ID).expect("span id"));
    assert!(checks.iter().any(|s| s.span_context.trace_id() != continued.span_context.trace_id()));
}
