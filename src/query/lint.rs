//! Rule hygiene.
/// A finding.
#[derive(Clone, Debug)]
pub struct Finding;
/// Kinds.
#[derive(Clone, Debug)]
pub enum FindingKind {}
/// Lint.
pub fn lint(_c: &crate::Cloud) -> Vec<Finding> { vec![] }
