//! Channels to other services of the suite: one way to build them, so every inner hop has the
//! same connection behaviour.

use crate::tls::TlsIdentity;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// A channel to `url` that connects on first use and reconnects after failures, so a service
/// can start before the one it calls. `connect_timeout` bounds a connection attempt (each call
/// carries its own deadline besides); small requests leave at once (TCP_NODELAY); keep-alives
/// find a dead peer within a minute instead of at the next call. Every inner hop is mutual TLS:
/// `identity` is the calling service's certificate, and the peer's must chain to the suite's CA.
pub fn lazy_channel(
    url: &str,
    connect_timeout: Duration,
    identity: &TlsIdentity,
) -> Result<Channel, tonic::transport::Error> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .tls_config(identity.client())?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

/// A channel never dialled: for admin commands that open a service's database without the
/// services it calls (a call through it fails, it does not reach anything).
pub fn nowhere() -> Channel {
    Endpoint::from_static("https://nowhere.invalid").connect_lazy()
}
