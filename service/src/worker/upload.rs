//! The output of a render goes to storage while it is written (progressive storage sends parts as
//! the encoder writes them; the others store it once it is finished): started beside the render,
//! finished or abandoned by the item's outcome.

use std::path::Path;

use tokio::sync::watch;
use vrender_engine::RenderError;

use crate::jobs::Orchestrator;
use crate::model::{JobPhase, JobRecord};
use crate::storage::{output_key, StorageError, WriterState};

use super::claim::Claim;
use super::settle::{disk_full, Outcome};
use super::stills::Planned;

/// The output upload running beside a render: the stored key and size, `None` when abandoned.
pub type UploadTask = tokio::task::JoinHandle<Result<Option<(String, u64)>, StorageError>>;

impl Orchestrator {
    /// Starts storing the output while it is rendered; `Finished`/`Abandoned` on the sender ends it.
    pub(crate) fn start_upload(
        &self,
        job: &JobRecord,
        output: &Path,
    ) -> (watch::Sender<WriterState>, UploadTask) {
        let (tx, rx) = watch::channel(WriterState::Writing);
        let key = output_key(
            &job.user_id,
            &job.job_id,
            job.spec.output_format.extension(),
        );
        let storage = self.storage.clone();
        let file = output.to_path_buf();
        let mime = job.spec.output_format.mime_type();
        let task = tokio::spawn(async move {
            let r = storage.put_growing(&key, &file, mime, rx).await;
            r.map(|size| size.map(|bytes| (key, bytes)))
        });
        (tx, task)
    }

    pub(crate) async fn upload(
        &self,
        claim: &Claim,
        writer: watch::Sender<WriterState>,
        task: UploadTask,
        seconds: f64,
    ) -> Outcome {
        if !self.set_phase(claim, JobPhase::Uploading).await {
            // Cancelled, or another worker took the job over: its output is not ours to write.
            writer.send_replace(WriterState::Abandoned);
            if let Ok(Err(e)) = task.await {
                tracing::warn!(job_id = %claim.job.job_id, error = %e, "abandoned upload failed");
            }
            return Outcome::Cancelled;
        }
        writer.send_replace(WriterState::Finished);
        let failed = |message: String| {
            if self.out_of_disk(&message, true) {
                disk_full(message)
            } else {
                Outcome::Failed {
                    message,
                    transient: true,
                    reason: "upload",
                }
            }
        };
        match task.await {
            Ok(Ok(Some((key, bytes)))) => {
                tracing::info!(job_id = %claim.job.job_id, key, bytes, "output stored");
                crate::metrics::metrics().upload_bytes.inc_by(bytes);
                Outcome::Done { key, seconds }
            }
            Ok(Ok(None)) => failed("the upload stopped before the output was stored".into()),
            Ok(Err(e)) => failed(e.to_string()),
            Err(e) => failed(format!("the upload crashed: {e}")),
        }
    }

    /// Ends the upload running beside a render by the render's result: the output (and the
    /// planned stills) stored when it rendered (`Ok` with its seconds of video), the upload
    /// abandoned when it did not (the render's error handed back).
    pub(crate) async fn deliver(
        &self,
        claim: &Claim,
        rendered: Result<f64, RenderError>,
        (writer, upload): (watch::Sender<WriterState>, UploadTask),
        planned: &[Planned],
    ) -> Result<Outcome, RenderError> {
        match rendered {
            Ok(seconds) => {
                let uploaded = self.upload(claim, writer, upload, seconds).await;
                Ok(self.with_stills(claim, planned, uploaded).await)
            }
            Err(e) => {
                writer.send_replace(WriterState::Abandoned);
                if let Ok(Err(e)) = upload.await {
                    tracing::warn!(job_id = %claim.job.job_id, error = %e, "upload of an abandoned output failed");
                }
                Err(e)
            }
        }
    }
}
