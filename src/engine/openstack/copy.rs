//! The adapter's image copy: a snapshot's bytes from the source Glance into a queued target
//! image, in one of two ways.
//!
//! - **stream**: the download is piped into the upload ([`transfer::pipe`]: bounded buffers,
//!   md5 and sha512 on the way); a broken connection starts it again from byte 0.
//! - **spool** (asked for, or needed for a disk format conversion): the download goes to a
//!   file in the spool folder ([`transfer::spool`], resumed with `Range` after a break or a
//!   killed run), is checked, converted with qemu-img if the formats differ, and uploaded from
//!   the file (again after a broken upload).
//!
//! Every byte received is checked against the source's `checksum`, `os_hash_value` and `size`
//! before it counts; a broken upload is retried only once Glance has put the image back to
//! `queued`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use futures_util::stream::BoxStream;

use super::{OpenStack, api};
use crate::cloud::{self, Cloud, ImageId};
use crate::engine::port::{CopySpec, PortError, PortResult, Progress};
use crate::graph::TransferMode;
use crate::transfer::{self, Checksums, PartNote, RangeSource, SpoolOptions};

/// The restart budget of one copy: what the running attempt has moved (fed by its progress)
/// and how many bytes broken attempts may move in all.
struct Restarts {
    moved: Arc<AtomicU64>,
    budget: u64,
}

/// The source image's data, opened at an offset (a `Range` request past byte 0).
struct GlanceRange<'a> {
    cloud: &'a Cloud,
    id: ImageId,
}

impl RangeSource for GlanceRange<'_> {
    type Error = cloud::Error;
    type Stream = BoxStream<'static, Result<Bytes, cloud::Error>>;

    async fn open(&self, offset: u64) -> Result<Self::Stream, cloud::Error> {
        let from = (offset > 0).then_some(offset);
        let download = self.cloud.image.download(&self.id, from).await?;
        if offset > 0 && !download.is_partial() {
            return Err(cloud::Error::Unsupported {
                cloud: self.cloud.name().to_string(),
                message: format!(
                    "the image service ignored a Range request for image {} (answered {})",
                    self.id, download.status
                ),
            });
        }
        Ok(download.stream)
    }
}

/// Report a growing count every 250 ms until dropped.
struct Reporter(tokio::task::JoinHandle<()>);

impl Reporter {
    fn start(
        progress: &Progress,
        total: Option<u64>,
        count: impl Fn() -> u64 + Send + 'static,
    ) -> Reporter {
        let progress = progress.clone();
        Reporter(tokio::spawn(async move {
            let mut last = u64::MAX;
            loop {
                let now = count();
                if now != last {
                    progress(now, total);
                    last = now;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }))
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What differs between the source image's published checksums and the bytes received.
fn differences(source: &cloud::image::Image, sums: &Checksums) -> Vec<String> {
    let mut differ = Vec::new();
    if let Some(md5) = &source.checksum
        && md5 != &sums.md5
    {
        differ.push(format!("md5: source {md5}, received {}", sums.md5));
    }
    if source.os_hash_algo.as_deref() == Some("sha512")
        && let Some(sha) = &source.os_hash_value
        && sha != &sums.sha512
    {
        differ.push(format!("sha512: source {sha}, received {}", sums.sha512));
    }
    if let Some(size) = source.size
        && size != sums.size
    {
        differ.push(format!("size: source {size}, received {}", sums.size));
    }
    differ
}

fn verify(source: &cloud::image::Image, sums: &Checksums) -> PortResult<()> {
    let differ = differences(source, sums);
    if differ.is_empty() {
        Ok(())
    } else {
        Err(PortError::Transfer(format!(
            "the bytes received differ from source image {}: {}",
            source.id,
            differ.join("; ")
        )))
    }
}

fn spool_error(e: impl std::fmt::Display) -> PortError {
    PortError::Transfer(format!("spooling: {e}"))
}

async fn remove(paths: &[PathBuf]) {
    for path in paths {
        let _ = tokio::fs::remove_file(path).await;
    }
}

impl OpenStack {
    /// Fill target image `target_id` with the bytes of source image `source_id`.
    pub(super) async fn copy_image(
        &self,
        target_id: &str,
        source_id: &str,
        copy: &CopySpec,
        progress: Progress,
    ) -> PortResult<Checksums> {
        let source = self
            .source
            .image
            .get(&ImageId::new(source_id))
            .await
            .map_err(api("source: get image"))?
            .ok_or_else(|| PortError::NotFound {
                what: format!("source image {source_id}"),
            })?;
        let target = ImageId::new(target_id);
        // What the current attempt has moved, for the restart budget of `with_retries`.
        let moved = Arc::new(AtomicU64::new(0));
        let progress: Progress = {
            let moved = moved.clone();
            Arc::new(move |bytes, total| {
                moved.store(bytes, Ordering::Relaxed);
                progress(bytes, total)
            })
        };
        let budget = self.transfer.retry_budget.unwrap_or_else(|| {
            source
                .size
                .unwrap_or(0)
                .saturating_mul(2)
                .max(super::MIN_RETRY_BUDGET)
        });
        let restarts = Restarts { moved, budget };
        let from = source.disk_format.clone().unwrap_or_default();
        let convert = (!from.is_empty() && from != copy.disk_format)
            .then(|| (from.clone(), copy.disk_format.clone()));
        if copy.transfer == TransferMode::Spool || convert.is_some() {
            self.spooled(&target, &source, convert, &progress, &restarts)
                .await
        } else {
            self.streamed(&target, &source, &progress, &restarts).await
        }
    }

    /// Download piped into upload; again from byte 0 after a break.
    async fn streamed(
        &self,
        target: &ImageId,
        source: &cloud::image::Image,
        progress: &Progress,
        restarts: &Restarts,
    ) -> PortResult<Checksums> {
        let sums = self
            .with_retries(target, progress, restarts, || async {
                let download = self
                    .source
                    .image
                    .download(&source.id, None)
                    .await
                    .map_err(|e| PortError::Transfer(format!("source download: {e}")))?;
                let size = download.content_length.or(source.size);
                self.send(target, download.stream, size, progress).await
            })
            .await?;
        verify(source, &sums)?;
        Ok(sums)
    }

    /// Download to the spool folder (resumable), check, convert if asked, upload from file.
    async fn spooled(
        &self,
        target: &ImageId,
        source: &cloud::image::Image,
        convert: Option<(String, String)>,
        progress: &Progress,
        restarts: &Restarts,
    ) -> PortResult<Checksums> {
        let dir = self.transfer.spool_dir.clone();
        let key = source.id.to_string();
        let note = PartNote {
            source_image_id: key.clone(),
            size: source.size,
            md5: source.checksum.clone(),
        };
        let part = dir.join(format!("{key}.part"));
        let spooled = {
            let _reporter = Reporter::start(progress, source.size, move || {
                std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0)
            });
            let range = GlanceRange {
                cloud: &self.source,
                id: source.id.clone(),
            };
            transfer::spool(&range, &dir, &key, &note, SpoolOptions::default())
                .await
                .map_err(spool_error)?
        };
        if spooled.resumed_from > 0 {
            tracing::info!(
                image = %source.id,
                bytes = spooled.resumed_from,
                "resumed a spooled download left by an earlier run"
            );
        }
        let mut files = vec![spooled.path.clone()];
        if let Err(e) = verify(source, &spooled.checksums) {
            remove(&files).await;
            return Err(e);
        }
        let upload = match &convert {
            Some((from, to)) => {
                let out = dir.join(format!("{key}.{to}"));
                files.push(out.clone());
                if let Err(e) = transfer::convert(&spooled.path, from, &out, to).await {
                    remove(&files).await;
                    return Err(PortError::Transfer(e.to_string()));
                }
                out
            }
            None => spooled.path.clone(),
        };
        let result = self
            .with_retries(target, progress, restarts, || {
                self.send_file(target, &upload, progress)
            })
            .await;
        if result.is_ok() {
            remove(&files).await;
        }
        let sums = result?;
        if convert.is_none() && sums != spooled.checksums {
            return Err(PortError::Transfer(format!(
                "the spool file {} changed on disk: md5 {} was downloaded, {} uploaded",
                upload.display(),
                spooled.checksums.md5,
                sums.md5
            )));
        }
        Ok(sums)
    }

    async fn send_file(
        &self,
        target: &ImageId,
        path: &Path,
        progress: &Progress,
    ) -> PortResult<Checksums> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| spool_error(format!("{}: {e}", path.display())))?
            .len();
        let stream = transfer::file_stream(path).await.map_err(spool_error)?;
        self.send(target, stream, Some(size), progress).await
    }

    /// Pipe `stream` into the target image's upload, hashing it.
    async fn send<S, E>(
        &self,
        target: &ImageId,
        stream: S,
        size: Option<u64>,
        progress: &Progress,
    ) -> PortResult<Checksums>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let (body, handle) = transfer::pipe(stream, self.transfer.pipe);
        let moved: Arc<AtomicU64> = handle.progress();
        let uploaded = {
            let counter = moved.clone();
            let _reporter =
                Reporter::start(progress, size, move || counter.load(Ordering::Relaxed));
            self.target.image.upload(target, size, body).await
        };
        let piped = handle.finish().await;
        progress(moved.load(Ordering::Relaxed), size);
        match (uploaded, piped) {
            (Ok(()), Ok(sums)) => Ok(sums),
            // A quota refusal (Glance's images uploading at once, its storage quota) or an
            // image above Glance's `image_size_cap` is no broken transfer: said as the cloud
            // said it (with its code and help), and not tried again.
            (Err(up), _)
                if matches!(
                    up.code(),
                    "s2d::cloud::quota" | "s2d::cloud::image_size_cap"
                ) =>
            {
                Err(super::port_error("target upload", up))
            }
            (Ok(()), Err(e)) => Err(PortError::Transfer(e.to_string())),
            // Both broke: the pipe says which side stopped first, the upload names the call.
            (Err(up), Err(e)) => Err(PortError::Transfer(format!("{e} (target upload: {up})"))),
            (Err(e), Ok(sums)) => {
                if e.is_ambiguous() && self.upload_landed(target, &sums).await {
                    tracing::info!(image = %target, error = %e, "the upload's answer was lost, but the image holds every byte sent");
                    return Ok(sums);
                }
                Err(PortError::Transfer(format!("target upload: {e}")))
            }
        }
    }

    /// Whether an upload whose answer was lost (a 5xx or a reset after every byte was sent)
    /// nevertheless landed: the target image became `active` with the size and md5 of what
    /// was sent (Glance may say `saving` for a while first).
    async fn upload_landed(&self, target: &ImageId, sums: &Checksums) -> bool {
        let settled = cloud::wait::wait_for(
            self.target.session.name(),
            &format!("image {target} to leave `saving`"),
            Duration::from_secs(30),
            Duration::from_millis(250),
            || async {
                Ok(match self.target.image.get(target).await? {
                    Some(i) if i.status == "saving" => cloud::wait::Poll::Pending("saving".into()),
                    other => cloud::wait::Poll::Ready(other),
                })
            },
        )
        .await;
        matches!(settled, Ok(Some(image))
            if image.status == "active"
                && image.checksum.as_deref() == Some(sums.md5.as_str())
                && image.size == Some(sums.size))
    }

    /// Run `attempt` up to `attempts` times, while the bytes broken attempts moved stay
    /// within the restart budget; between tries, wait until Glance has put the target image
    /// back to `queued` (it may say `saving` for a moment after a broken upload): any other
    /// status means it cannot take the bytes again. A token that expired during an attempt
    /// was renewed by the session when the cloud refused it, so the next attempt has a valid
    /// one.
    async fn with_retries<F, Fut>(
        &self,
        target: &ImageId,
        progress: &Progress,
        restarts: &Restarts,
        mut attempt: F,
    ) -> PortResult<Checksums>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = PortResult<Checksums>>,
    {
        let attempts = self.transfer.attempts.max(1);
        let mut tried = 0;
        let mut spent = 0u64;
        loop {
            tried += 1;
            restarts.moved.store(0, Ordering::Relaxed);
            let error = match attempt().await {
                Ok(sums) => return Ok(sums),
                // Only a broken transfer is worth another attempt.
                Err(error @ PortError::Transfer(_)) => error,
                Err(error) => return Err(error),
            };
            spent = spent.saturating_add(restarts.moved.load(Ordering::Relaxed));
            if tried >= attempts || spent > restarts.budget {
                return Err(PortError::Transfer(format!(
                    "{error} (the copy gave up after {tried} attempt{}, {spent} bytes moved by broken attempts, restart budget {} bytes)",
                    if tried == 1 { "" } else { "s" },
                    restarts.budget
                )));
            }
            // Glance takes a moment to put a broken upload's image back to `queued`.
            let settled = cloud::wait::wait_for(
                self.target.session.name(),
                &format!("image {target} to leave `saving`"),
                Duration::from_secs(30),
                Duration::from_millis(250),
                || async {
                    let status = self.target.image.get(target).await?.map(|i| i.status);
                    Ok(match status.as_deref() {
                        Some("saving") => cloud::wait::Poll::Pending("saving".into()),
                        _ => cloud::wait::Poll::Ready(status),
                    })
                },
            )
            .await;
            let status = match settled {
                Ok(status) => status,
                Err(cloud::Error::Timeout { .. }) => Some("saving".to_string()),
                Err(e) => return Err(api("target: get image")(e)),
            };
            if status.as_deref() != Some("queued") {
                return Err(error);
            }
            tracing::warn!(
                image = %target,
                attempt = tried,
                %error,
                "image transfer broke; starting it again from the first byte"
            );
            progress(0, None);
            tokio::time::sleep(Duration::from_secs(1 << tried.min(4))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(checksum: Option<&str>, sha: Option<&str>, size: Option<u64>) -> cloud::image::Image {
        serde_json::from_value(serde_json::json!({
            "id": "i1", "status": "active", "checksum": checksum,
            "os_hash_algo": sha.map(|_| "sha512"), "os_hash_value": sha, "size": size,
        }))
        .expect("image")
    }

    #[test]
    fn every_published_checksum_is_compared() {
        let sums = Checksums {
            size: 10,
            md5: "aa".into(),
            sha512: "bb".into(),
        };
        assert!(differences(&image(Some("aa"), Some("bb"), Some(10)), &sums).is_empty());
        assert!(differences(&image(None, None, None), &sums).is_empty());
        let differ = differences(&image(Some("ab"), Some("bc"), Some(11)), &sums);
        assert_eq!(differ.len(), 3, "{differ:?}");
        assert!(differ[0].contains("md5: source ab, received aa"));
        let err = verify(&image(Some("ab"), None, None), &sums).expect_err("differs");
        assert!(err.to_string().contains("differ from source image i1"));
    }
}
