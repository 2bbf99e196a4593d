//! Reading the clouds users already have: provider describe/list output and Terraform state
//! and plans, into an [`Inventory`] and from there into a [`crate::Scenario`].
//!
//! Background and every trap known, with sources: `import-formats.md` (its section 0 lists
//! twenty things an importer gets wrong); each reader cites the shapes it accepts.
//!
//! The readers never guess: a verdict-deciding fact the documents do not give becomes an
//! [`Unresolved`] item, a resource they do not understand a [`Skipped`] one.

pub mod inventory;

pub use inventory::{
    AddressGroupRecord, Defaults, EndpointRecord, GroupRecord, Id, Inventory, Origin, PrefixListRecord, RuleRecord,
    Skipped, Unresolved, UnresolvedKind,
};

/// Why documents could not be imported. Each error names the file, the JSON path and the
/// offending value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's reason.
        message: String,
    },
    /// A document is not JSON (or a JSON line is not).
    #[error("{file}: not valid JSON at line {line}, column {column}: {message}")]
    Json {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's reason.
        message: String,
    },
    /// A field has a shape or value the format does not allow.
    #[error("{origin}: {message}")]
    Field {
        /// File and JSON path of the field.
        origin: Origin,
        /// What is wrong, with the value in backticks.
        message: String,
    },
    /// The format or provider of a document could not be told.
    #[error("{file}: {message}")]
    Unrecognised {
        /// The file.
        file: String,
        /// What was looked for.
        message: String,
    },
    /// A document of another provider than the one asked for (or than the other documents).
    #[error("{file}: a {found} document, but the import is for {expected}")]
    ProviderMismatch {
        /// The file.
        file: String,
        /// The provider of the import.
        expected: crate::Provider,
        /// The provider the document belongs to.
        found: crate::Provider,
    },
}
