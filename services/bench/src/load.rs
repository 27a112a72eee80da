//! A closed-loop load generator over gRPC channels: throughput and latency percentiles of the
//! calls that completed inside the measured window.

use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub struct LoadResult {
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub errors: u64,
}

/// Closed loop: `concurrency` requests in flight over `connections` connections.
pub async fn load<F, Fut>(channels: &[Channel], concurrency: usize, warmup: f64, seconds: f64, call: F) -> LoadResult
where
    F: Fn(Channel, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let start = Instant::now();
    let (from, to) = (start + Duration::from_secs_f64(warmup), start + Duration::from_secs_f64(warmup + seconds));
    let tasks: Vec<_> = (0..concurrency)
        .map(|i| {
            let channel = channels[i % channels.len()].clone();
            let call = call.clone();
            tokio::spawn(async move {
                // `seq` is unique across tasks: the task in the high bits, its call count in the low.
                let (mut latencies, mut errors, mut seq) = (Vec::with_capacity(1 << 16), 0u64, (i as u64) << 32);
                loop {
                    let t0 = Instant::now();
                    if t0 >= to {
                        break;
                    }
                    seq += 1;
                    let ok = call(channel.clone(), seq).await;
                    let t1 = Instant::now();
                    if t0 >= from && t1 <= to {
                        if ok { latencies.push((t1 - t0).as_nanos() as u64) } else { errors += 1 }
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((latencies, e)) = task.await {
            all.extend(latencies);
            errors += e;
        }
    }
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0) as f64
            / 1000.0
    };
    LoadResult { rps: all.len() as f64 / seconds, p50_us: at(0.50), p99_us: at(0.99), p999_us: at(0.999), errors }
}
