//! Prometheus metrics, served as text at `GET /metrics` (public, like `/health`: scrape it from inside
//! the network, do not route it through the public load balancer).
//!
//! Counters and histograms are updated where things happen (the HTTP middleware, the orchestrator);
//! the gauges that describe the current state (`vrender_jobs`, `vrender_queue_depth`,
//! `vrender_renders_running`) are read from the store and the queue at scrape time, so they are right
//! even after a restart.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `vrender_http_requests_total` | counter | `method`, `route` (the matched route template, `unmatched` for 404s), `status` |
//! | `vrender_http_request_duration_seconds` | histogram | `method`, `route` |
//! | `vrender_jobs` | gauge | `status` (every job status) |
//! | `vrender_queue_depth` | gauge | (jobs waiting in the queue; the autoscaling metric) |
//! | `vrender_renders_running` | gauge | (renders running on this instance) |
//! | `vrender_jobs_submitted_total` | counter | |
//! | `vrender_jobs_finished_total` | counter | `status` (`completed`, `failed`, `cancelled`) |
//! | `vrender_job_failures_total` | counter | `reason` (every failed attempt, retried or not) |
//! | `vrender_frames_rendered_total` | counter | (frames of completed renders) |
//! | `vrender_render_fps` | gauge | (frames per second of the last completed render) |
//! | `vrender_render_duration_seconds` | histogram | (wall time of completed renders) |
//! | `vrender_gpu_adapter_info` | gauge (1) | `adapter` (the adapter in use, `none` when the engine failed) |
//! | `vrender_encode_seconds` | histogram | (wall time of the engine's render of an attempt that succeeded: composing and encoding run pipelined, so this is both; audio muxing included) |
//! | `vrender_upload_bytes_total` | counter | (bytes of rendered outputs stored) |
//! | `vrender_jobs_refused_total` | counter | `reason` (`queue_full`, `disk_low`: new jobs answered 503) |
//! | `vrender_job_event_streams` | gauge | (open `GET /render/jobs/{id}/events` streams on this instance) |
//! | `vrender_preview_seconds` | histogram | `cache` (`hit`, `miss`: wall time of previews answered 200) |

use std::sync::OnceLock;

use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric of the service, in one registry.
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub jobs: IntGaugeVec,
    pub queue_depth: IntGauge,
    pub renders_running: IntGauge,
    pub jobs_submitted: IntCounter,
    pub jobs_finished: IntCounterVec,
    pub job_failures: IntCounterVec,
    pub frames_rendered: IntCounter,
    pub render_fps: Gauge,
    pub render_duration: HistogramVec,
    pub gpu_adapter: GaugeVec,
    pub encode_seconds: prometheus::Histogram,
    pub upload_bytes: IntCounter,
    pub jobs_refused: IntCounterVec,
    pub event_streams: IntGauge,
    pub preview_seconds: HistogramVec,
}

/// The process-wide metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        // The names and label sets are constants: creating and registering them cannot fail.
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
            r.register(Box::new(m.clone()))
                .expect("metric names are unique");
            m
        }
        let http_requests = reg(
            &registry,
            IntCounterVec::new(
                Opts::new("vrender_http_requests_total", "HTTP requests answered"),
                &["method", "route", "status"],
            )
            .expect("valid metric"),
        );
        let http_duration = reg(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "vrender_http_request_duration_seconds",
                    "HTTP request latency",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ]),
                &["method", "route"],
            )
            .expect("valid metric"),
        );
        let jobs = reg(
            &registry,
            IntGaugeVec::new(
                Opts::new("vrender_jobs", "Jobs in the store by status"),
                &["status"],
            )
            .expect("valid metric"),
        );
        let queue_depth = reg(
            &registry,
            IntGauge::new("vrender_queue_depth", "Jobs waiting in the queue").expect("valid"),
        );
        let renders_running = reg(
            &registry,
            IntGauge::new(
                "vrender_renders_running",
                "Renders running on this instance",
            )
            .expect("valid"),
        );
        let jobs_refused = reg(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "vrender_jobs_refused_total",
                    "New jobs refused with 503 (queue full, disk low)",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        );
        let jobs_submitted = reg(
            &registry,
            IntCounter::new("vrender_jobs_submitted_total", "Jobs submitted").expect("valid"),
        );
        let jobs_finished = reg(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "vrender_jobs_finished_total",
                    "Jobs that reached a final status",
                ),
                &["status"],
            )
            .expect("valid metric"),
        );
        let job_failures = reg(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "vrender_job_failures_total",
                    "Failed render attempts by reason (retried or not)",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        );
        let frames_rendered = reg(
            &registry,
            IntCounter::new(
                "vrender_frames_rendered_total",
                "Frames of completed renders",
            )
            .expect("valid"),
        );
        let render_fps = reg(
            &registry,
            Gauge::new(
                "vrender_render_fps",
                "Frames per second of the last completed render",
            )
            .expect("valid"),
        );
        let render_duration = reg(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "vrender_render_duration_seconds",
                    "Wall time of completed renders",
                )
                .buckets(vec![
                    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                ]),
                &[],
            )
            .expect("valid metric"),
        );
        let gpu_adapter = reg(
            &registry,
            GaugeVec::new(
                Opts::new(
                    "vrender_gpu_adapter_info",
                    "The GPU adapter in use (value 1)",
                ),
                &["adapter"],
            )
            .expect("valid metric"),
        );
        let encode_seconds = reg(
            &registry,
            prometheus::Histogram::with_opts(
                HistogramOpts::new(
                    "vrender_encode_seconds",
                    "Wall time of the engine's render (compose + encode + audio) of successful attempts",
                )
                .buckets(vec![
                    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
                ]),
            )
            .expect("valid metric"),
        );
        let upload_bytes = reg(
            &registry,
            IntCounter::new(
                "vrender_upload_bytes_total",
                "Bytes of rendered outputs stored",
            )
            .expect("valid"),
        );
        let event_streams = reg(
            &registry,
            IntGauge::new(
                "vrender_job_event_streams",
                "Open job event streams (Server-Sent Events)",
            )
            .expect("valid"),
        );
        let preview_seconds = reg(
            &registry,
            HistogramVec::new(
                HistogramOpts::new("vrender_preview_seconds", "Wall time of frame previews")
                    .buckets(vec![0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
                &["cache"],
            )
            .expect("valid metric"),
        );
        // Both reasons are listed (at 0) from the start.
        for reason in ["queue_full", "disk_low"] {
            jobs_refused.with_label_values(&[reason]);
        }
        Metrics {
            encode_seconds,
            upload_bytes,
            jobs_refused,
            event_streams,
            preview_seconds,
            registry,
            http_requests,
            http_duration,
            jobs,
            queue_depth,
            renders_running,
            jobs_submitted,
            jobs_finished,
            job_failures,
            frames_rendered,
            render_fps,
            render_duration,
            gpu_adapter,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Records a completed render of `frames` frames in `seconds`.
    pub fn render_completed(&self, frames: u64, seconds: f64) {
        self.frames_rendered.inc_by(frames);
        self.render_duration
            .with_label_values::<&str>(&[])
            .observe(seconds);
        if seconds > 0.0 {
            self.render_fps.set(frames as f64 / seconds);
        }
    }
}
