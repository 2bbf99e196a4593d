//! The compiled engine: indexed lookup structures that give the reference's answer fast.
pub mod classifier;
