//! The queue depth as a CloudWatch metric, in the Embedded Metric Format (EMF): a JSON line that
//! CloudWatch Logs turns into the metric `VRender/QueueDepth` (dimension `Queue=render`), the one
//! the ECS autoscaling policies in `deploy/autoscaling/` track.
//!
//! `CLOUDWATCH_EMF` picks where the lines go: `stdout` (on ECS with the `awslogs` driver CloudWatch
//! Logs extracts the metric from the container's output), or a CloudWatch agent's EMF listener,
//! `tcp://HOST:PORT` / `udp://HOST:PORT` (the agent's default is port 25888). One line every
//! `CLOUDWATCH_EMF_INTERVAL_SECS`. Every process publishes the same shared depth; the policies read
//! the metric's `Average`, so several publishers do not add up.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::config::EmfSink;
use crate::queue::Queue;

/// The metric's namespace, name and dimension (as in the autoscaling policies).
pub const NAMESPACE: &str = "VRender";
pub const METRIC: &str = "QueueDepth";
pub const DIMENSION: (&str, &str) = ("Queue", "render");

/// One EMF document (a single line, no newline) saying the queue holds `depth` jobs at `ts_ms`.
pub fn queue_depth_line(depth: u64, ts_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": ts_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION.0]],
                "Metrics": [{"Name": METRIC, "Unit": "Count"}]
            }]
        },
        DIMENSION.0: DIMENSION.1,
        METRIC: depth
    })
    .to_string()
}

/// Writes lines to a sink, reconnecting a TCP sink after errors.
struct Writer {
    sink: EmfSink,
    tcp: Option<tokio::net::TcpStream>,
    udp: Option<tokio::net::UdpSocket>,
}

impl Writer {
    async fn send(&mut self, line: &str) -> std::io::Result<()> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        match &self.sink {
            EmfSink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)?;
                out.flush()
            }
            EmfSink::Tcp(addr) => {
                if self.tcp.is_none() {
                    let connect = tokio::net::TcpStream::connect(addr.as_str());
                    let stream = tokio::time::timeout(Duration::from_secs(5), connect)
                        .await
                        .map_err(|_| std::io::Error::other("connect timed out"))??;
                    self.tcp = Some(stream);
                }
                let stream = self.tcp.as_mut().expect("connected above");
                let r = stream.write_all(&bytes).await;
                if r.is_err() {
                    self.tcp = None; // reconnect next time
                }
                r
            }
            EmfSink::Udp(addr) => {
                if self.udp.is_none() {
                    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
                    socket.connect(addr.as_str()).await?;
                    self.udp = Some(socket);
                }
                let socket = self.udp.as_ref().expect("bound above");
                socket.send(&bytes).await.map(|_| ())
            }
        }
    }
}

/// Publishes the queue depth every `interval` until the queue is closed.
pub fn spawn(sink: EmfSink, interval: Duration, queue: Arc<dyn Queue>) {
    tokio::spawn(async move {
        let mut writer = Writer {
            sink,
            tcp: None,
            udp: None,
        };
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            let depth = match queue.waiting().await {
                Ok(n) => n as u64,
                Err(crate::queue::QueueError::Closed) => break,
                Err(e) => {
                    tracing::debug!(error = %e, "queue depth unavailable; no EMF line this time");
                    continue;
                }
            };
            let line = queue_depth_line(depth, crate::model::now_millis());
            match writer.send(&line).await {
                Ok(()) => failing = false,
                // Logged once per outage, not every interval.
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, sink = ?writer.sink, "cannot write the CloudWatch EMF line");
                }
                Err(_) => {}
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document follows the EMF specification: `_aws.Timestamp` in ms, one metric directive
    /// whose dimension set and metric name are root members with values.
    #[test]
    fn line_is_an_emf_document() {
        let line = queue_depth_line(7, 1_700_000_000_000);
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        let d = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Namespace"], "VRender");
        assert_eq!(d["Dimensions"], serde_json::json!([["Queue"]]));
        assert_eq!(d["Metrics"][0]["Name"], "QueueDepth");
        assert_eq!(d["Metrics"][0]["Unit"], "Count");
        assert_eq!(v["Queue"], "render");
        assert_eq!(v["QueueDepth"], 7);
    }
}
