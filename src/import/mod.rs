//! Reading the clouds users already have: provider describe/list output and Terraform state
//! and plans, into an [`Inventory`] and from there into a [`crate::Scenario`].
//!
//! Background and every trap known, with sources: `import-formats.md` (its section 0 lists
//! twenty things an importer gets wrong); each reader cites the shapes it accepts.
//!
//! The readers never guess: a verdict-deciding fact the documents do not give becomes an
//! [`Unresolved`] item, a resource they do not understand a [`Skipped`] one.
//!
//! The way in: [`load`] turns files, directories, standard input and JSON-lines bundles into
//! [`Document`]s one at a time; [`detect`] tells each document's format and provider;
//! an [`Importer`] hands it to its provider's reader (Alibaba ECS/ENS, Huawei, Gcore describe
//! answers), which joins answers by id; [`Importer::finish`] gives the [`Inventory`].
//! [`read`], [`read_with`] and [`read_paths`] do all of it in one call. Any error leaves
//! nothing partial: the whole import fails.
//!
//! Terraform documents (`terraform show -json` of a state or a plan, raw `.tfstate`) go to
//! the [`terraform`] reader: states into the same [`Inventory`] (one import reads either
//! describe answers or Terraform documents, never both), a plan into its planned side
//! through [`read`], or into both sides through [`read_plan`].

mod alibaba;
mod build;
pub mod detect;
mod gcore;
mod huawei;
pub mod inventory;
mod json;
pub mod load;
pub mod scenario;
pub mod terraform;

pub use detect::{Detection, Format, Vendor};
pub use load::Document;
pub use terraform::{read_plan, PlanInventories};

pub use inventory::{
    AddressGroupRecord, Defaults, EndpointRecord, GroupRecord, Id, Inventory, Origin, PrefixListRecord,
    RuleRecord, Skipped, Unresolved, UnresolvedKind,
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

/// How to read a set of documents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The provider of the import (`--provider`); detected from the documents when `None`.
    /// A document of another provider is then refused.
    pub provider: Option<crate::Provider>,
    /// The format (`--format`); detected per document when `None`.
    pub format: Option<Format>,
    /// Accept Huawei v1/Neutron rule listings (no `action`, no `priority`): each rule is
    /// taken as allow at the lowest priority and listed as [`UnresolvedKind::V1Rule`].
    pub accept_v1: bool,
}

/// The reader of the provider decided so far.
enum Readers {
    None,
    Alibaba(Box<alibaba::Reader>),
    Huawei(Box<huawei::Reader>),
    Gcore(Box<gcore::Reader>),
}

/// Reads documents one at a time (so a large bundle is never held whole) and joins them
/// into one [`Inventory`].
///
/// ```
/// use sgeval::import::{Document, Importer, Options};
/// let mut importer = Importer::new(Options::default());
/// importer.add(&Document::new("groups.json", serde_json::json!({
///     "count": 1,
///     "results": [{"id": "6d1f2a3b", "name": "web", "region_id": 76, "security_group_rules": []}]
/// }))).unwrap();
/// let inventory = importer.finish().unwrap();
/// assert_eq!(inventory.provider, sgeval::Provider::Gcore);
/// assert_eq!(inventory.groups[0].id, "6d1f2a3b");
/// ```
pub struct Importer {
    options: Options,
    readers: Readers,
    /// The provider the documents showed, and the first file that showed it.
    shown: Option<(crate::Provider, String)>,
    /// The vendor decided, and the first file of it.
    vendor: Option<(Vendor, String)>,
    skipped: Vec<Skipped>,
    /// Terraform documents, read together when finishing (a plan's two sides, references
    /// between states).
    terraform: Vec<Document>,
}

impl Importer {
    /// An importer with these options.
    pub fn new(options: Options) -> Importer {
        Importer {
            options,
            readers: Readers::None,
            shown: None,
            vendor: None,
            skipped: Vec::new(),
            terraform: Vec::new(),
        }
    }

    /// Reads one document.
    ///
    /// # Errors
    /// [`ImportError::ProviderMismatch`] for a document of another provider than the
    /// import's (given or shown by an earlier document); [`ImportError::Unrecognised`] for
    /// a Terraform document among describe answers (or the other way round), or a document
    /// of another format than the one asked for; a Terraform document of a version sgeval
    /// does not read is refused here, the rest of it when finishing;
    /// [`ImportError::Field`] for a malformed field. A document of no known shape is not an
    /// error: it is listed in [`Inventory::skipped`].
    pub fn add(&mut self, doc: &Document) -> Result<(), ImportError> {
        let found = detect::detect(&doc.value);
        let format = self.options.format.unwrap_or(found.format);
        if format != found.format {
            return Err(ImportError::Unrecognised {
                file: doc.file.clone(),
                message: format!(
                    "a {} document, but the format asked for is {format}",
                    found.format
                ),
            });
        }
        let mixed = |first: &str| {
            ImportError::Unrecognised {
            file: doc.file.clone(),
            message: format!(
                "a {} document, but {first} is not: one import reads either describe/list answers or Terraform documents",
                found.format
            ),
        }
        };
        if format == Format::Terraform {
            if let Some((_, first)) = &self.vendor {
                return Err(mixed(first));
            }
            // Checked now, so a bad version names its file before anything else is read.
            terraform::kind(&doc.file, &doc.value)?;
            self.terraform.push(doc.clone());
            return Ok(());
        }
        if let Some(first) = self.terraform.first() {
            return Err(mixed(&first.file));
        }
        let Some(vendor) = found.vendor else {
            let keys = match &doc.value {
                serde_json::Value::Object(o) => {
                    let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
                    format!("keys `{}`", keys.join("`, `"))
                }
                other => format!("a top-level {}", json::kind(other)),
            };
            self.skipped.push(Skipped {
                origin: Origin::new(doc.file.clone(), ""),
                kind: "an unknown document".to_owned(),
                reason: format!("{keys}: no describe/list answer of ECS, ENS, Huawei or Gcore sgeval reads"),
            });
            return Ok(());
        };
        // The provider a document belongs to must be the import's.
        let expected = self
            .options
            .provider
            .map(|p| (p, "the import".to_owned()))
            .or_else(|| self.shown.clone());
        if let Some((expected, _)) = &expected {
            let mismatch = match found.provider {
                Some(p) => p != *expected,
                None => Vendor::of(*expected) != vendor,
            };
            if mismatch {
                return Err(match found.provider {
                    Some(p) => ImportError::ProviderMismatch {
                        file: doc.file.clone(),
                        expected: *expected,
                        found: p,
                    },
                    None => ImportError::Unrecognised {
                        file: doc.file.clone(),
                        message: format!(
                            "an Alibaba (ECS or ENS) document, but the import is for {}",
                            expected.name()
                        ),
                    },
                });
            }
        }
        if let Some((v, first)) = &self.vendor {
            if *v != vendor {
                return Err(ImportError::Unrecognised {
                    file: doc.file.clone(),
                    message: format!(
                        "a {vendor:?} document, but {first} is a {v:?} one: one import reads one provider"
                    ),
                });
            }
        }
        self.vendor.get_or_insert_with(|| (vendor, doc.file.clone()));
        if let (Some(p), None) = (found.provider, &self.shown) {
            self.shown = Some((p, doc.file.clone()));
        }
        if matches!(self.readers, Readers::None) {
            self.readers = match vendor {
                Vendor::Alibaba => Readers::Alibaba(Box::default()),
                Vendor::Huawei => Readers::Huawei(Box::default()),
                Vendor::Gcore => Readers::Gcore(Box::default()),
            };
        }
        match &mut self.readers {
            Readers::Alibaba(r) => r.add(&doc.file, &doc.value),
            Readers::Huawei(r) => r.add(&doc.file, &doc.value, self.options.accept_v1),
            Readers::Gcore(r) => r.add(&doc.file, &doc.value),
            Readers::None => Ok(()),
        }
    }

    /// Reads every document under `path` (a file, a directory, or `-` for standard input).
    ///
    /// # Errors
    /// As [`Importer::add`], plus [`ImportError::Io`] and [`ImportError::Json`].
    pub fn add_path(&mut self, path: &str) -> Result<(), ImportError> {
        let skipped = load::load_path(path, &mut |doc| self.add(&doc))?;
        self.skipped.extend(skipped);
        Ok(())
    }

    /// The inventory of everything read.
    ///
    /// # Errors
    /// [`ImportError::Unrecognised`] when no document was of a known shape, or when
    /// Alibaba documents do not tell ECS from ENS and no provider was given.
    pub fn finish(self) -> Result<Inventory, ImportError> {
        if !self.terraform.is_empty() {
            let mut inventory = terraform::read_documents(&self.terraform, self.options.provider)?;
            let mut skipped = self.skipped;
            skipped.append(&mut inventory.skipped);
            inventory.skipped = skipped;
            return Ok(inventory);
        }
        let provider = self.options.provider.or(self.shown.as_ref().map(|s| s.0));
        let first = self.vendor.as_ref().map(|v| v.1.clone()).unwrap_or_default();
        let mut inventory = match self.readers {
            Readers::None => {
                return Err(ImportError::Unrecognised {
                    file: self.skipped.first().map(|s| s.origin.file.clone()).unwrap_or_default(),
                    message: "no document is a describe/list answer sgeval reads".to_owned(),
                })
            }
            Readers::Alibaba(r) => match provider {
                Some(p @ (crate::Provider::Ecs | crate::Provider::Ens)) => r.finish(p)?,
                _ => {
                    return Err(ImportError::Unrecognised {
                        file: first,
                        message: "the Alibaba documents carry no field that tells ECS from ENS; give the provider (ecs or ens)".to_owned(),
                    })
                }
            },
            Readers::Huawei(r) => r.finish()?,
            Readers::Gcore(r) => r.finish()?,
        };
        let mut skipped = self.skipped;
        skipped.append(&mut inventory.skipped);
        inventory.skipped = skipped;
        Ok(inventory)
    }
}

/// Reads `docs` into one inventory (v1/Neutron Huawei listings refused).
///
/// # Errors
/// As [`Importer::add`] and [`Importer::finish`]; nothing partial is returned.
pub fn read(
    docs: &[Document],
    provider: Option<crate::Provider>,
    format: Option<Format>,
) -> Result<Inventory, ImportError> {
    read_with(
        docs,
        &Options {
            provider,
            format,
            accept_v1: false,
        },
    )
}

/// Reads `docs` into one inventory with `options`.
///
/// # Errors
/// As [`Importer::add`] and [`Importer::finish`].
pub fn read_with(docs: &[Document], options: &Options) -> Result<Inventory, ImportError> {
    let mut importer = Importer::new(options.clone());
    for doc in docs {
        importer.add(doc)?;
    }
    importer.finish()
}

/// Reads every document under `paths` (files, directories, `-`) into one inventory.
///
/// # Errors
/// As [`Importer::add_path`] and [`Importer::finish`].
pub fn read_paths(paths: &[&str], options: &Options) -> Result<Inventory, ImportError> {
    let mut importer = Importer::new(options.clone());
    for path in paths {
        importer.add_path(path)?;
    }
    importer.finish()
}
