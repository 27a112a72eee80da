//! Serving one Doudi service over gRPC: the service's routes plus health (`grpc.health.v1`) and
//! reflection (v1 and v1alpha: grpcurl and Python's grpcio-reflection only speak v1alpha), behind
//! the same middleware stack, with graceful shutdown.

use crate::access::{Guard, GuardLayer};
use crate::config::ServerConfig;
use crate::telemetry;
use crate::tls::TlsIdentity;
use std::sync::Arc;
use std::{net::SocketAddr, time::Duration};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::limit::GlobalConcurrencyLimitLayer;

/// A service that is running; dropping it does not stop it, `shutdown` does.
#[derive(Debug)]
pub struct RunningService {
    pub name: &'static str,
    pub local_addr: SocketAddr,
    health: HealthReporter,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
    grace: Duration,
}

/// The services every port serves besides its own.
const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION: [&str; 2] = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/// Reflection lists the services this port serves (`served`, health, reflection) and nothing
/// else of the suite's contracts; it describes them with every message they use, the rich error
/// details included (so grpcurl decodes field violations).
fn reflection<'a>(served: &[&str]) -> tonic_reflection::server::Builder<'a> {
    let builder = tonic_reflection::server::Builder::configure()
        // Both reflection versions are served on every port: each lists and describes both.
        .include_reflection_service(false)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(doudi_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
    served.iter().copied().chain([HEALTH]).chain(REFLECTION).fold(builder, |b, name| b.with_service_name(name))
}

/// How a port is protected.
#[derive(Debug)]
pub enum PortSecurity {
    /// An inner port of the suite: TLS with this service's certificate, client certificates
    /// checked against the suite's CA, and the service's allow-list before every method.
    Inner { identity: TlsIdentity, guard: Guard },
    /// A public port (the gateway's): TLS when a certificate is given; its methods
    /// authenticate their callers themselves (hospital API keys).
    Public { tls: Option<tonic::transport::ServerTlsConfig> },
}

/// Binds `addr` (port 0 picks a free port).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `routes` on `listener`. `health_names` are the fully-qualified service names reported
/// SERVING; the caller has already migrated the database, so "serving" is true from the start.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    routes: Routes,
    health_names: &[&str],
    config: &ServerConfig,
    security: PortSecurity,
) -> std::io::Result<RunningService> {
    let local_addr = listener.local_addr()?;
    let (health, health_service) = tonic_health::server::health_reporter();
    for service in health_names {
        health.set_service_status(service, ServingStatus::Serving).await;
    }
    let reflection_v1 = reflection(health_names).build_v1().map_err(std::io::Error::other)?;
    let reflection_v1alpha = reflection(health_names).build_v1alpha().map_err(std::io::Error::other)?;
    let routes = routes.add_service(health_service).add_service(reflection_v1).add_service(reflection_v1alpha);

    let (stop, mut stopped) = watch::channel(false);
    let shutdown = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let middleware = tower::ServiceBuilder::new()
        // Shed at once when the limit below is full: a queue in front of a saturated service
        // only turns overload into timeouts. The caller gets RESOURCE_EXHAUSTED and may retry.
        .load_shed()
        // One limit for the whole process, not per connection: a few multiplexed client
        // connections must not multiply the work admitted.
        .layer(GlobalConcurrencyLimitLayer::new(config.concurrency_limit));
    let (tls, guard) = match security {
        PortSecurity::Inner { identity, guard } => (Some(identity.server()), Some(GuardLayer(Arc::new(guard)))),
        PortSecurity::Public { tls } => (tls, None),
    };
    let middleware = middleware.option_layer(guard);
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).map_err(std::io::Error::other)?;
    }
    let server = builder
        // Honours a shorter `grpc-timeout` sent by the caller; this is the ceiling.
        .timeout(Duration::from_millis(config.request_timeout_ms))
        // One span per request, continuing the caller's W3C trace context.
        .trace_fn(telemetry::grpc_request_span)
        .layer(middleware)
        .add_routes(routes);
    // Small answers must leave at once: without TCP_NODELAY, Nagle's algorithm meets the
    // client's delayed ACK and holds some answers back ~40 ms.
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let task = tokio::spawn(server.serve_with_incoming_shutdown(incoming, shutdown));
    tracing::info!(service = name, addr = %local_addr, "listening");
    Ok(RunningService { name, local_addr, health, stop, task, grace: Duration::from_millis(config.shutdown_grace_ms) })
}

impl RunningService {
    /// Reports NOT_SERVING (so balancers drain), stops accepting, lets requests in flight finish
    /// within the grace period, then returns.
    pub async fn shutdown(self) {
        self.health.set_service_status("", ServingStatus::NotServing).await;
        let _ = self.stop.send(true);
        match tokio::time::timeout(self.grace, self.task).await {
            Ok(Ok(Ok(()))) => tracing::info!(service = self.name, "stopped"),
            Ok(Ok(Err(e))) => tracing::error!(service = self.name, error = %e, "server failed"),
            Ok(Err(e)) => tracing::error!(service = self.name, error = %e, "server task failed"),
            Err(_) => tracing::warn!(service = self.name, "requests still in flight after the grace period"),
        }
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: call it before announcing readiness, or a signal sent right after the
/// announcement kills the process instead of stopping it gracefully.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT handler can be installed");
        let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler can be installed");
        async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async move {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
