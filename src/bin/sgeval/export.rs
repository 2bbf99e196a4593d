//! `sgeval export nftables`: an endpoint's decisions as an nftables ruleset.
//! `sgeval export describe`: the provider's describe/list answers for a scenario, as JSON
//! lines `sgeval import` reads back. `sgeval export terraform`: `terraform show -json` of a
//! state holding it.

use std::path::PathBuf;
use std::process::ExitCode;

use sgeval::export::{HuaweiMembers, TerraformOptions};
use sgeval::nftables::{self, Export, Key, Scope};
use sgeval::Direction;

use crate::util::{bad_input, emit, read_scenario, warn_unresolved};

/// Formats `sgeval export` writes.
#[derive(Debug, clap::Subcommand)]
pub enum ExportCmd {
    /// `table inet sgeval` for `nft -f`: the endpoint's decisions in the kernel.
    Nftables(Args),
    /// The provider's describe/list answers (JSON lines, one answer a line), as
    /// `sgeval import` reads them back.
    Describe(DocArgs),
    /// `terraform show -json` of a state holding the scenario's groups, rules and endpoints.
    Terraform(TfArgs),
}

/// How Huawei endpoints are written in a Terraform state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HuaweiMembersArg {
    /// `huaweicloud_networking_port_v2`: its `security_group_ids` list keeps the order.
    Port,
    /// `huaweicloud_compute_instance`: its `security_group_ids` is a set; an import marks
    /// the order of an endpoint with several groups unresolved.
    Instance,
}

/// Arguments of `sgeval export terraform`.
#[derive(Debug, clap::Args)]
pub struct TfArgs {
    /// The scenario and the output file.
    #[command(flatten)]
    pub doc: DocArgs,
    /// Huawei: the resource each endpoint becomes.
    #[arg(long, value_enum, default_value_t = HuaweiMembersArg::Port)]
    pub huawei_members: HuaweiMembersArg,
}

/// Arguments of `sgeval export describe` and `sgeval export terraform`.
#[derive(Debug, clap::Args)]
pub struct DocArgs {
    /// The scenario file (JSON).
    pub scenario: PathBuf,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Which directions to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Directions {
    /// Inbound only (`hook input`).
    Ingress,
    /// Outbound only (`hook output`).
    Egress,
    /// Both.
    Both,
}

/// How `--all` tells endpoints apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyArg {
    /// By the endpoint's addresses (`ip daddr` inbound, `ip saddr` outbound).
    Address,
    /// By an interface named like the endpoint (`iifname` inbound, `oifname` outbound).
    Interface,
}

/// Arguments of `sgeval export nftables`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (JSON).
    pub scenario: PathBuf,
    /// The endpoint (name or address) whose decisions to export.
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    pub endpoint: Option<String>,
    /// Every endpoint in one table, keyed as `--key` says.
    #[arg(long)]
    pub all: bool,
    /// With `--all`: how packets are matched to endpoints.
    #[arg(long, value_enum, default_value_t = KeyArg::Address, requires = "all")]
    pub key: KeyArg,
    /// The directions to export.
    #[arg(long, value_enum, default_value_t = Directions::Both)]
    pub direction: Directions,
    /// Print only the set (and map) updates that bring a loaded export to this scenario's
    /// memberships, as one `nft -f` transaction.
    #[arg(long)]
    pub sets_only: bool,
}

/// Runs `sgeval export`.
pub fn run(cmd: ExportCmd) -> ExitCode {
    let args = match cmd {
        ExportCmd::Nftables(args) => args,
        ExportCmd::Describe(args) => return documents(&args, None),
        ExportCmd::Terraform(args) => {
            let members = match args.huawei_members {
                HuaweiMembersArg::Port => HuaweiMembers::Ports,
                HuaweiMembersArg::Instance => HuaweiMembers::Instances,
            };
            return documents(
                &args.doc,
                Some(TerraformOptions {
                    huawei_members: members,
                }),
            );
        }
    };
    let scenario = match read_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    warn_unresolved(&args.scenario, &scenario);
    let cloud = match scenario.build() {
        Ok(c) => c,
        Err(e) => return bad_input(format!("{}: {e}", args.scenario.display())),
    };
    let scope = match &args.endpoint {
        Some(name) => {
            let key = cloud
                .endpoint_by_name(name)
                .or_else(|| name.parse().ok().and_then(|a| cloud.endpoint_by_addr(a)));
            match key {
                Some(k) => Scope::Endpoint(k),
                None => {
                    return bad_input(format!(
                        "`--endpoint` `{name}`: no endpoint of that name or address"
                    ))
                }
            }
        }
        None => Scope::All(match args.key {
            KeyArg::Address => Key::Address,
            KeyArg::Interface => Key::Interface,
        }),
    };
    let directions = match args.direction {
        Directions::Ingress => vec![Direction::Ingress],
        Directions::Egress => vec![Direction::Egress],
        Directions::Both => Direction::ALL.to_vec(),
    };
    let export = Export { scope, directions };
    let text = if args.sets_only {
        nftables::set_updates(&cloud, &export)
    } else {
        nftables::table(&cloud, &export)
    };
    match text {
        Ok(t) => {
            emit(t.trim_end());
            ExitCode::SUCCESS
        }
        Err(e) => bad_input(format!("{}: {e}", args.scenario.display())),
    }
}

/// `sgeval export describe|terraform`.
fn documents(args: &DocArgs, terraform: Option<TerraformOptions>) -> ExitCode {
    let scenario = match read_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    // An unresolved item is not in the cloud; a document without it would read back as
    // settled, so refuse rather than drop it.
    if !scenario.unresolved.is_empty() {
        return bad_input(format!(
            "{}: {} unresolved item(s) (first: `{}`); no provider document can carry what the import did not settle",
            args.scenario.display(),
            scenario.unresolved.len(),
            scenario.unresolved[0].subject
        ));
    }
    let cloud = match scenario.build() {
        Ok(c) => c,
        Err(e) => return bad_input(format!("{}: {e}", args.scenario.display())),
    };
    // The switches are sgeval's readings of what the documents leave open; no provider
    // document carries them, so an import of the export starts from the defaults.
    if *cloud.options() != sgeval::Options::default() {
        eprintln!(
            "sgeval: note: {}: the scenario's `options` are not part of any provider document; give them again in the scenario `sgeval import` prints",
            args.scenario.display()
        );
    }
    let text = if let Some(options) = terraform {
        sgeval::export::terraform_with(&cloud, &options).map(|v| {
            let mut t = serde_json::to_string_pretty(&v).unwrap_or_default();
            t.push('\n');
            t
        })
    } else {
        sgeval::export::describe(&cloud).map(|r| sgeval::export::json_lines(&r))
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => return bad_input(format!("{}: {e}", args.scenario.display())),
    };
    match &args.out {
        Some(path) => match std::fs::write(path, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => bad_input(format!("cannot write `{}`: {e}", path.display())),
        },
        None => {
            emit(text.trim_end());
            ExitCode::SUCCESS
        }
    }
}
