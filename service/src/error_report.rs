//! The error-tracking hook: a tracing [`Layer`] that hands every ERROR event, with the request id /
//! job id of the spans it happened in, to pluggable [`ErrorReporter`]s. None is installed by default;
//! `ERROR_WEBHOOK_URL` installs [`WebhookReporter`] (a JSON POST per event, `ERROR_WEBHOOK_TIMEOUT_MS`
//! per try, dropped when 64 are already waiting). To use an error tracker, implement
//! [`ErrorReporter`] and pass it to [`ErrorReportLayer::add`] on [`ErrorReportLayer::global`]: no
//! vendor SDK is linked.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// One ERROR event.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEvent {
    /// RFC 3339.
    pub timestamp: String,
    pub message: String,
    /// The module that logged it.
    pub target: String,
    /// The event's other fields.
    pub fields: Map<String, Value>,
    /// `request_id`, `job_id` and the other fields of the enclosing spans (innermost wins).
    pub context: Map<String, Value>,
}

/// Receives ERROR events. Called on the logging thread: do not block (queue the work).
pub trait ErrorReporter: Send + Sync {
    fn report(&self, event: &ErrorEvent);
}

/// Forwards ERROR events to its reporters.
#[derive(Clone, Default)]
pub struct ErrorReportLayer {
    reporters: Arc<RwLock<Vec<Arc<dyn ErrorReporter>>>>,
}

impl ErrorReportLayer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The layer the `vrender` binary installs (see `cli::init_tracing`).
    pub fn global() -> &'static ErrorReportLayer {
        static GLOBAL: OnceLock<ErrorReportLayer> = OnceLock::new();
        GLOBAL.get_or_init(ErrorReportLayer::new)
    }

    pub fn add(&self, reporter: Arc<dyn ErrorReporter>) {
        self.reporters
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(reporter);
    }
}

/// Span fields, kept in the span's extensions.
struct SpanFields(Map<String, Value>);

#[derive(Default)]
struct Collect {
    message: Option<String>,
    fields: Map<String, Value>,
}

impl Visit for Collect {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let v = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(v);
        } else {
            self.fields
                .insert(field.name().to_string(), Value::String(v));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.fields
                .insert(field.name().to_string(), Value::String(value.into()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_string(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_string(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.insert(field.name().to_string(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_string(), value.into());
    }
}

impl<S> Layer<S> for ErrorReportLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut c = Collect::default();
        attrs.record(&mut c);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(c.fields));
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let mut c = Collect::default();
        values.record(&mut c);
        if let Some(span) = ctx.span(id) {
            let mut ext = span.extensions_mut();
            if let Some(f) = ext.get_mut::<SpanFields>() {
                f.0.extend(c.fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let reporters = self.reporters.read().unwrap_or_else(|p| p.into_inner());
        if reporters.is_empty() {
            return;
        }
        let mut c = Collect::default();
        event.record(&mut c);
        let mut context = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            // Root first, so inner spans override outer ones.
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    context.extend(f.0.clone());
                }
            }
        }
        let e = ErrorEvent {
            timestamp: crate::model::rfc3339(crate::model::now_millis()),
            message: c.message.unwrap_or_default(),
            target: event.metadata().target().to_string(),
            fields: c.fields,
            context,
        };
        for r in reporters.iter() {
            r.report(&e);
        }
    }
}

/// Posts each ERROR event as JSON to a URL, from a background task, with a timeout per post.
pub struct WebhookReporter {
    tx: tokio::sync::mpsc::Sender<ErrorEvent>,
}

impl WebhookReporter {
    /// Starts the sender task (needs a tokio runtime).
    pub fn spawn(url: String, timeout: Duration) -> Result<Arc<WebhookReporter>, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(timeout).build()?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<ErrorEvent>(64);
        tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                match client.post(&url).json(&e).send().await {
                    Ok(r) if r.status().is_success() => {}
                    // warn, not error: a failing webhook must not report itself in a loop.
                    Ok(r) => tracing::warn!(
                        status = r.status().as_u16(),
                        "error webhook refused an event"
                    ),
                    Err(err) => tracing::warn!(error = %err, "error webhook unreachable"),
                }
            }
        });
        Ok(Arc::new(WebhookReporter { tx }))
    }
}

impl ErrorReporter for WebhookReporter {
    fn report(&self, event: &ErrorEvent) {
        // Never block the logging thread: drop the event when the queue is full.
        let _ = self.tx.try_send(event.clone());
    }
}

/// Installs the reporters the settings ask for (`ERROR_WEBHOOK_URL`) on the global layer.
pub fn install_from_settings(settings: &crate::config::Settings) {
    let Some(url) = &settings.error_webhook_url else {
        return;
    };
    match WebhookReporter::spawn(url.clone(), settings.error_webhook_timeout) {
        Ok(r) => {
            ErrorReportLayer::global().add(r);
            tracing::info!("ERROR events are posted to ERROR_WEBHOOK_URL");
        }
        Err(e) => tracing::warn!(error = %e, "cannot set up ERROR_WEBHOOK_URL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Default)]
    struct Keep(Mutex<Vec<ErrorEvent>>);
    impl ErrorReporter for Keep {
        fn report(&self, event: &ErrorEvent) {
            self.0.lock().unwrap().push(event.clone());
        }
    }

    #[test]
    fn error_events_reach_reporters_with_span_context() {
        let layer = ErrorReportLayer::new();
        let keep = Arc::new(Keep::default());
        layer.add(keep.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let http = tracing::info_span!("http", request_id = "r-1");
            let _h = http.enter();
            tracing::info!("not an error");
            tracing::warn!("not an error either");
            let job = tracing::info_span!("job", job_id = "j-1");
            let _j = job.enter();
            tracing::error!(code = 7, "it broke");
        });
        let got = keep.0.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "it broke");
        assert_eq!(got[0].fields["code"], 7);
        assert_eq!(got[0].context["request_id"], "r-1");
        assert_eq!(got[0].context["job_id"], "j-1");
    }

    /// The webhook posts the event as JSON to a real local HTTP listener.
    #[tokio::test]
    async fn the_webhook_posts_json() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let reporter = WebhookReporter::spawn(url, Duration::from_secs(5)).unwrap();
        let mut context = Map::new();
        context.insert("job_id".into(), "j-9".into());
        reporter.report(&ErrorEvent {
            timestamp: "2026-01-01T00:00:00Z".into(),
            message: "disk full".into(),
            target: "t".into(),
            fields: Map::new(),
            context,
        });
        let (mut sock, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .unwrap()
            .unwrap();
        let mut buf = Vec::new();
        let body = loop {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed early");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap();
                if body.len() >= len {
                    assert!(head.starts_with("POST /hook "), "{head}");
                    break body.to_string();
                }
            }
        };
        sock.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["message"], "disk full");
        assert_eq!(v["context"]["job_id"], "j-9");
    }
}
