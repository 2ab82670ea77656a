//! S3 storage (`aws-sdk-s3`): outputs under `[S3_PREFIX]renders/…`, multipart uploads sent while the
//! encoder still writes the file, presigned GETs as download links, `s3://` asset downloads.
//!
//! Progressive upload. A file that is being written is cut into regions of `part_size` bytes; region
//! `k` is S3 part `k + 1`. The encoders only go back to patch bytes near the start (MP4 without
//! `+faststart`: the `mdat` size in the header, then `moov` is appended; WebM: the header and the cluster
//! being written), so once the file has grown a safety margin past a region, that region is final and
//! is uploaded at once. Region 0 (the header) and whatever is left are uploaded when the writer says
//! it finished; S3 accepts parts in any order (all but the last ≥ 5 MiB, which full regions are).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::watch;

use super::{valid_key, S3Url, Storage, StorageError, WriterState};
use crate::config::Settings;

/// SigV4 presigned URLs live at most 7 days.
const MAX_PRESIGN: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often the size of a growing file is looked at.
const POLL: Duration = Duration::from_millis(200);
/// Incomplete multipart uploads older than this are aborted by the startup sweep.
const STALE_UPLOAD_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Clone)]
pub struct S3Storage {
    client: Client,
    bucket: String,
    prefix: String,
    part_size: u64,
    progressive: bool,
    /// `S3_TIMEOUT_SECS`: also the longest wait for the next bytes of a download.
    timeout: Duration,
    /// Largest `s3://` asset fetched (`S3_ASSET_MAX_MB`).
    asset_max_bytes: u64,
}

fn s3_error<E, R>(context: impl Into<String>, e: SdkError<E, R>) -> StorageError
where
    E: std::error::Error + 'static,
    R: fmt::Debug,
{
    StorageError::S3 {
        context: context.into(),
        message: DisplayErrorContext(&e).to_string(),
    }
}

impl S3Storage {
    /// The S3 storage when `S3_BUCKET` is set. Credentials come from the standard AWS chain (env,
    /// profile, ECS task role, instance profile).
    pub async fn from_settings(settings: &Settings) -> Result<Option<S3Storage>, StorageError> {
        let Some(bucket) = settings.s3_bucket.clone() else {
            return Ok(None);
        };
        if !S3Url::valid_bucket(&bucket) {
            return Err(StorageError::Config {
                name: "S3_BUCKET",
                message: format!("`{bucket}` is not a valid bucket name"),
            });
        }
        if settings.signed_url_expiry > MAX_PRESIGN {
            return Err(StorageError::Config {
                name: "SIGNED_URL_EXPIRY_SECS",
                message: "at most 604800 (7 days, the limit of S3 presigned URLs) with S3_BUCKET"
                    .into(),
            });
        }
        let s3 = &settings.s3;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(s3.timeout.min(Duration::from_secs(10)))
            .operation_attempt_timeout(s3.timeout)
            .operation_timeout(s3.timeout * 4)
            .build();
        // HTTPS: rustls on ring, the TLS stack the rest of the service (reqwest, MongoDB) uses.
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .http_client(https);
        if let Some(r) = &settings.s3_region {
            loader = loader.region(Region::new(r.clone()));
        }
        let sdk = loader.load().await;
        let mut conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(s3.force_path_style)
            // Checksums only where S3 requires them: S3-compatible servers differ in what they accept
            // (TLS and SigV4 already protect the bytes in transit).
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if sdk.region().is_none() {
            conf = conf.region(Region::new("us-east-1"));
        }
        if let Some(e) = &settings.s3_endpoint {
            conf = conf.endpoint_url(e.clone());
        }
        let storage = S3Storage {
            client: Client::from_conf(conf.build()),
            bucket,
            prefix: s3.prefix.clone(),
            part_size: s3.part_size,
            progressive: s3.progressive,
            timeout: s3.timeout,
            asset_max_bytes: s3.asset_max_bytes,
        };
        tracing::info!(
            bucket = %storage.bucket,
            prefix = %storage.prefix,
            part_size = storage.part_size,
            progressive = storage.progressive,
            "S3 storage"
        );
        // In the background: startup does not wait on a bucket listing.
        let sweeper = storage.clone();
        tokio::spawn(async move {
            match sweeper.sweep_stale_uploads().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(aborted = n, "aborted stale multipart uploads"),
                Err(e) => tracing::warn!(
                    error = %e,
                    "cannot sweep stale multipart uploads; the bucket lifecycle rule (deploy/) removes them"
                ),
            }
        });
        Ok(Some(storage))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn full_key(&self, key: &str) -> Result<String, StorageError> {
        if !valid_key(key) {
            return Err(StorageError::InvalidKey(key.to_string()));
        }
        Ok(format!("{}{key}", self.prefix))
    }

    /// Aborts multipart uploads under `renders/` started more than a day ago (crashed workers leave
    /// them; the bucket lifecycle rule in deploy/ is the backstop). Returns how many were aborted.
    pub async fn sweep_stale_uploads(&self) -> Result<usize, StorageError> {
        let prefix = format!("{}renders/", self.prefix);
        let cutoff = SystemTime::now()
            .checked_sub(STALE_UPLOAD_AGE)
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let mut aborted = 0;
        let mut key_marker: Option<String> = None;
        let mut id_marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| s3_error("list multipart uploads", e))?;
            for u in page.uploads() {
                let (Some(key), Some(id)) = (u.key(), u.upload_id()) else {
                    continue;
                };
                if u.initiated().is_some_and(|t| t.secs() < cutoff) {
                    self.client
                        .abort_multipart_upload()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(id)
                        .send()
                        .await
                        .map_err(|e| s3_error(format!("abort upload of {key}"), e))?;
                    aborted += 1;
                }
            }
            if page.is_truncated() != Some(true) {
                return Ok(aborted);
            }
            key_marker = page.next_key_marker().map(String::from);
            id_marker = page.next_upload_id_marker().map(String::from);
            if key_marker.is_none() && id_marker.is_none() {
                return Ok(aborted);
            }
        }
    }

    /// Streams an object to `dest`.
    /// Downloads `s3://bucket/key` to `dest`; more than `max` bytes is [`StorageError::TooLarge`]
    /// (checked on the announced length, and again while reading).
    async fn download(
        &self,
        bucket: &str,
        key: &str,
        dest: &Path,
        max: Option<u64>,
    ) -> Result<u64, StorageError> {
        let url = format!("s3://{bucket}/{key}");
        let too_large = |size: u64| StorageError::TooLarge {
            object: url.clone(),
            size,
            limit: max.unwrap_or(u64::MAX),
        };
        let resp = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Err(StorageError::NotFound(url));
            }
            Err(e) => return Err(s3_error(format!("get {url}"), e)),
        };
        if let (Some(max), Some(len)) = (max, resp.content_length) {
            if len > 0 && len as u64 > max {
                return Err(too_large(len as u64));
            }
        }
        let mut body = resp.body;
        let mut out = tokio::fs::File::create(dest)
            .await
            .map_err(|e| StorageError::io(format!("create {}", dest.display()), e))?;
        let mut n = 0u64;
        loop {
            // The SDK's timeouts end when the answer starts: a body that stalls fails here.
            let next = tokio::time::timeout(self.timeout, body.try_next())
                .await
                .map_err(|_| StorageError::S3 {
                    context: format!("read {url}"),
                    message: format!("no data for {} s", self.timeout.as_secs()),
                })?;
            let Some(chunk) = next.map_err(|e| StorageError::S3 {
                context: format!("read {url}"),
                message: e.to_string(),
            })?
            else {
                break;
            };
            out.write_all(&chunk)
                .await
                .map_err(|e| StorageError::io(format!("write {}", dest.display()), e))?;
            n += chunk.len() as u64;
            if max.is_some_and(|max| n > max) {
                drop(out);
                let _ = tokio::fs::remove_file(dest).await;
                return Err(too_large(n));
            }
        }
        out.flush()
            .await
            .map_err(|e| StorageError::io(format!("write {}", dest.display()), e))?;
        Ok(n)
    }

    /// Uploads the file `file` (being written while `state` says `Writing`) to `key`.
    async fn upload_growing(
        &self,
        upload: &mut Multipart<'_>,
        file: &Path,
        state: &mut watch::Receiver<WriterState>,
        margin: u64,
    ) -> Result<Option<u64>, StorageError> {
        let part = self.part_size;
        // Region 0 holds the header the muxer patches at the end: it waits for the end.
        let mut next = 1u64;
        loop {
            match *state.borrow_and_update() {
                WriterState::Abandoned => return Ok(None),
                WriterState::Finished => break,
                WriterState::Writing => {}
            }
            let len = tokio::fs::metadata(file)
                .await
                .map(|m| m.len())
                .unwrap_or(0);
            while (next + 1) * part + margin <= len {
                if *state.borrow() == WriterState::Abandoned {
                    return Ok(None);
                }
                upload.send_region(file, next, part, true).await?;
                next += 1;
            }
            tokio::select! {
                changed = state.changed() => {
                    // The writer went away without a word: only `Finished` counts as done.
                    if changed.is_err() && *state.borrow() != WriterState::Finished {
                        return Ok(None);
                    }
                }
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        let total = tokio::fs::metadata(file)
            .await
            .map_err(|e| StorageError::io(format!("stat {}", file.display()), e))?
            .len();
        if upload.upload_id.is_none() && total <= part {
            let body = ByteStream::from_path(file)
                .await
                .map_err(|e| StorageError::S3 {
                    context: format!("read {}", file.display()),
                    message: e.to_string(),
                })?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&upload.key)
                .content_type(upload.content_type)
                .body(body)
                .send()
                .await
                .map_err(|e| s3_error(format!("put {}", upload.key), e))?;
            return Ok(Some(total));
        }
        let regions = total.div_ceil(part).max(1);
        for k in 0..regions {
            if !upload.parts.contains_key(&((k + 1) as i32)) {
                upload.send_region(file, k, part, false).await?;
            }
        }
        upload.complete().await?;
        if tracing::enabled!(tracing::Level::DEBUG) {
            // Lets a test (or an operator) compare the stored object with the file that was written.
            let sha = sha256_of(file).await?;
            tracing::debug!(key = %upload.key, sha256 = %sha, "uploaded file checksum");
        }
        tracing::info!(
            key = %upload.key,
            bytes = total,
            parts = upload.parts.len(),
            parts_during_encoding = upload.during_encoding,
            "multipart upload completed"
        );
        Ok(Some(total))
    }
}

async fn sha256_of(file: &Path) -> Result<String, StorageError> {
    use sha2::{Digest, Sha256};
    let io = |e| StorageError::io(format!("read {}", file.display()), e);
    let mut f = tokio::fs::File::open(file).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

/// One multipart upload in progress.
struct Multipart<'a> {
    s3: &'a S3Storage,
    key: String,
    content_type: &'a str,
    upload_id: Option<String>,
    parts: BTreeMap<i32, CompletedPart>,
    during_encoding: u32,
}

impl Multipart<'_> {
    async fn id(&mut self) -> Result<String, StorageError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let out = self
            .s3
            .client
            .create_multipart_upload()
            .bucket(&self.s3.bucket)
            .key(&self.key)
            .content_type(self.content_type)
            .send()
            .await
            .map_err(|e| s3_error(format!("create multipart upload of {}", self.key), e))?;
        let id = out
            .upload_id()
            .ok_or_else(|| StorageError::S3 {
                context: format!("create multipart upload of {}", self.key),
                message: "no upload id in the answer".into(),
            })?
            .to_string();
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    /// Uploads bytes `[k·part, (k+1)·part)` of `file` (fewer at the end) as part `k + 1`.
    async fn send_region(
        &mut self,
        file: &Path,
        k: u64,
        part: u64,
        during_encoding: bool,
    ) -> Result<(), StorageError> {
        let id = self.id().await?;
        let io = |e| StorageError::io(format!("read {}", file.display()), e);
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        f.seek(std::io::SeekFrom::Start(k * part))
            .await
            .map_err(io)?;
        let mut buf = Vec::with_capacity(part as usize);
        (&mut f)
            .take(part)
            .read_to_end(&mut buf)
            .await
            .map_err(io)?;
        let number = (k + 1) as i32;
        let bytes = buf.len();
        let out = self
            .s3
            .client
            .upload_part()
            .bucket(&self.s3.bucket)
            .key(&self.key)
            .upload_id(id)
            .part_number(number)
            .body(ByteStream::from(buf))
            .send()
            .await
            .map_err(|e| s3_error(format!("upload part {number} of {}", self.key), e))?;
        self.parts.insert(
            number,
            CompletedPart::builder()
                .set_e_tag(out.e_tag().map(String::from))
                .part_number(number)
                .build(),
        );
        if during_encoding {
            self.during_encoding += 1;
        }
        tracing::debug!(key = %self.key, part = number, bytes, during_encoding, "part uploaded");
        Ok(())
    }

    async fn complete(&mut self) -> Result<(), StorageError> {
        let id = self.id().await?;
        let parts: Vec<CompletedPart> = self.parts.values().cloned().collect();
        self.s3
            .client
            .complete_multipart_upload()
            .bucket(&self.s3.bucket)
            .key(&self.key)
            .upload_id(id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| s3_error(format!("complete multipart upload of {}", self.key), e))?;
        self.upload_id = None;
        Ok(())
    }

    /// Drops the parts sent so far (failure, cancel).
    async fn abort(&mut self) {
        let Some(id) = self.upload_id.take() else {
            return;
        };
        let r = self
            .s3
            .client
            .abort_multipart_upload()
            .bucket(&self.s3.bucket)
            .key(&self.key)
            .upload_id(&id)
            .send()
            .await;
        match r {
            Ok(_) => tracing::info!(key = %self.key, upload_id = %id, "multipart upload aborted"),
            Err(e) => tracing::warn!(
                key = %self.key,
                upload_id = %id,
                error = %DisplayErrorContext(&e),
                "cannot abort multipart upload; the bucket lifecycle rule removes it"
            ),
        }
    }
}

#[async_trait]
impl Storage for S3Storage {
    async fn put_file(
        &self,
        key: &str,
        file: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError> {
        let (_tx, rx) = watch::channel(WriterState::Finished);
        self.put_growing(key, file, content_type, rx)
            .await?
            .ok_or_else(|| StorageError::S3 {
                context: format!("put {key}"),
                message: "upload abandoned".into(),
            })
    }

    async fn signed_url(&self, key: &str, ttl: Duration) -> Result<String, StorageError> {
        let full = self.full_key(key)?;
        let config = PresigningConfig::expires_in(ttl.clamp(Duration::from_secs(1), MAX_PRESIGN))
            .map_err(|e| StorageError::S3 {
            context: "presign".into(),
            message: e.to_string(),
        })?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .presigned(config)
            .await
            .map_err(|e| s3_error(format!("presign {full}"), e))?;
        Ok(req.uri().to_string())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let full = self.full_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| s3_error(format!("delete {full}"), e))?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| s3_error(format!("head bucket {}", self.bucket), e))?;
        Ok(())
    }

    async fn get_file(&self, key: &str, dest: &Path) -> Result<u64, StorageError> {
        let full = self.full_key(key)?;
        self.download(&self.bucket, &full, dest, None).await
    }

    fn progressive(&self) -> bool {
        self.progressive
    }

    async fn put_growing(
        &self,
        key: &str,
        file: &Path,
        content_type: &str,
        mut state: watch::Receiver<WriterState>,
    ) -> Result<Option<u64>, StorageError> {
        let full = self.full_key(key)?;
        // MP4/MOV without faststart only patch the header: a little slack covers the muxer's buffer.
        // Matroska/WebM patches the cluster being written (≤ 5 MiB by default): stay past it.
        let margin = match content_type {
            "video/mp4" | "video/quicktime" => 1024 * 1024,
            _ => 6 * 1024 * 1024,
        };
        if !self.progressive {
            // Wait for the end, then upload the finished file.
            let done = state
                .wait_for(|s| *s != WriterState::Writing)
                .await
                .map(|s| *s == WriterState::Finished)
                .unwrap_or(false);
            if !done {
                return Ok(None);
            }
            state = watch::channel(WriterState::Finished).1;
        }
        let mut upload = Multipart {
            s3: self,
            key: full,
            content_type,
            upload_id: None,
            parts: BTreeMap::new(),
            during_encoding: 0,
        };
        let result = self
            .upload_growing(&mut upload, file, &mut state, margin)
            .await;
        if !matches!(result, Ok(Some(_))) {
            upload.abort().await;
        }
        result
    }

    async fn get_s3_asset(&self, url: &S3Url, dest: &Path) -> Result<u64, StorageError> {
        self.download(&url.bucket, &url.key, dest, Some(self.asset_max_bytes))
            .await
    }
}
