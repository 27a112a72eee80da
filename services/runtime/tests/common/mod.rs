//! A server of the runtime's on an ephemeral port, and a channel to it.

use doudi_runtime::config::ServerConfig;
use doudi_runtime::server::{self, RunningService};
use tonic::transport::Channel;

/// Serves `routes` (plus health and reflection) with `config`; returns it and a connected channel.
pub async fn serve(routes: tonic::service::Routes, config: &ServerConfig) -> (RunningService, Channel) {
    let listener = server::bind("127.0.0.1:0".parse().expect("address")).await.expect("bind");
    let running = server::serve("test", listener, routes, &[], config, server::PortSecurity::Public { tls: None })
        .await
        .expect("serve");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.local_addr))
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    (running, channel)
}
