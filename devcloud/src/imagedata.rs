//! Image content: where an image's bytes live (generated on the fly from a seed, or a file in
//! the data directory) and how they are read and hashed. Knows nothing about HTTP or Glance's
//! state machine. (Placeholder by CORE; GLANCE owns and replaces this file.)

/// The bytes of an image or a server disk. Nothing is held wholly in memory: `Generated` is
/// deterministic pseudo-random data computed on the fly, `File` is a file on disk.
#[derive(Clone, Debug)]
pub enum Content {
    /// `size` bytes of pseudo-random data determined by `seed`.
    Generated {
        /// The generator seed.
        seed: u64,
        /// The length in bytes.
        size: u64,
    },
    /// The bytes of a file (immutable once written).
    File {
        /// The file's path.
        path: std::sync::Arc<std::path::PathBuf>,
        /// The file's length in bytes.
        size: u64,
    },
}

impl Content {
    /// The length in bytes.
    pub fn size(&self) -> u64 {
        match self {
            Content::Generated { size, .. } | Content::File { size, .. } => *size,
        }
    }
}
