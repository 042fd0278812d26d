//! Moving image bytes from the source cloud to the target cloud.
//!
//! Owns the stream pipe ([`pipe`]: download into upload with bounded memory and checksums
//! computed on the way), spooling to a file with `Range` resume ([`spool`]), and the checksums
//! themselves ([`Checksums`]). Format conversion comes with the transfer issue. Knows nothing
//! of the graph or of HTTP: the engine's image node hands it the cloud's streams.

mod hash;
pub mod pipe;
pub mod spool;

pub use hash::{Checksums, Hasher};
pub use pipe::{PipeError, PipeHandle, PipeOptions, pipe};
pub use spool::{PartNote, RangeSource, SpoolError, SpoolOptions, Spooled, file_stream, spool};
