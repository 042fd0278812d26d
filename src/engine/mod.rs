//! The engine: turns a plan, the clouds and the state into changes, and carries them out.
//!
//! Owns the concurrent graph walk ([`walk`]), and with the engine issue the refresh, the diff
//! and destroy order. Never prints: it returns data and reports progress as events.

pub mod walk;
