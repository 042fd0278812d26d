//! Checksums computed while the bytes flow: md5 (Glance's `checksum`) and sha512 (Glance's
//! `os_hash_value` with `os_hash_algo = sha512`), and the byte count.

use md5::Md5;
use sha2::{Digest, Sha512};

/// What an image's bytes hash to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checksums {
    pub size: u64,
    /// Lowercase hex md5, as Glance's `checksum`.
    pub md5: String,
    /// Lowercase hex sha512, as Glance's `os_hash_value`.
    pub sha512: String,
}

/// md5 and sha512 over a stream of chunks. The pipe runs it on a thread of its own, so hashing
/// overlaps the network instead of adding to it.
#[derive(Clone, Default)]
pub struct Hasher {
    md5: Md5,
    sha512: Sha512,
    size: u64,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
        self.sha512.update(bytes);
        self.size += bytes.len() as u64;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self) -> Checksums {
        Checksums {
            size: self.size,
            md5: hex::encode(self.md5.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_of_a_short_text() {
        let mut h = Hasher::new();
        h.update(b"abc");
        let sums = h.finish();
        assert_eq!(sums.size, 3);
        assert_eq!(sums.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            sums.sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    #[test]
    fn chunking_does_not_change_the_result() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut whole = Hasher::new();
        whole.update(&data);
        let mut parts = Hasher::new();
        for chunk in data.chunks(4093) {
            parts.update(chunk);
        }
        assert_eq!(whole.finish(), parts.finish());
    }
}
