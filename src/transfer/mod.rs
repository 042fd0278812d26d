//! Moving image bytes from the source cloud to the target cloud.
//!
//! Owns the stream pipe ([`pipe`]: download into upload with bounded memory and checksums
//! computed on the way), spooling to a file with `Range` resume ([`spool`]), and the checksums
//! themselves ([`Checksums`]), and format conversion with qemu-img ([`convert`]). Knows nothing
//! of the graph or of HTTP: the engine's image node hands it the cloud's streams.

pub mod convert;
mod hash;
pub mod pipe;
pub mod spool;

pub use convert::{ConvertError, convert};
pub use hash::{Checksums, Hasher};
pub use pipe::{PipeError, PipeHandle, PipeOptions, pipe};
pub use spool::{PartNote, RangeSource, SpoolError, SpoolOptions, Spooled, file_stream, spool};
