//! Sparse content's bookkeeping: the stored stretches ([`Extent`]) with the runs of zeros
//! between them kept as lengths, how a range splits into zeros and stored bytes, and
//! [`ZeroRuns`], which finds the runs of zeros in bytes as they arrive.

use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};

use super::CHUNK;

/// One stored stretch of a [`Content::Sparse`]: `len` bytes at `at` in the content, kept at
/// `stored_at` in its packed data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Where the stretch starts in the content.
    pub at: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Where its bytes start in the packed data.
    pub stored_at: u64,
}

/// A piece of a range of sparse content: zeros, or a range of the packed data.
pub(super) enum Piece {
    Zeros(u64),
    Stored(u64, u64),
}

/// The pieces that make up bytes `start..end` of sparse content with these extents.
pub(super) fn pieces(extents: &[Extent], start: u64, end: u64) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut pos = start;
    let first = extents.partition_point(|e| e.at + e.len <= start);
    for e in extents[first..].iter().take_while(|e| e.at < end) {
        if e.at > pos {
            out.push(Piece::Zeros(e.at - pos));
            pos = e.at;
        }
        let from = pos - e.at;
        let to = end.min(e.at + e.len) - e.at;
        out.push(Piece::Stored(e.stored_at + from, e.stored_at + to));
        pos = e.at + to;
    }
    if pos < end {
        out.push(Piece::Zeros(end - pos));
    }
    out
}

/// A chunk's worth of zeros, lent out as often as needed.
pub(super) static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// `len` zeros as a stream of chunks, without allocating.
pub(super) fn zero_stream(len: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
    stream::unfold(len, |left| async move {
        if left == 0 {
            return None;
        }
        let n = left.min(CHUNK as u64) as usize;
        Some((Ok(Bytes::from_static(&ZEROS[..n])), left - n as u64))
    })
    .boxed()
}

/// Splits bytes that arrive in order (an upload) into runs of zeros, kept only as lengths,
/// and stored stretches, whose bytes it hands back to be appended to the packed data. It looks
/// at whole blocks of [`ZeroRuns::BLOCK`] bytes (aligned on the content's offsets): a block of
/// zeros is a gap, any other block is stored. Knows nothing about files or hashing.
#[derive(Debug, Default)]
pub struct ZeroRuns {
    pos: u64,
    stored: u64,
    extents: Vec<Extent>,
    block: Vec<u8>,
}

impl ZeroRuns {
    /// The block size zero runs are found in.
    pub const BLOCK: usize = 4096;

    /// Nothing seen yet.
    pub fn new() -> ZeroRuns {
        ZeroRuns::default()
    }

    /// Take the next `bytes`; the ones to store are appended to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) {
        if !self.block.is_empty() {
            let take = (Self::BLOCK - self.block.len()).min(bytes.len());
            self.block.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.block.len() < Self::BLOCK {
                return;
            }
            let block = std::mem::take(&mut self.block);
            self.block_done(&block, out);
            self.block = block;
            self.block.clear();
        }
        let whole = bytes.len() - bytes.len() % Self::BLOCK;
        for block in bytes[..whole].chunks_exact(Self::BLOCK) {
            self.block_done(block, out);
        }
        self.block.extend_from_slice(&bytes[whole..]);
    }

    fn block_done(&mut self, block: &[u8], out: &mut Vec<u8>) {
        let len = block.len() as u64;
        // An OR over the whole block (no early exit) compiles to wide vector code.
        if block.iter().fold(0u8, |acc, b| acc | b) != 0 {
            match self.extents.last_mut() {
                Some(last) if last.at + last.len == self.pos => last.len += len,
                _ => self.extents.push(Extent {
                    at: self.pos,
                    len,
                    stored_at: self.stored,
                }),
            }
            out.extend_from_slice(block);
            self.stored += len;
        }
        self.pos += len;
    }

    /// Bytes taken so far.
    pub fn size(&self) -> u64 {
        self.pos + self.block.len() as u64
    }

    /// The last (partial) block; its bytes to store are appended to `out`. Returns the
    /// stored stretches, the content's size and how many bytes were stored.
    pub fn finish(mut self, out: &mut Vec<u8>) -> (Vec<Extent>, u64, u64) {
        let block = std::mem::take(&mut self.block);
        if !block.is_empty() {
            self.block_done(&block, out);
        }
        (self.extents, self.pos, self.stored)
    }
}
