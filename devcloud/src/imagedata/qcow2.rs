//! qcow2 (version 3) as devcloud lays it out and reads it: the layout of a generated image or
//! of a volume's qcow2 upload (metadata computed on the fly, data clusters mapped in order),
//! and the reading of stored qcow2 bytes whose clusters are mapped that way.

use super::Content;

/// Where the parts of a generated qcow2 image lie, in clusters: header (cluster 0), refcount
/// table, refcount blocks, L1 table, L2 tables, then `data` data clusters mapped in order
/// (guest cluster `i` is host cluster `data_start + i`). Every used cluster has refcount 1, so
/// every L1 and L2 entry carries the COPIED flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Qcow2Layout {
    cluster_bits: u32,
    reftable: u64,
    reftable_clusters: u64,
    refblocks: u64,
    refblock_count: u64,
    l1: u64,
    l1_clusters: u64,
    l2: u64,
    l2_count: u64,
    data_start: u64,
    data: u64,
    /// Clusters of the virtual disk (`data` of them mapped, the rest unallocated: zeros).
    virtual_clusters: u64,
}

pub(super) const QCOW2_COPIED: u64 = 1 << 63;

impl Qcow2Layout {
    /// The layout of a qcow2 file of exactly `size` bytes (a partial last cluster stays
    /// unused); `None` when `size` is too small for one data cluster of 512 bytes.
    /// The layout of a qcow2 file of a virtual disk of `virtual_clusters` clusters of
    /// `1 << cluster_bits` bytes, the first `data` of them stored (mapped in order), the rest
    /// unallocated (zeros), as `qemu-img convert` leaves zero clusters.
    pub(super) fn for_data(data: u64, virtual_clusters: u64, cluster_bits: u32) -> Qcow2Layout {
        let c = 1u64 << cluster_bits;
        let l2_count = virtual_clusters.div_ceil(c / 8).max(1);
        let l1_clusters = (l2_count * 8).div_ceil(c);
        let mut refblock_count = 1u64;
        loop {
            let reftable_clusters = (refblock_count * 8).div_ceil(c);
            let total = 1 + reftable_clusters + refblock_count + l1_clusters + l2_count + data;
            let needed = total.div_ceil(c / 2).max(1);
            if needed <= refblock_count {
                let reftable = 1;
                let refblocks = reftable + reftable_clusters;
                let l1 = refblocks + refblock_count;
                let l2 = l1 + l1_clusters;
                return Qcow2Layout {
                    cluster_bits,
                    reftable,
                    reftable_clusters,
                    refblocks,
                    refblock_count,
                    l1,
                    l1_clusters,
                    l2,
                    l2_count,
                    data_start: l2 + l2_count,
                    data,
                    virtual_clusters,
                };
            }
            refblock_count = needed;
        }
    }

    pub(super) fn new(size: u64) -> Option<Qcow2Layout> {
        // Big clusters for big images (64 KiB from 4 MiB on), at least 64 clusters else.
        let cluster_bits = (9..=16u32).rev().find(|b| size >= 64 << b).unwrap_or(9);
        let c = 1u64 << cluster_bits;
        let n = size >> cluster_bits;
        let per_l2 = c / 8;
        let per_refblock = c / 2; // refcount_order 4: 16-bit refcounts
        let refblock_count = n.div_ceil(per_refblock).max(1);
        let reftable_clusters = (refblock_count * 8).div_ceil(c);
        let mut data = n;
        loop {
            let l2_count = data.div_ceil(per_l2).max(1);
            let l1_clusters = (l2_count * 8).div_ceil(c);
            let meta = 1 + reftable_clusters + refblock_count + l1_clusters + l2_count;
            if meta + data <= n {
                let reftable = 1;
                let refblocks = reftable + reftable_clusters;
                let l1 = refblocks + refblock_count;
                let l2 = l1 + l1_clusters;
                return (data > 0).then_some(Qcow2Layout {
                    cluster_bits,
                    reftable,
                    reftable_clusters,
                    refblocks,
                    refblock_count,
                    l1,
                    l1_clusters,
                    l2,
                    l2_count,
                    data_start: l2 + l2_count,
                    data,
                    virtual_clusters: data,
                });
            }
            data = n.checked_sub(meta)?;
        }
    }

    pub(super) fn cluster(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// The virtual disk's size.
    pub(super) fn virtual_size(&self) -> u64 {
        self.virtual_clusters << self.cluster_bits
    }

    /// The file's length: metadata, then the stored data clusters.
    pub(super) fn file_size(&self) -> u64 {
        (self.data_start + self.data) << self.cluster_bits
    }

    /// Where the data clusters start (everything before is metadata).
    pub(super) fn data_offset(&self) -> u64 {
        self.data_start << self.cluster_bits
    }

    /// The header: version 3, no backing file, no encryption, 16-bit refcounts, header
    /// length 104, followed by the end-of-extensions marker (zeros).
    pub(super) fn header(&self) -> [u8; 112] {
        let c = self.cluster();
        let mut h = [0u8; 112];
        let mut put = |at: usize, bytes: &[u8]| h[at..at + bytes.len()].copy_from_slice(bytes);
        put(0, b"QFI\xfb");
        put(4, &3u32.to_be_bytes());
        put(20, &self.cluster_bits.to_be_bytes());
        put(24, &self.virtual_size().to_be_bytes());
        put(36, &(self.l2_count as u32).to_be_bytes());
        put(40, &(self.l1 * c).to_be_bytes());
        put(48, &(self.reftable * c).to_be_bytes());
        put(56, &(self.reftable_clusters as u32).to_be_bytes());
        put(96, &4u32.to_be_bytes());
        put(100, &104u32.to_be_bytes());
        h
    }

    /// Byte `p` of the metadata (`p < data_offset()`).
    pub(super) fn meta_byte(&self, header: &[u8; 112], p: u64) -> u8 {
        let c = self.cluster();
        let cluster = p >> self.cluster_bits;
        let within = p & (c - 1);
        let be64 = |value: u64| value.to_be_bytes()[(within % 8) as usize];
        if cluster == 0 {
            return header.get(within as usize).copied().unwrap_or(0);
        }
        let in_region = |start: u64, count: u64| cluster >= start && cluster < start + count;
        if in_region(self.reftable, self.reftable_clusters) {
            let entry = ((cluster - self.reftable) * c + within) / 8;
            return if entry < self.refblock_count {
                be64((self.refblocks + entry) * c)
            } else {
                0
            };
        }
        if in_region(self.refblocks, self.refblock_count) {
            let entry = ((cluster - self.refblocks) * c + within) / 2;
            let used = entry < self.data_start + self.data;
            return if used && within % 2 == 1 { 1 } else { 0 };
        }
        if in_region(self.l1, self.l1_clusters) {
            let entry = ((cluster - self.l1) * c + within) / 8;
            return if entry < self.l2_count {
                be64(((self.l2 + entry) * c) | QCOW2_COPIED)
            } else {
                0
            };
        }
        // L2 tables.
        let entry = ((cluster - self.l2) * c + within) / 8;
        if entry < self.data {
            be64(((self.data_start + entry) * c) | QCOW2_COPIED)
        } else {
            0
        }
    }
}

/// A qcow2 (version 2 or 3, no backing file, no encryption, nothing compressed) read
/// through its L1 and L2 tables: where its data starts and how many bytes of it belong to
/// the guest, when its allocated clusters are the first ones of the virtual disk, mapped
/// one after the other (the rest reads as zeros). `None` for any other layout: devcloud's
/// Cinder then fails the volume, where a real Cinder would convert it with `qemu-img`.
pub(super) fn contiguous(content: &Content) -> Option<(u64, u64)> {
    const OFFSET: u64 = 0x00ff_ffff_ffff_fe00;
    const COMPRESSED: u64 = 1 << 62;
    let be64 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let h = content.read_exact_at(0, 72)?;
    let version = be32(&h, 4)?;
    if &h[..4] != b"QFI\xfb" || !(2..=3).contains(&version) || be64(&h, 8)? != 0 {
        return None;
    }
    let cluster_bits = be32(&h, 20)?;
    if !(9..=21).contains(&cluster_bits) || be32(&h, 32)? != 0 {
        return None;
    }
    let c = 1u64 << cluster_bits;
    let virtual_size = be64(&h, 24)?;
    let clusters = virtual_size.div_ceil(c);
    let per_l2 = c / 8;
    // The L1 table covers the virtual disk: no longer than that (input bounds the loop).
    let l1_size = u64::from(be32(&h, 36)?).min(clusters.div_ceil(per_l2));
    let l1 = content.read_exact_at(be64(&h, 40)?, l1_size * 8)?;
    let (mut first, mut allocated, mut ended) = (None::<u64>, 0u64, false);
    for i in 0..l1_size {
        let l2_offset = be64(&l1, (i * 8) as usize)? & OFFSET;
        let in_table = per_l2.min(clusters - i * per_l2);
        if l2_offset == 0 {
            ended = true;
            continue;
        }
        let l2 = content.read_exact_at(l2_offset, in_table * 8)?;
        for j in 0..in_table {
            let entry = be64(&l2, (j * 8) as usize)?;
            let offset = entry & OFFSET;
            if entry & COMPRESSED != 0 {
                return None;
            }
            if offset == 0 || entry & 1 != 0 {
                ended = true;
                continue;
            }
            let k = i * per_l2 + j;
            match first {
                _ if ended => return None,
                None if k == 0 => first = Some(offset),
                Some(f) if offset == f + k * c => {}
                _ => return None,
            }
            allocated += 1;
        }
    }
    Some((
        first.unwrap_or(content.size()),
        (allocated * c).min(virtual_size),
    ))
}
