//! Logs and traces. `tracing` writes plain or JSON lines to stderr; when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are also exported over OTLP/gRPC. W3C trace
//! context (`traceparent`) is read from incoming gRPC metadata and written into outgoing calls,
//! so one trace follows a bill through every service.

use crate::config::{LogConfig, LogFormat};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Flushes and stops the trace exporter when dropped (at the end of `main`).
#[must_use = "traces are flushed when the guard is dropped"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("trace exporter did not shut down cleanly: {e}");
        }
    }
}

/// Where spans go.
#[derive(Debug)]
pub enum TraceSink {
    /// Nowhere (logs only).
    Off,
    /// An OTLP/gRPC collector at this endpoint (`http://collector:4317`). The other
    /// `OTEL_EXPORTER_OTLP_*` variables (headers, timeout) still apply.
    Otlp(String),
    /// A provider the caller built (tests export to memory).
    Provider(SdkTracerProvider),
}

impl TraceSink {
    /// OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else off.
    pub fn from_env() -> Self {
        std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").map_or(TraceSink::Off, TraceSink::Otlp)
    }
}

/// Installs the global subscriber: logs to stderr, spans to `sink`.
pub fn init(config: &LogConfig, service_name: &str, sink: TraceSink) -> TelemetryGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    let fmt = match config.format {
        LogFormat::Plain => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => {
            tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr).boxed()
        }
    };
    let provider = match sink {
        TraceSink::Off => None,
        TraceSink::Otlp(endpoint) => otlp_provider(service_name, &endpoint),
        TraceSink::Provider(provider) => Some(provider),
    };
    let otel = provider.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("doudi")));
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let _ = tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init();
    TelemetryGuard { provider }
}

fn otlp_provider(service_name: &str, endpoint: &str) -> Option<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig;
    match opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint).build() {
        Ok(exporter) => Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_owned()).build(),
                )
                .build(),
        ),
        Err(e) => {
            eprintln!("OTLP exporter not started: {e}");
            None
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

/// The span of one incoming gRPC request, child of the caller's trace if it sent one.
pub fn grpc_request_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let span = tracing::info_span!("grpc.request", otel.name = %path, otel.kind = "server", rpc.system = "grpc");
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    let _ = span.set_parent(parent);
    span
}

/// The span of one incoming HTTP request, child of the caller's trace if it sent one.
pub fn http_request_span(method: &http::Method, path: &str, headers: &http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!("http.request", otel.name = %format!("{method} {path}"), otel.kind = "server");
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(parent);
    span
}

/// Writes the current span's trace context into an outgoing request's metadata.
pub fn inject_trace_context(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&context, &mut MetadataInjector(metadata));
}

/// A tonic interceptor for clients: every outgoing call carries the trace context.
pub fn propagate_trace(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    inject_trace_context(request.metadata_mut());
    Ok(request)
}
