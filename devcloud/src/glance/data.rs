//! Glance v2's image data: the streamed upload (the checks Glance makes before the first
//! byte, checksums, runs of zeros kept as lengths rather than written, `image_size_cap`) and
//! the streamed download with `Range`, with their fault knobs (reset after N bytes, a
//! corrupted byte).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use md5::Md5;
use sha2::{Digest, Sha512};
use tokio::io::AsyncWriteExt;

use super::{now, usage};
use crate::FaultSettings;
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::ApiError;
use crate::imagedata::{CHUNK, Content, Extent, ZeroRuns};

use super::api::{err, lookup, not_found, over_limit};

/// Glance's default `image_size_cap`: 1 TiB.
const IMAGE_SIZE_CAP: u64 = 1 << 40;

/// Put an image back to `queued` after a failed upload.
fn requeue(cloud: &SharedCloud, id: &str) {
    if let Some(image) = cloud.glance.lock().get_mut(id)
        && image.status == "saving"
    {
        image.status = "queued".into();
        image.updated_at = now();
    }
}

/// `PUT /v2/images/{id}/file`: Glance's checks, then the bytes ([`take_bytes`]); a refused
/// upload's body is read to its end first ([`discard`]).
pub(super) async fn upload(
    State(cloud): State<SharedCloud>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let faults = match admit(&cloud, &auth, &id, &headers) {
        Ok(faults) => faults,
        Err(refused) => {
            discard(body.into_data_stream()).await;
            return Err(refused);
        }
    };
    take_bytes(cloud, id, faults, body).await
}

/// The checks Glance makes before it takes an upload's first byte: the image is the project's,
/// `queued`, and within the unified limits; it is then `saving`.
fn admit(
    cloud: &SharedCloud,
    auth: &Auth,
    id: &str,
    headers: &HeaderMap,
) -> Result<FaultSettings, ApiError> {
    lookup(cloud, auth, id)?;
    let faults = cloud.faults.get();
    let mut images = cloud.glance.lock();
    // glance's `enforce_image_size_total` (oslo.limit) before anything else, its delta the
    // MiB the request says it brings (none without a Content-Length): 413, still `queued`.
    if let Some(limit) = faults.quota.image_size_total {
        let delta = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            >> 20;
        let used = usage(&images, &auth.project_id).size_mib;
        if used + delta > limit {
            return Err(over_limit(
                &auth.project_id,
                "image_size_total",
                limit,
                used,
                delta,
            ));
        }
    }
    let image = images.get(id).ok_or_else(|| not_found(id))?;
    if image.owner != auth.project_id && !auth.is_admin {
        return Err(err(
            StatusCode::FORBIDDEN,
            "You are not permitted to upload data to this image.",
        ));
    }
    if image.status != "queued" {
        return Err(err(
            StatusCode::CONFLICT,
            format!(
                "Image status transition from {} to saving is not allowed",
                image.status
            ),
        ));
    }
    // glance's `enforce_image_count_uploading` (oslo.limit), before any byte is taken:
    // 413 with LimitExceeded's text; the image stays `queued`.
    if let Some(limit) = faults.quota.image_count_uploading {
        let uploading = usage(&images, &auth.project_id).uploading;
        if uploading + 1 > limit {
            return Err(over_limit(
                &auth.project_id,
                "image_count_uploading",
                limit,
                uploading,
                1,
            ));
        }
    }
    let image = images.get_mut(id).ok_or_else(|| not_found(id))?;
    image.status = "saving".into();
    Ok(faults)
}

/// Read what is left of a refused upload's body and drop it, as Glance under eventlet's wsgi
/// discards a body its app left unread: a server that closed the connection with the client
/// still sending would reset it, and the client would see a broken transfer, not the refusal,
/// as often as not.
async fn discard(mut stream: axum::body::BodyDataStream) {
    while let Some(Ok(_)) = stream.next().await {}
}

/// Take an image's bytes: the checks above made it `saving`; the bytes go to its file, past
/// `image_size_cap` or broken off it goes back to `queued`.
async fn take_bytes(
    cloud: SharedCloud,
    id: String,
    faults: FaultSettings,
    body: Body,
) -> Result<Response, ApiError> {
    let path = cloud.glance.file_path(&id);
    let reset_after = cloud.faults.take_reset_upload();
    let cap = faults.image_size_cap.unwrap_or(IMAGE_SIZE_CAP);
    let written =
        receive(&path, body, reset_after, cap)
            .await
            .and_then(|(received, md5, sha512)| {
                Ok((
                    received.content(&path).map_err(Refused::Broken)?,
                    md5,
                    sha512,
                ))
            });
    let (content, md5, sha512) = match written {
        Ok(done) => done,
        Err(refused) => {
            let _ = tokio::fs::remove_file(&path).await;
            requeue(&cloud, &id);
            return Err(match refused {
                // glance's LimitingReader past `image_size_cap`: ImageSizeLimitExceeded, the
                // image restored to `queued`.
                Refused::TooLarge => err(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The incoming image is too large: The provided image is too large.",
                ),
                Refused::Broken(message) => err(
                    StatusCode::BAD_REQUEST,
                    format!("Error in upload: {message}"),
                ),
            });
        }
    };
    let stored = {
        let mut images = cloud.glance.lock();
        match images.get_mut(&id) {
            Some(image) if image.status == "saving" => {
                image.size = Some(content.size());
                image.checksum = Some(md5);
                image.os_hash_value = Some(sha512);
                image.virtual_size = content.inspect_virtual_size(image.disk_format.as_deref());
                image.content = Some(content);
                image.status = "active".into();
                image.updated_at = now();
                true
            }
            _ => false,
        }
    };
    if stored {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        let _ = tokio::fs::remove_file(&path).await;
        Err(err(
            StatusCode::GONE,
            "Image was deleted during the upload.",
        ))
    }
}

/// What an upload left in its file: every byte (`stored == size`), or only the stretches
/// that are not runs of zeros, packed.
struct Received {
    size: u64,
    stored: u64,
    extents: Vec<Extent>,
}

impl Received {
    /// The image's content, its bytes in the file at `path`.
    fn content(self, path: &std::path::Path) -> Result<Content, String> {
        let file = Content::File {
            path: Arc::new(path.to_path_buf()),
            size: self.stored,
        };
        if self.stored == self.size {
            return Ok(file);
        }
        Content::sparse(file, self.extents, self.size).map_err(|e| e.to_string())
    }
}

/// Why an upload's bytes were not taken.
enum Refused {
    /// Past `image_size_cap`.
    TooLarge,
    /// The body broke off, the reset fault, or the disk.
    Broken(String),
}

/// Stream a request body to `path`, hashing every byte; runs of zeros are kept as lengths
/// ([`ZeroRuns`]), not written, so a large image that is mostly zeros costs disk only for its
/// data. Fails on a broken body, the reset fault or a body longer than `cap` bytes.
async fn receive(
    path: &std::path::Path,
    body: Body,
    reset_after: Option<u64>,
    cap: u64,
) -> Result<(Received, String, String), Refused> {
    let io = |e: std::io::Error| Refused::Broken(e.to_string());
    let mut file = tokio::fs::File::create(path).await.map_err(io)?;
    let mut md5 = Md5::new();
    let mut sha = Sha512::new();
    let mut runs = ZeroRuns::new();
    let mut out = Vec::with_capacity(2 * CHUNK);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| Refused::Broken(format!("the request body broke off: {e}")))?;
        if let Some(limit) = reset_after
            && runs.size() + chunk.len() as u64 > limit
        {
            return Err(Refused::Broken(format!(
                "connection reset after {limit} bytes (devcloud fault)"
            )));
        }
        if runs.size() + chunk.len() as u64 > cap {
            // The rest is read and dropped before the 413 goes out (see `discard`).
            discard(stream).await;
            return Err(Refused::TooLarge);
        }
        md5.update(&chunk);
        sha.update(&chunk);
        runs.push(&chunk, &mut out);
        if out.len() >= CHUNK {
            file.write_all(&out).await.map_err(io)?;
            out.clear();
        }
    }
    let (extents, size, stored) = runs.finish(&mut out);
    file.write_all(&out).await.map_err(io)?;
    file.flush().await.map_err(io)?;
    Ok((
        Received {
            size,
            stored,
            extents,
        },
        hex::encode(md5.finalize()),
        hex::encode(sha.finalize()),
    ))
}

/// Parse a single `Range: bytes=...` against `size`: `Ok(None)` for no range, `Err(())`
/// when unsatisfiable.
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let spec = value.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (start, "") => (start.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (start, end) => {
            let (s, e): (u64, u64) = (start.parse().map_err(|_| ())?, end.parse().map_err(|_| ())?);
            (s, e.min(size.saturating_sub(1)))
        }
    };
    if size == 0 || start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `GET /v2/images/{id}/file`: the image's bytes, a `Range` of them (206), or 204 while it
/// has none.
pub(super) async fn download(
    State(cloud): State<SharedCloud>,
    auth: Auth,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let image = lookup(&cloud, &auth, &id)?;
    let (Some(content), "active") = (image.content.clone(), image.status.as_str()) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let size = content.size();
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(value) => match parse_range(value, size) {
            Ok(range) => range,
            Err(()) => {
                // As Glance: no Content-Range on a 416.
                return Ok(err(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "The Range requested is not available.",
                )
                .into_response());
            }
        },
    };
    let (start, end) = range.unwrap_or((0, size.saturating_sub(1)));
    let length = if size == 0 { 0 } else { end - start + 1 };
    let faults = cloud.faults.get();
    let reset_after = cloud.faults.take_reset_download();
    let corrupt = faults.corrupt_download_byte;
    let reset = || {
        std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "devcloud fault: connection reset",
        )
    };
    let inner = content.stream(start, start + length);
    // `sent` counts the bytes of this response; a reset fault ends the body in an error after
    // `reset_after` of them (with Content-Length set, the client sees a short body).
    let stream = futures_util::stream::unfold(
        (inner, 0u64, false),
        move |(mut inner, sent, stop)| async move {
            if stop {
                return None;
            }
            if reset_after.is_some_and(|limit| sent >= limit) {
                return Some((Err(reset()), (inner, sent, true)));
            }
            match inner.next().await {
                None => None,
                Some(Err(e)) => Some((Err(e), (inner, sent, true))),
                Some(Ok(mut chunk)) => {
                    let chunk_start = start + sent;
                    if let Some(at) = corrupt
                        && at >= chunk_start
                        && at < chunk_start + chunk.len() as u64
                    {
                        let mut bytes = chunk.to_vec();
                        bytes[(at - chunk_start) as usize] ^= 0xff;
                        chunk = Bytes::from(bytes);
                    }
                    if let Some(limit) = reset_after
                        && sent + chunk.len() as u64 > limit
                    {
                        chunk.truncate((limit - sent) as usize);
                    }
                    let sent = sent + chunk.len() as u64;
                    Some((Ok(chunk), (inner, sent, false)))
                }
            }
        },
    );
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut resp = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, length.to_string());
    if let Some(md5) = &image.checksum {
        resp = resp.header("content-md5", md5.as_str());
    }
    if range.is_some() {
        resp = resp.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
    }
    resp.body(Body::from_stream(stream))
        .map_err(|e| err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
