//! `GET /api/v1/render/jobs/{jobId}/events`: a job's progress as Server-Sent Events, so pages and
//! scripts need not poll.
//!
//! Each `job` event carries the job as `GET /render/jobs/{jobId}` shows it (status, progress,
//! currentPhase, estimatedTimeRemaining, outputUrl once completed), sent when it changes, in
//! order (`id` counts up). The stream ends after one `end` event with the final state. The job is
//! read from the store every [`POLL`], so this works whichever process renders it; a client that
//! hangs up ends its stream at the next write (a keep-alive comment at the latest) (the `vrender_job_event_streams` gauge counts the open
//! ones).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures_util::stream::{self, Stream};

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::jobs::visible_job;
use super::AppState;

/// How often the store is read for changes.
const POLL: Duration = Duration::from_millis(200);
/// How often a quiet stream gets a comment line.
const KEEP_ALIVE: Duration = Duration::from_secs(3);

/// Counts an open stream in `vrender_job_event_streams` while it lives.
struct Open;

impl Open {
    fn new() -> Self {
        crate::metrics::metrics().event_streams.inc();
        Open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        crate::metrics::metrics().event_streams.dec();
    }
}

/// Where a stream is.
struct Cursor {
    state: AppState,
    job_id: String,
    /// The last state sent (JSON text), to send only changes.
    last: Option<String>,
    /// Events sent so far (the next `id`).
    sent: u64,
    finished: bool,
    _open: Open,
}

/// Follow a job's progress (Server-Sent Events).
///
/// `event: job` with the job (as `GET /render/jobs/{jobId}`) whenever it changes; the last event is
/// `event: end` with the final state (completed, failed or cancelled, with `outputUrl` when
/// completed), after which the server closes the stream. `event: error` ends it when the job
/// disappears. Authentication and visibility as for the job itself.
#[utoipa::path(
    get,
    path = "/api/v1/render/jobs/{jobId}/events",
    tag = "jobs",
    params(("jobId" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "text/event-stream of `job` events (JobView JSON), ending with one `end` event", content_type = "text/event-stream"),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
pub async fn job_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    visible_job(&state, &caller, &job_id).await?;
    let cursor = Cursor {
        state,
        job_id,
        last: None,
        sent: 0,
        finished: false,
        _open: Open::new(),
    };
    let events = stream::unfold(cursor, |mut c| async move {
        if c.finished {
            return None;
        }
        loop {
            if c.last.is_some() {
                tokio::time::sleep(POLL).await;
            }
            let job = match c.state.jobs.get_job(&c.job_id).await {
                Ok(Some(job)) => job,
                Ok(None) => {
                    c.finished = true;
                    let event = Event::default()
                        .event("error")
                        .data(format!("job `{}` no longer exists", c.job_id));
                    return Some((Ok(event), c));
                }
                Err(e) => {
                    // A store hiccup: try again at the next poll.
                    tracing::warn!(job_id = %c.job_id, error = %e, "job events: cannot read the job");
                    if c.last.is_none() {
                        c.last = Some(String::new());
                    }
                    continue;
                }
            };
            let view = c.state.orchestrator.view(&job).await;
            let text = serde_json::to_string(&view).unwrap_or_else(|_| "{}".into());
            let terminal = job.state.status.is_terminal();
            if c.last.as_deref() == Some(text.as_str()) && !terminal {
                continue;
            }
            let name = if terminal { "end" } else { "job" };
            let event = Event::default()
                .event(name)
                .id(c.sent.to_string())
                .data(text.clone());
            c.sent += 1;
            c.last = Some(text);
            c.finished = terminal;
            return Some((Ok(event), c));
        }
    });
    // Comments every few seconds keep proxies from closing a quiet stream and let the server notice a
    // client that has gone.
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
