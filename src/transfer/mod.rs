//! Moving image bytes from the source cloud to the target cloud.
//!
//! Owns the stream pipe ([`pipe`]: download into upload with bounded memory and checksums
//! computed on the way) and the checksums themselves ([`Checksums`]); with the transfer issue
//! also spooling with `Range` resume and format conversion. Knows nothing of the graph: the
//! engine's image node calls it.

mod hash;
pub mod pipe;

pub use hash::{Checksums, Hasher};
pub use pipe::{PipeError, PipeHandle, PipeOptions, pipe};
