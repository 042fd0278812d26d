//! Image content: where an image's bytes live (generated on the fly from a seed, a file in
//! the data directory, or sparse: stored stretches with the runs of zeros between them kept
//! as lengths), how they are streamed from any offset and how they are hashed. Knows nothing
//! about HTTP or Glance's state machine.
//!
//! Generated content is counter-based: byte `p` is byte `p % 8` (little-endian) of
//! `splitmix64(seed, p / 8)`, so any range can be produced directly, at several GB/s, and a
//! 20 GiB image costs neither memory nor disk until someone uploads a copy of it.
//!
//! Generated content has a disk format: `raw` is the pseudo-random bytes themselves; `qcow2`
//! is a valid qcow2 (version 3) image of exactly `size` bytes: a header, refcount table and
//! blocks, an L1 table and L2 tables, computed on the fly like the data, then data clusters
//! (pseudo-random bytes) mapped in order, so `qemu-img check` finds no error and the virtual
//! disk is the data clusters' bytes.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use md5::Md5;
use sha2::{Digest, Sha512};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

mod generated;
mod qcow2;
mod sparse;

pub use generated::{Format, generate, generate_formatted, virtual_size};
use qcow2::Qcow2Layout;
pub use sparse::{Extent, ZeroRuns};
use sparse::{Piece, ZEROS, pieces, zero_stream};

/// Chunk size of streamed reads.
pub const CHUNK: usize = 1 << 20;

/// The bytes of an image or a server disk. Nothing is held wholly in memory: `Generated` is
/// deterministic pseudo-random data computed on the fly, `File` is a file on disk, `Sparse`
/// keeps only the stretches that are not runs of zeros.
#[derive(Clone, Debug)]
pub enum Content {
    /// `size` bytes of pseudo-random data determined by `seed`, laid out as `format`.
    Generated {
        /// The generator seed.
        seed: u64,
        /// The length in bytes.
        size: u64,
        /// The disk format the bytes are a valid image of.
        format: Format,
    },
    /// The bytes of a file (immutable once written).
    File {
        /// The file's path.
        path: Arc<PathBuf>,
        /// The file's length in bytes.
        size: u64,
    },
    /// A volume's bytes: `len` bytes of `base` from `offset` on, then zeros up to `size`
    /// (a volume made from an image and larger than it; a blank volume has `len` 0). Built
    /// with [`Content::window`], which never nests windows.
    Window {
        /// The bytes the window shows.
        base: Arc<Content>,
        /// Where in `base` the window starts.
        offset: u64,
        /// How many bytes of `base` it shows.
        len: u64,
        /// The length in bytes (zeros after `len`).
        size: u64,
    },
    /// A qcow2 (version 3) image whose virtual disk is `inner`'s bytes (padded with zeros to
    /// whole clusters): the metadata computed on the fly, then `inner` as the data clusters,
    /// mapped in order. What `qemu-img convert -O qcow2` of a volume holds, for Cinder's
    /// upload of a volume as a qcow2 image. Built with [`Content::qcow2_of`].
    Qcow2Of {
        /// The virtual disk.
        inner: Arc<Content>,
    },
    /// Bytes kept zero-run-aware: the stretches listed in `extents` (in order, apart) are
    /// packed one after another in `data`, and every other byte is zero. What Glance keeps of
    /// an upload with runs of zeros (a raw volume image), so a 20 GiB image that is mostly
    /// zeros costs disk and memory only for its data. Built with [`Content::sparse`] or
    /// [`ZeroRuns`].
    Sparse {
        /// The stored stretches, packed.
        data: Arc<Content>,
        /// Where the stored stretches lie (zeros everywhere else).
        extents: Arc<[Extent]>,
        /// The length in bytes.
        size: u64,
    },
}

impl Content {
    /// The length in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Content::Generated { size, .. }
            | Content::File { size, .. }
            | Content::Window { size, .. }
            | Content::Sparse { size, .. } => *size,
            Content::Qcow2Of { inner } => {
                let l = Content::qcow2_of_layout(inner);
                l.file_size()
            }
        }
    }

    /// `size` bytes: `len` bytes of `base` from `offset` on (at most what `base` has), then
    /// zeros. A window over a window is flattened into one window over the inner base, so
    /// chains of volumes made from snapshots of volumes stay one level deep.
    pub fn window(base: Content, offset: u64, len: u64, size: u64) -> Content {
        let len = len.min(base.size().saturating_sub(offset)).min(size);
        match base {
            Content::Window {
                base: inner,
                offset: inner_offset,
                len: inner_len,
                ..
            } => {
                let shown = inner_len.saturating_sub(offset).min(len);
                Content::Window {
                    base: inner,
                    offset: inner_offset + offset.min(inner_len),
                    len: shown,
                    size,
                }
            }
            base => Content::Window {
                base: Arc::new(base),
                offset,
                len,
                size,
            },
        }
    }

    /// A qcow2 image (64 KiB clusters, as `qemu-img` makes them) whose virtual disk is
    /// `inner`'s bytes.
    pub fn qcow2_of(inner: Content) -> Content {
        Content::Qcow2Of {
            inner: Arc::new(inner),
        }
    }

    /// `size` bytes, zeros but for the stretches of `extents`, whose bytes are packed one
    /// after another in `data`. Fails when the extents are out of order, overlap, lie past
    /// `size` or point past the end of `data`.
    pub fn sparse(data: Content, extents: Vec<Extent>, size: u64) -> std::io::Result<Content> {
        let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
        let mut end = 0u64;
        for e in &extents {
            if e.len == 0 || e.at < end {
                return Err(bad(format!(
                    "extent {e:?} is empty or overlaps the one before"
                )));
            }
            end = e
                .at
                .checked_add(e.len)
                .filter(|&x| x <= size)
                .ok_or_else(|| bad(format!("extent {e:?} lies past the content's {size} bytes")))?;
            if e.stored_at
                .checked_add(e.len)
                .is_none_or(|x| x > data.size())
            {
                return Err(bad(format!(
                    "extent {e:?} lies past the {} bytes of packed data",
                    data.size()
                )));
            }
        }
        Ok(Content::Sparse {
            data: Arc::new(data),
            extents: extents.into(),
            size,
        })
    }

    /// How many bytes at the start of this content may be other than zero (the rest is
    /// known zeros: a window's tail).
    fn stored_len(&self) -> u64 {
        match self {
            Content::Window { len, .. } => *len,
            other => other.size(),
        }
    }

    /// The layout of a [`Content::Qcow2Of`] over `inner`: its clusters up to the last that
    /// may hold data are stored, the zeros after them left unallocated.
    fn qcow2_of_layout(inner: &Content) -> Qcow2Layout {
        let virtual_clusters = inner.size().div_ceil(1 << 16).max(1);
        let data = inner.stored_len().div_ceil(1 << 16).min(virtual_clusters);
        Qcow2Layout::for_data(data, virtual_clusters, 16)
    }

    /// A blank volume's bytes: `size` zeros.
    pub fn zeros(size: u64) -> Content {
        Content::window(
            Content::Generated {
                seed: 0,
                size: 0,
                format: Format::Raw,
            },
            0,
            0,
            size,
        )
    }

    /// The bytes a guest sees on a disk written from this content labeled `disk_format`, as
    /// Cinder's `qemu-img convert` to raw finds them: raw content as it is, a generated qcow2's
    /// data clusters; `None` for what devcloud cannot convert (other formats, qcow2 files).
    pub fn guest_bytes(&self, disk_format: &str) -> Option<(u64, u64)> {
        match (disk_format, self) {
            ("raw", _) => Some((0, self.size())),
            (
                "qcow2",
                Content::Generated {
                    size,
                    format: Format::Qcow2,
                    ..
                },
            ) => Qcow2Layout::new(*size).map(|l| (l.data_offset(), l.virtual_size())),
            ("qcow2", Content::Qcow2Of { inner }) => {
                let l = Content::qcow2_of_layout(inner);
                Some((l.data_offset(), l.virtual_size()))
            }
            // Stored bytes (an upload, a copy): a qcow2 whose allocated clusters are a prefix
            // of the virtual disk, mapped in order, as devcloud's own qcow2 and
            // `qemu-img convert` of a volume are laid out.
            ("qcow2", _) => qcow2::contiguous(self),
            _ => None,
        }
    }

    /// The bytes at `start..start + len`, or `None` past the end or on a read error.
    fn read_exact_at(&self, start: u64, len: u64) -> Option<Vec<u8>> {
        if start.checked_add(len)? > self.size() {
            return None;
        }
        let mut out = Vec::with_capacity(usize::try_from(len).ok()?);
        self.for_each_chunk_blocking(start, start + len, &mut |c| out.extend_from_slice(c))
            .ok()?;
        (out.len() as u64 == len).then_some(out)
    }

    /// Call `f` with the bytes from `start` to `end` (exclusive), chunk by chunk, in order.
    /// Blocking: call it on a blocking thread.
    pub fn for_each_chunk_blocking(
        &self,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        let end = end.min(self.size());
        if start >= end {
            return Ok(());
        }
        match self {
            Content::Generated { seed, size, format } => {
                let mut buf = vec![0u8; CHUNK.min((end - start) as usize)];
                let mut pos = start;
                while pos < end {
                    let len = ((end - pos) as usize).min(CHUNK);
                    generate_formatted(*seed, *size, *format, pos, &mut buf[..len]);
                    f(&buf[..len]);
                    pos += len as u64;
                }
            }
            Content::File { path, .. } => {
                let mut file = std::fs::File::open(path.as_path())?;
                file.seek(std::io::SeekFrom::Start(start))?;
                let mut buf = vec![0u8; CHUNK.min((end - start) as usize)];
                let mut pos = start;
                while pos < end {
                    let want = ((end - pos) as usize).min(CHUNK);
                    let n = file.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "image file is shorter than its size",
                        ));
                    }
                    f(&buf[..n]);
                    pos += n as u64;
                }
            }
            Content::Qcow2Of { inner } => {
                let l = Content::qcow2_of_layout(inner);
                let header = l.header();
                let meta_end = l.data_offset();
                let mut pos = start;
                while pos < end.min(meta_end) {
                    let n = ((end.min(meta_end) - pos) as usize).min(CHUNK);
                    let buf: Vec<u8> = (pos..pos + n as u64)
                        .map(|p| l.meta_byte(&header, p))
                        .collect();
                    f(&buf);
                    pos += n as u64;
                }
                if end > meta_end {
                    let from = start.max(meta_end) - meta_end;
                    let to = end - meta_end;
                    let inner_end = to.min(inner.size());
                    if from < inner_end {
                        inner.for_each_chunk_blocking(from, inner_end, f)?;
                    }
                    let zeros = vec![0u8; CHUNK.min((to - from) as usize)];
                    let mut pos = from.max(inner.size());
                    while pos < to {
                        let n = ((to - pos) as usize).min(CHUNK);
                        f(&zeros[..n]);
                        pos += n as u64;
                    }
                }
            }
            Content::Sparse { data, extents, .. } => {
                for piece in pieces(extents, start, end) {
                    match piece {
                        Piece::Stored(from, to) => data.for_each_chunk_blocking(from, to, f)?,
                        Piece::Zeros(mut left) => {
                            while left > 0 {
                                let n = left.min(CHUNK as u64) as usize;
                                f(&ZEROS[..n]);
                                left -= n as u64;
                            }
                        }
                    }
                }
            }
            Content::Window {
                base, offset, len, ..
            } => {
                if start < *len {
                    base.for_each_chunk_blocking(offset + start, offset + end.min(*len), f)?;
                }
                let zeros = vec![0u8; CHUNK.min((end - start) as usize)];
                let mut pos = start.max(*len);
                while pos < end {
                    let n = ((end - pos) as usize).min(CHUNK);
                    f(&zeros[..n]);
                    pos += n as u64;
                }
            }
        }
        Ok(())
    }

    /// The bytes from `start` to `end` (exclusive) as a stream of chunks.
    pub fn stream(&self, start: u64, end: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
        let end = end.min(self.size());
        match self.clone() {
            Content::Generated { seed, size, format } => {
                stream::unfold(start, move |pos| async move {
                    if pos >= end {
                        return None;
                    }
                    let len = ((end - pos) as usize).min(CHUNK);
                    let mut buf = vec![0u8; len];
                    generate_formatted(seed, size, format, pos, &mut buf);
                    Some((Ok(Bytes::from(buf)), pos + len as u64))
                })
                .boxed()
            }
            Content::File { path, .. } => {
                let opened = async move {
                    let mut file = tokio::fs::File::open(path.as_path()).await?;
                    file.seek(std::io::SeekFrom::Start(start)).await?;
                    Ok::<_, std::io::Error>(file)
                };
                stream::once(opened)
                    .flat_map(move |opened| match opened {
                        Err(e) => stream::once(async move { Err(e) }).boxed(),
                        Ok(file) => {
                            stream::unfold((file, start), move |(mut file, pos)| async move {
                                if pos >= end {
                                    return None;
                                }
                                let len = ((end - pos) as usize).min(CHUNK);
                                let mut buf = vec![0u8; len];
                                match file.read(&mut buf).await {
                                    Ok(0) => Some((
                                        Err(std::io::Error::new(
                                            std::io::ErrorKind::UnexpectedEof,
                                            "image file is shorter than its size",
                                        )),
                                        (file, end),
                                    )),
                                    Ok(n) => {
                                        buf.truncate(n);
                                        Some((Ok(Bytes::from(buf)), (file, pos + n as u64)))
                                    }
                                    Err(e) => Some((Err(e), (file, end))),
                                }
                            })
                            .boxed()
                        }
                    })
                    .boxed()
            }
            Content::Sparse { data, extents, .. } => stream::iter(pieces(&extents, start, end))
                .flat_map(move |piece| match piece {
                    Piece::Stored(from, to) => data.stream(from, to),
                    Piece::Zeros(len) => zero_stream(len),
                })
                .boxed(),
            Content::Window {
                base, offset, len, ..
            } => {
                let shown = if start < len {
                    base.stream(offset + start, offset + end.min(len))
                } else {
                    stream::empty().boxed()
                };
                let zeros = stream::unfold(start.max(len), move |pos| async move {
                    if pos >= end {
                        return None;
                    }
                    let n = ((end - pos) as usize).min(CHUNK);
                    Some((Ok(Bytes::from(vec![0u8; n])), pos + n as u64))
                });
                shown.chain(zeros).boxed()
            }
            Content::Qcow2Of { inner } => {
                let l = Content::qcow2_of_layout(&inner);
                let meta_end = l.data_offset();
                let header = l.header();
                let meta = stream::unfold(start, move |pos| async move {
                    let stop = end.min(meta_end);
                    if pos >= stop {
                        return None;
                    }
                    let n = ((stop - pos) as usize).min(CHUNK);
                    let buf: Vec<u8> = (pos..pos + n as u64)
                        .map(|p| l.meta_byte(&header, p))
                        .collect();
                    Some((Ok(Bytes::from(buf)), pos + n as u64))
                });
                let data = if end > meta_end {
                    let from = start.max(meta_end) - meta_end;
                    let window = Content::window((*inner).clone(), 0, inner.size(), end - meta_end);
                    window.stream(from, end - meta_end)
                } else {
                    stream::empty().boxed()
                };
                meta.chain(data).boxed()
            }
        }
    }

    /// The virtual size Glance's format inspector reports for this content under the label
    /// `disk_format`: the size for raw, the header's for a qcow2 that is one; `None` for
    /// other formats and for content that is not what its label says. Reads at most the
    /// first 32 bytes of a file.
    pub fn inspect_virtual_size(&self, disk_format: Option<&str>) -> Option<u64> {
        match (disk_format?, self) {
            ("raw", _) => Some(self.size()),
            ("qcow2", Content::Generated { size, format, .. }) => {
                (*format == Format::Qcow2).then(|| virtual_size(*size, *format))?
            }
            ("qcow2", Content::Qcow2Of { inner }) => {
                Some(Content::qcow2_of_layout(inner).virtual_size())
            }
            ("qcow2", Content::Sparse { .. }) => {
                let mut head = Vec::with_capacity(32);
                self.for_each_chunk_blocking(0, 32, &mut |c| head.extend_from_slice(c))
                    .ok()?;
                (head.len() == 32 && &head[..4] == b"QFI\xfb")
                    .then(|| u64::from_be_bytes(head[24..32].try_into().unwrap_or_default()))
            }
            ("qcow2", Content::File { path, .. }) => {
                use std::io::Read;
                let mut head = [0u8; 32];
                std::fs::File::open(path.as_path())
                    .and_then(|mut f| f.read_exact(&mut head))
                    .ok()?;
                (&head[..4] == b"QFI\xfb")
                    .then(|| u64::from_be_bytes(head[24..32].try_into().unwrap_or_default()))
            }
            _ => None,
        }
    }

    /// md5 and sha512 (lowercase hex) of the whole content. Blocking: call it on a blocking
    /// thread.
    pub fn checksums_blocking(&self) -> std::io::Result<(String, String)> {
        let mut md5 = Md5::new();
        let mut sha = Sha512::new();
        self.for_each_chunk_blocking(0, self.size(), &mut |chunk| {
            md5.update(chunk);
            sha.update(chunk);
        })?;
        Ok((hex::encode(md5.finalize()), hex::encode(sha.finalize())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(content: &Content, start: u64, end: u64) -> Vec<u8> {
        content
            .stream(start, end)
            .map(|c| c.expect("chunk"))
            .collect::<Vec<_>>()
            .await
            .concat()
    }

    /// A volume larger than its image reads the image's bytes then zeros, by stream and by
    /// the blocking reader alike, from any offset; windows over windows flatten.
    #[tokio::test]
    async fn windows_read_their_base_then_zeros() {
        let image = Content::Generated {
            seed: 5,
            size: 3 * CHUNK as u64 + 17,
            format: Format::Raw,
        };
        let size = 5 * CHUNK as u64 + 3;
        let volume = Content::window(image.clone(), 0, image.size(), size);
        let whole = collect(&volume, 0, size).await;
        assert_eq!(whole.len() as u64, size);
        assert_eq!(
            whole[..image.size() as usize],
            collect(&image, 0, image.size()).await[..]
        );
        assert!(whole[image.size() as usize..].iter().all(|b| *b == 0));
        for (start, end) in [
            (0u64, 10u64),
            (image.size() - 3, image.size() + 3),
            (size - 1, size),
            (7, size),
        ] {
            assert_eq!(
                collect(&volume, start, end).await,
                whole[start as usize..end as usize]
            );
            let mut read = Vec::new();
            volume
                .for_each_chunk_blocking(start, end, &mut |c| read.extend_from_slice(c))
                .expect("read");
            assert_eq!(read, whole[start as usize..end as usize]);
        }
        let (md5, _) = volume.checksums_blocking().expect("hash");
        assert_eq!(md5, hex::encode(Md5::digest(&whole)));
        // A snapshot's volume, bigger again: still one window over the image.
        let bigger = Content::window(volume.clone(), 0, size, size + 100);
        let Content::Window { base, len, .. } = &bigger else {
            panic!("not a window: {bigger:?}");
        };
        assert!(matches!(**base, Content::Generated { .. }));
        assert_eq!(*len, image.size());
        let mut again = collect(&bigger, 0, size + 100).await;
        assert!(again.split_off(size as usize).iter().all(|b| *b == 0));
        assert_eq!(again, whole);
        let blank = Content::zeros(1 << 40);
        assert_eq!(collect(&blank, (1 << 40) - 5, 1 << 40).await, vec![0u8; 5]);
    }

    /// Bytes with runs of zeros, fed to [`ZeroRuns`] in chunks of odd sizes, are stored as
    /// their non-zero blocks only, and the sparse content made of them reads back every byte
    /// (stream and blocking reader, from any offset) with the same checksums.
    #[tokio::test]
    async fn zero_runs_are_kept_as_lengths_and_read_back() {
        let block = ZeroRuns::BLOCK;
        let size = 40 * block + 123;
        let mut bytes = vec![0u8; size];
        // Data straddling block edges, one lone byte, and a partial last block.
        generate(1, 0, &mut bytes[3 * block - 5..5 * block + 7]);
        bytes[17 * block + 1000] = 9;
        generate(2, 0, &mut bytes[size - 50..]);
        let mut runs = ZeroRuns::new();
        let mut packed = Vec::new();
        let mut at = 0;
        for (i, step) in [1usize, 4095, 3, 10_000, 7, 65_536]
            .iter()
            .cycle()
            .enumerate()
        {
            if at >= size {
                break;
            }
            let end = (at + step + i).min(size);
            runs.push(&bytes[at..end], &mut packed);
            at = end;
        }
        let (extents, got_size, stored) = runs.finish(&mut packed);
        assert_eq!(got_size, size as u64);
        assert_eq!(stored, packed.len() as u64);
        let at_len: Vec<(u64, u64)> = extents.iter().map(|e| (e.at, e.len)).collect();
        let b = block as u64;
        assert_eq!(
            at_len,
            vec![(2 * b, 4 * b), (17 * b, b), (40 * b, 123)],
            "the non-zero blocks, neighbours merged"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("packed");
        std::fs::write(&path, &packed).expect("write");
        let data = Content::File {
            path: Arc::new(path),
            size: stored,
        };
        let sparse = Content::sparse(data, extents, size as u64).expect("valid extents");
        assert_eq!(collect(&sparse, 0, size as u64).await, bytes);
        for (start, end) in [
            (0, 1),
            (2 * b - 1, 2 * b + 1),
            (5 * b, 18 * b),
            (7, size as u64),
        ] {
            assert_eq!(
                collect(&sparse, start, end).await,
                bytes[start as usize..end as usize]
            );
            let mut read = Vec::new();
            sparse
                .for_each_chunk_blocking(start, end, &mut |c| read.extend_from_slice(c))
                .expect("read");
            assert_eq!(read, bytes[start as usize..end as usize]);
        }
        let (md5, sha) = sparse.checksums_blocking().expect("hash");
        assert_eq!(md5, hex::encode(Md5::digest(&bytes)));
        assert_eq!(sha, hex::encode(Sha512::digest(&bytes)));
        // A volume made from it is a window over it, as over any image.
        let volume = Content::window(sparse.clone(), 0, size as u64, 2 * size as u64);
        let mut whole = collect(&volume, 0, volume.size()).await;
        assert!(whole.split_off(size).iter().all(|b| *b == 0));
        assert_eq!(whole, bytes);
    }

    /// Sparse content over generated data: a 20 GiB image costs nothing until read, any range
    /// reads its stored stretches and zeros, and bad extents are refused.
    #[tokio::test]
    async fn sparse_content_of_generated_data() {
        let size = 20u64 << 30;
        let data = Content::Generated {
            seed: 4,
            size: 2 << 20,
            format: Format::Raw,
        };
        let extents = vec![
            Extent {
                at: 0,
                len: 1 << 20,
                stored_at: 0,
            },
            Extent {
                at: size - (1 << 20),
                len: 1 << 20,
                stored_at: 1 << 20,
            },
        ];
        let sparse = Content::sparse(data.clone(), extents.clone(), size).expect("valid");
        assert_eq!(sparse.size(), size);
        assert_eq!(sparse.inspect_virtual_size(Some("raw")), Some(size));
        let tail = collect(&sparse, size - (1 << 20) - 3, size).await;
        assert_eq!(tail[..3], [0, 0, 0]);
        assert_eq!(tail[3..], collect(&data, 1 << 20, 2 << 20).await[..]);
        assert_eq!(
            collect(&sparse, 5 << 30, (5 << 30) + 10).await,
            vec![0u8; 10]
        );
        let shifted = |at: u64| {
            let mut e = extents.clone();
            e[1].at = at;
            e
        };
        for bad in [shifted(1000), shifted(size - 10)] {
            assert!(Content::sparse(data.clone(), bad, size).is_err());
        }
        let mut past_data = extents.clone();
        past_data[1].stored_at = (1 << 20) + 1;
        assert!(Content::sparse(data, past_data, size).is_err());
    }

    /// A qcow2 made of a volume's bytes is valid for `qemu-img`, its virtual disk is the
    /// volume's bytes, and a volume made from it reads them back.
    #[tokio::test]
    async fn a_volume_becomes_a_valid_qcow2_and_back() {
        let image = Content::Generated {
            seed: 9,
            size: 300_000,
            format: Format::Raw,
        };
        let volume = Content::window(image, 0, 300_000, 3 << 20);
        let qcow2 = Content::qcow2_of(volume.clone());
        let bytes = collect(&qcow2, 0, qcow2.size()).await;
        assert_eq!(bytes.len() as u64, qcow2.size());
        let mut read = Vec::new();
        qcow2
            .for_each_chunk_blocking(0, qcow2.size(), &mut |c| read.extend_from_slice(c))
            .expect("read");
        assert_eq!(read, bytes);
        assert_eq!(
            collect(&qcow2, 70_000, 500_000).await,
            bytes[70_000..500_000]
        );
        assert_eq!(qcow2.inspect_virtual_size(Some("qcow2")), Some(3 << 20));
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("v.qcow2");
        std::fs::write(&file, &bytes).expect("write");
        let check = qemu_img(&["check", "-f", "qcow2", "--output=json"], &file);
        assert!(
            check.status.success(),
            "{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let raw = dir.path().join("v.raw");
        let out = std::process::Command::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(&file)
            .arg(&raw)
            .output()
            .expect("qemu-img");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(&raw).expect("raw"),
            collect(&volume, 0, volume.size()).await
        );
        let (offset, len) = qcow2.guest_bytes("qcow2").expect("convertible");
        let back = Content::window(qcow2, offset, len, len);
        assert_eq!(
            collect(&back, 0, back.size()).await,
            collect(&volume, 0, volume.size()).await
        );
    }

    /// A volume made from a generated qcow2 holds the qcow2's virtual disk.
    #[test]
    fn a_qcow2_image_becomes_its_virtual_disk() {
        let image = Content::Generated {
            seed: 3,
            size: 8 << 20,
            format: Format::Qcow2,
        };
        let (offset, len) = image.guest_bytes("qcow2").expect("convertible");
        assert_eq!(Some(len), virtual_size(8 << 20, Format::Qcow2));
        let volume = Content::window(image.clone(), offset, len, 16 << 20);
        let mut head = Vec::new();
        volume
            .for_each_chunk_blocking(0, 64, &mut |c| head.extend_from_slice(c))
            .expect("read");
        let mut expected = vec![0u8; 64];
        generate(3, offset, &mut expected);
        assert_eq!(head, expected);
        assert_eq!(image.guest_bytes("vmdk"), None);
        assert_eq!(image.guest_bytes("raw"), Some((0, 8 << 20)));
    }

    /// A qcow2 kept as stored bytes (a file, as Glance keeps an upload) reads as its virtual
    /// disk: devcloud's own qcow2 of a volume, and `qemu-img convert`'s of the same raw disk
    /// (data at the start, zeros after); one whose clusters are not mapped in order is not.
    #[test]
    fn a_stored_qcow2_reads_as_its_virtual_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut disk = vec![0u8; 3 << 20];
        generate(5, 0, &mut disk[..(1 << 20) + 4096]);
        let raw = dir.path().join("disk.raw");
        std::fs::write(&raw, &disk).expect("raw");
        let stored = |path: &std::path::Path| Content::File {
            size: std::fs::metadata(path).expect("stat").len(),
            path: Arc::new(path.to_path_buf()),
        };
        let read_volume = |image: &Content| {
            let (offset, len) = image.guest_bytes("qcow2").expect("a qcow2 devcloud reads");
            let volume = Content::window(image.clone(), offset, len, disk.len() as u64);
            let mut out = Vec::new();
            volume
                .for_each_chunk_blocking(0, disk.len() as u64, &mut |c| out.extend_from_slice(c))
                .expect("read");
            out
        };
        // devcloud's own.
        let own = Content::qcow2_of(stored(&raw));
        let own_path = dir.path().join("own.qcow2");
        let mut bytes = Vec::new();
        own.for_each_chunk_blocking(0, own.size(), &mut |c| bytes.extend_from_slice(c))
            .expect("read");
        std::fs::write(&own_path, &bytes).expect("write");
        assert!(read_volume(&stored(&own_path)) == disk, "devcloud's qcow2");
        // qemu-img's.
        let converted = dir.path().join("qemu.qcow2");
        let out = std::process::Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", "qcow2"])
            .arg(&raw)
            .arg(&converted)
            .output()
            .expect("qemu-img must be installed (tests/run.sh installs qemu-utils)");
        assert!(out.status.success(), "{out:?}");
        assert!(read_volume(&stored(&converted)) == disk, "qemu-img's qcow2");
        // The first two data clusters swapped in the L2 table: not in order.
        let (offset, _) = stored(&converted).guest_bytes("qcow2").expect("in order");
        let mut swapped = std::fs::read(&converted).expect("read");
        let l1 = u64::from_be_bytes(swapped[40..48].try_into().expect("8"));
        let l2 = u64::from_be_bytes(swapped[l1 as usize..l1 as usize + 8].try_into().expect("8"))
            & 0x00ff_ffff_ffff_fe00;
        let at = l2 as usize;
        let (a, b) = (
            swapped[at..at + 8].to_vec(),
            swapped[at + 8..at + 16].to_vec(),
        );
        swapped[at..at + 8].copy_from_slice(&b);
        swapped[at + 8..at + 16].copy_from_slice(&a);
        let swapped_path = dir.path().join("swapped.qcow2");
        std::fs::write(&swapped_path, &swapped).expect("write");
        assert_eq!(stored(&swapped_path).guest_bytes("qcow2"), None, "{offset}");
    }

    #[tokio::test]
    async fn streams_match_generation_and_files() {
        let content = Content::Generated {
            seed: 3,
            size: 3 * CHUNK as u64 + 17,
            format: Format::Raw,
        };
        let chunks: Vec<Bytes> = content
            .stream(5, content.size())
            .map(|c| c.expect("chunk"))
            .collect()
            .await;
        let streamed = chunks.concat();
        let mut expected = vec![0u8; content.size() as usize - 5];
        generate(3, 5, &mut expected);
        assert_eq!(streamed, expected);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, &expected).expect("write");
        let file = Content::File {
            path: Arc::new(path),
            size: expected.len() as u64,
        };
        let part: Vec<Bytes> = file
            .stream(10, 20)
            .map(|c| c.expect("chunk"))
            .collect()
            .await;
        assert_eq!(part.concat(), expected[10..20]);
        assert_eq!(
            file.checksums_blocking().expect("hash").0,
            hex::encode(Md5::digest(&expected))
        );
    }

    fn qemu_img(args: &[&str], file: &std::path::Path) -> std::process::Output {
        std::process::Command::new("qemu-img")
            .args(args)
            .arg(file)
            .output()
            .expect("qemu-img must be installed (tests/run.sh installs qemu-utils)")
    }

    /// Generated qcow2 content of many sizes is a valid qcow2 image for qemu-img (check: no
    /// errors, no leaks; info: the virtual size), and a large one costs only its metadata.
    #[test]
    fn generated_qcow2_is_valid_for_qemu_img() {
        let dir = tempfile::tempdir().expect("tempdir");
        for size in [
            3072u64,
            4096,
            10_000,
            65_536,
            (1 << 20) - 1,
            1 << 20,
            (4 << 20) + 17,
            64 << 20,
            20 << 30,
        ] {
            let layout = Qcow2Layout::new(size).expect("layout");
            let path = dir.path().join(format!("{size}.qcow2"));
            // Metadata written, the data clusters left as a hole (qemu-img check reads only
            // metadata): a 20 GiB image costs a few MiB.
            let meta = layout.data_offset().min(size) as usize;
            let mut head = vec![0u8; meta.max(1 << 16).min(size as usize)];
            generate_formatted(9, size, Format::Qcow2, 0, &mut head);
            let file = std::fs::File::create(&path).expect("create");
            std::io::Write::write_all(&mut &file, &head).expect("write");
            file.set_len(size).expect("set_len");
            let check = qemu_img(&["check", "-f", "qcow2", "--output=json"], &path);
            let report: serde_json::Value =
                serde_json::from_slice(&check.stdout).unwrap_or(serde_json::Value::Null);
            assert!(
                check.status.success() && report["check-errors"] == 0,
                "size {size}: {layout:?}\n{}{}",
                String::from_utf8_lossy(&check.stdout),
                String::from_utf8_lossy(&check.stderr)
            );
            assert!(report.get("leaks").is_none(), "size {size}: {report}");
            let info = qemu_img(&["info", "--output=json"], &path);
            let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("info");
            assert_eq!(info["format"], "qcow2", "size {size}");
            assert_eq!(
                info["virtual-size"].as_u64(),
                virtual_size(size, Format::Qcow2),
                "size {size}"
            );
            assert!(
                virtual_size(size, Format::Qcow2).expect("virtual") * 10 >= size * 9
                    || size < 1 << 16
            );
        }
        assert_eq!(Qcow2Layout::new(2047), None);
    }

    /// The virtual disk of a generated qcow2 is its data clusters' bytes, and ranges of the
    /// content agree with the whole.
    #[tokio::test]
    async fn generated_qcow2_holds_its_data_clusters() {
        let size = (2 << 20) + 100;
        let content = Content::Generated {
            seed: 11,
            size,
            format: Format::Qcow2,
        };
        let whole: Vec<u8> = content
            .stream(0, size)
            .map(|c| c.expect("chunk"))
            .collect::<Vec<_>>()
            .await
            .concat();
        assert_eq!(whole.len() as u64, size);
        for start in [0u64, 1, 103, 4096, 65_536 * 3 + 5, size - 1] {
            let mut part = vec![0u8; 5000.min((size - start) as usize)];
            generate_formatted(11, size, Format::Qcow2, start, &mut part);
            assert_eq!(part, whole[start as usize..start as usize + part.len()]);
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let qcow2 = dir.path().join("d.qcow2");
        std::fs::write(&qcow2, &whole).expect("write");
        let raw = dir.path().join("d.raw");
        let out = std::process::Command::new("qemu-img")
            .args(["convert", "-f", "qcow2", "-O", "raw"])
            .arg(&qcow2)
            .arg(&raw)
            .output()
            .expect("qemu-img");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let layout = Qcow2Layout::new(size).expect("layout");
        let data = layout.data_offset() as usize;
        let guest = std::fs::read(&raw).expect("raw");
        assert_eq!(guest.len() as u64, layout.virtual_size());
        assert_eq!(guest, whole[data..data + guest.len()]);
        let (md5, _) = content.checksums_blocking().expect("hash");
        assert_eq!(md5, hex::encode(Md5::digest(&whole)));
    }
}
