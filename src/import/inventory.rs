//! What an importer reads out of a provider's documents, before it becomes a scenario.
//!
//! Every reader (describe/list output of each provider, Terraform state and plans) produces
//! an [`Inventory`]: groups with their rules, address groups, prefix lists and endpoints,
//! each under its **real** id and with the place it was read from, plus every fact the
//! documents did not settle as an explicit [`Unresolved`] item and every resource the
//! reader did not understand as a [`Skipped`] one. Nothing is guessed: a field the verdict
//! depends on is either read, or taken as the provider's documented default and flagged,
//! or left unresolved.
//!
//! Rules keep the **provider's own request shape** ([`RuleRecord::fields`]): the field names
//! of the create call (ECS/ENS `AuthorizeSecurityGroup[Egress]` permission parameters, the
//! Huawei v3 `security_group_rule` body, the Gcore rule body), so the scenario an import
//! prints replays through the same front ends, with the same validation, as a hand-written
//! one.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Direction, Provider};

/// Where a record was read: the file and the JSON path in it (or a Terraform address).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The file as the user named it (`-` for standard input).
    pub file: String,
    /// JSON path inside the document (`SecurityGroups.SecurityGroup[3]`), or a Terraform
    /// address (`module.net.alicloud_security_group_rule.ssh[0]`).
    pub path: String,
}

impl Origin {
    /// An origin at `path` in `file`.
    pub fn new(file: impl Into<String>, path: impl Into<String>) -> Origin {
        Origin {
            file: file.into(),
            path: path.into(),
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.path)
    }
}

/// Everything read from a set of documents of one provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// The provider all documents belong to.
    pub provider: Provider,
    /// Security groups, each once (pages and documents merged by id).
    pub groups: Vec<GroupRecord>,
    /// Huawei address groups.
    pub address_groups: Vec<AddressGroupRecord>,
    /// ECS prefix lists whose entries were given (`DescribePrefixListAttributes`).
    pub prefix_lists: Vec<PrefixListRecord>,
    /// NICs (ENIs, ports, interfaces) with their addresses and groups.
    pub endpoints: Vec<EndpointRecord>,
    /// What the documents did not settle.
    pub unresolved: Vec<Unresolved>,
    /// Resources or documents the reader did not use, and why.
    pub skipped: Vec<Skipped>,
    /// Facts worth telling the user that change no verdict (a deprecated field read, an
    /// empty page).
    pub notes: Vec<String>,
}

impl Inventory {
    /// An empty inventory of `provider`.
    pub fn new(provider: Provider) -> Inventory {
        Inventory {
            provider,
            groups: Vec::new(),
            address_groups: Vec::new(),
            prefix_lists: Vec::new(),
            endpoints: Vec::new(),
            unresolved: Vec::new(),
            skipped: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The group with this id.
    pub fn group(&self, id: &str) -> Option<&GroupRecord> {
        self.groups.iter().find(|g| g.id == id)
    }
}

/// How sure the importer is of an id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Id {
    /// The id the cloud gave (`sg-...`, `sgr-...`, a UUID).
    Known(String),
    /// Not known until `terraform apply`: stands for the object the named Terraform resource
    /// will create (`alicloud_security_group.web`).
    Planned(String),
}

impl Id {
    /// The text used to join records: the id, or `tf:<address>` for a planned one.
    pub fn key(&self) -> String {
        match self {
            Id::Known(id) => id.clone(),
            Id::Planned(address) => format!("tf:{address}"),
        }
    }
}

/// Whether the cloud's own defaults for a group are already among its rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Defaults {
    /// The rules were read from the cloud (describe/list output): whatever defaults the cloud
    /// created and the user kept are listed, so none are added.
    Listed,
    /// The group is described by its configuration (Terraform): the defaults the provider
    /// creates with a group (Huawei's default rules unless `delete_default_rules`, Gcore's
    /// egress allow when no egress rule is given) are added, labelled as defaults.
    Added,
    /// The group is described by its configuration and the defaults were deleted
    /// (Huawei `delete_default_rules = true`).
    Deleted,
}

/// A security group as read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The group's id (`Id::key()` joins rules, endpoints and peers to it).
    pub id: String,
    /// Terraform address, when read from Terraform.
    pub address: Option<String>,
    /// The group's name.
    pub name: Option<String>,
    /// Where it was read.
    pub origin: Origin,
    /// Group attributes in the provider's create-request shape: ECS `SecurityGroupType`,
    /// `VpcId`, `RegionId`, `InnerAccessPolicy`; Huawei `enterprise_project_id`; Gcore
    /// `project_id`/`region_id`. Only what was read; nothing defaulted here.
    pub attributes: Map<String, Value>,
    /// Rules, in the order the cloud created them where the document says (creation time,
    /// then document order).
    pub rules: Vec<RuleRecord>,
    /// Whether the cloud's defaults are among `rules`.
    pub defaults: Defaults,
}

/// A rule as read, in its provider's own request shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleRecord {
    /// The rule's id when the provider gives one (ECS `sgr-...`, Huawei and Gcore UUIDs;
    /// ENS rules have none).
    pub id: Option<String>,
    /// Terraform address, when read from Terraform.
    pub address: Option<String>,
    /// Where it was read.
    pub origin: Origin,
    /// The direction.
    pub direction: Direction,
    /// The rule in the provider's create-request field names: an ECS/ENS permission
    /// (`IpProtocol`, `PortRange`, `SourceCidrIp`, `Policy`, `Priority`, ...), a Huawei v3
    /// `security_group_rule` body (`protocol`, `multiport`, `ethertype`, `action`,
    /// `priority`, `remote_*`), a Gcore rule body. Peers naming groups, address groups or
    /// prefix lists hold their ids as read.
    pub fields: Map<String, Value>,
    /// A default the cloud creates, added by the importer (never read from the document).
    pub default: bool,
}

/// A Huawei address group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddressGroupRecord {
    /// Its id.
    pub id: String,
    /// Terraform address, when read from Terraform.
    pub address: Option<String>,
    /// Its name.
    pub name: Option<String>,
    /// Where it was read.
    pub origin: Origin,
    /// 4 or 6.
    pub ip_version: u8,
    /// Entries as the provider lists them (CIDRs, addresses, `a-b` ranges).
    pub ip_set: Vec<String>,
}

/// An ECS prefix list with its entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefixListRecord {
    /// Its id (`pl-...`).
    pub id: String,
    /// Where it was read.
    pub origin: Origin,
    /// `IPv4` or `IPv6`.
    pub family: crate::Family,
    /// Entries (CIDRs).
    pub entries: Vec<String>,
}

/// A NIC with its addresses and groups.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// The NIC's id (ENI id, port id) or, failing one, the instance id: the name the
    /// scenario gives the endpoint.
    pub name: String,
    /// Terraform address, when read from Terraform.
    pub address: Option<String>,
    /// The instance it belongs to, when known.
    pub instance: Option<String>,
    /// Where it was read.
    pub origin: Origin,
    /// Private addresses (v4 and v6).
    pub ips: Vec<IpAddr>,
    /// Group ids in association order (the order the document gives; see `order_known`).
    pub groups: Vec<String>,
    /// Whether `groups` is in the association order the cloud uses. False where the source
    /// is a set (Terraform `security_group_ids` of a Huawei instance): answers that depend
    /// on the order are then unresolved (Huawei only; ECS/ENS pool, Gcore unions).
    pub order_known: bool,
    /// False when security groups are switched off for the port (Huawei/Gcore
    /// `port_security_enabled: false`): no group filters its traffic.
    pub port_security: bool,
}

/// What the documents did not settle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnresolvedKind {
    /// An ECS rule peers with a prefix list whose entries were not given.
    PrefixListEntries,
    /// An ECS rule uses a port-range list (`PortRangeListId`) whose entries were not given.
    PortRangeList,
    /// A Huawei v1/Neutron rule: no `action` and no `priority` in the document. Taken as
    /// allow at the lowest priority only with `--accept-v1`.
    V1Rule,
    /// A Terraform plan value unknown until apply (`after_unknown`).
    PlanUnknown,
    /// A value left to the provider's default where the documents disagree on the default
    /// (Huawei `priority` and `action` left unset in Terraform).
    ContestedDefault,
    /// The association order of a NIC's groups is not known (Huawei, from a set).
    GroupOrder,
    /// A group, address group or peer the documents refer to but do not describe.
    MissingObject,
    /// Something the cloud adds that no document shows (e.g. Gcore/Huawei default group of
    /// an instance created without one).
    CloudDefault,
}

/// One thing the documents did not settle, and what depends on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unresolved {
    /// What kind of gap.
    pub kind: UnresolvedKind,
    /// The id (or Terraform address) of the rule, group or endpoint whose meaning depends on
    /// it.
    pub subject: String,
    /// The attribute concerned (`SourcePrefixListId`, `action`, `security_group_ids`).
    pub field: Option<String>,
    /// Where it was read.
    pub origin: Origin,
    /// A sentence for the user: what is missing and how to supply it.
    pub message: String,
}

/// A resource or document the reader did not use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Where it was.
    pub origin: Origin,
    /// Its type or shape (`alicloud_vpc`, `a Huawei ListVpcs answer`).
    pub kind: String,
    /// Why it was skipped.
    pub reason: String,
}
