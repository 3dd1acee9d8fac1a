//! haven-core: the pure protected-network engine.
pub mod model;
pub mod parse;
