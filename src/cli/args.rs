//! The command line as clap sees it: every flag with its help text, and nothing else.
//!
//! The doc comments here are the `--help` output. Turning these structs into work happens in
//! the sibling modules of [`crate::cli`].

use crate::workflow::defaults;
use std::path::PathBuf;

use crate::state::Location;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// s2d moves a provider's OpenStack server into the private cloud where the data lives.
///
/// A plan file (TOML or XML) names a source cloud, a target cloud and the servers to bring
/// over; s2d shows what will change (`plan`), makes it so (`apply`) and can undo it
/// (`destroy`).
#[derive(Debug, Parser)]
#[command(
    name = "s2d",
    version = env!("S2D_VERSION"),
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags that every subcommand accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// When to use colour: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,

    /// More detail on stderr (-v: info, -vv: debug, -vvv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Print only errors and the requested data.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The `--color` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The syntax of a plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanSyntax {
    Toml,
    Xml,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter plan that validates.
    Init(InitArgs),
    /// Check plan files and report every problem with its location.
    Validate(ValidateArgs),
    /// Show what `apply` would change in the target cloud.
    Plan(PlanArgs),
    /// Create the plan's resources in the target cloud.
    Apply(ApplyArgs),
    /// Delete what s2d created, returning the target to how it was.
    Destroy(DestroyArgs),
    /// Show the resources recorded in the state file.
    Show(ShowArgs),
    /// Report instance usage (up-time, vCPUs, CPU hours, disk) from both clouds.
    Usage(UsageArgs),
    /// Print the plan's resource dependency graph.
    Graph(GraphArgs),
    /// Write a plan in the other syntax (TOML <-> XML).
    Convert(ConvertArgs),
    /// Inspect or edit the state file (list, rm).
    #[command(subcommand)]
    State(StateCommand),
    /// Clear a state lock left behind by an s2d process that is gone.
    ForceUnlock(ForceUnlockArgs),
    /// Run the S2D service: the HTTP API and the web wizard.
    Serve(ServeArgs),
    /// Print the shell completion script for s2d (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Write the manual pages (s2d.1 and one per subcommand), or print s2d.1.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `source <(s2d completions bash)` in ~/.bashrc.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write s2d.1 and a page per subcommand (s2d-plan.1, s2d-state-list.1, ...) into this
    /// directory (created if missing); without it, print s2d.1 on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on (loopback by default; any other address needs TLS or
    /// --insecure-http).
    #[arg(long, default_value = "127.0.0.1:8480", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Where plans, states, job logs and the API token are kept.
    #[arg(long, default_value = "s2d-data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The clouds.yaml the service reads (default: found as the `openstack` CLI finds it).
    #[arg(long, value_name = "PATH")]
    pub clouds_yaml: Option<PathBuf>,
    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (e.g. behind a TLS-terminating proxy).
    #[arg(long)]
    pub insecure_http: bool,
}

/// The `s2d state` subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the addresses of the resources in the state.
    List(StateListArgs),
    /// Forget resources without deleting them from the cloud.
    Rm(StateRmArgs),
    /// Print the state (from any backend) as JSON on stdout.
    Pull(StatePullArgs),
    /// Replace the state with FILE (a state as `state pull` prints it), under its lock.
    Push(StatePushArgs),
    /// Copy the state to another place (a file, postgres://… or swift://…) under both locks.
    Migrate(StateMigrateArgs),
}

#[derive(Debug, Args)]
pub struct StateListArgs {
    /// The state: a file, postgres://user@host:port/db?name=NAME or swift://CLOUD/CONTAINER/OBJECT.
    #[arg(long, default_value = "s2d.state.json", value_name = "PATH|URL")]
    pub state: Location,
}

#[derive(Debug, Args)]
pub struct StatePullArgs {
    /// The state: a file, postgres://… or swift://….
    #[arg(long, default_value = "s2d.state.json", value_name = "PATH|URL")]
    pub state: Location,
}

#[derive(Debug, Args)]
pub struct StatePushArgs {
    /// The state file to push.
    pub file: PathBuf,
    /// Where to push it: a file, postgres://… or swift://….
    #[arg(long, default_value = "s2d.state.json", value_name = "PATH|URL")]
    pub state: Location,
    /// Push even if FILE is of another lineage, or older than the state there.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StateMigrateArgs {
    /// Where the state is now.
    #[arg(long, default_value = "s2d.state.json", value_name = "PATH|URL")]
    pub state: Location,
    /// Where it goes: a file, postgres://… or swift://…; refused if a state is there already.
    #[arg(long, value_name = "PATH|URL")]
    pub to: Location,
}

#[derive(Debug, Args)]
pub struct StateRmArgs {
    /// Addresses to forget, e.g. `server.web` or `security_group_rule.web[0]`.
    #[arg(required = true)]
    pub addresses: Vec<String>,
    /// The state: a file, postgres://… or swift://….
    #[arg(long, default_value = "s2d.state.json", value_name = "PATH|URL")]
    pub state: Location,
}

#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id the refusal showed (required for a Swift state).
    pub id: Option<String>,
    /// The state whose lock to clear: a file, postgres://… or swift://….
    #[arg(long, default_value = "s2d.state.json", value_name = "PATH|URL")]
    pub state: Location,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Write the XML form instead of TOML.
    #[arg(long)]
    pub xml: bool,
    /// Where to write the plan (default: s2d.toml or s2d.xml; `-` for stdout).
    pub path: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Plan files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Syntax of the files (default: by extension, .toml or .xml).
    #[arg(long, value_enum)]
    pub format: Option<PlanSyntax>,
    /// Print the diagnostics as JSON objects on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The plan file to convert.
    pub file: PathBuf,
    /// The syntax to write.
    #[arg(long, value_enum)]
    pub to: PlanSyntax,
    /// Syntax of the input (default: by extension).
    #[arg(long, value_enum)]
    pub format: Option<PlanSyntax>,
    /// Write here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The plan file.
    pub plan: PathBuf,
    /// Print the changes as JSON (the format of `--out`; see docs/engine.md).
    #[arg(long)]
    pub json: bool,
    /// Save the plan here; `s2d apply FILE` then carries out exactly these changes.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub scope: Scope,
}

/// Which state and which resources a plan, apply or destroy works on.
#[derive(Debug, Args)]
pub struct Scope {
    /// The state: a file, postgres://user@host:port/db?name=NAME or
    /// swift://CLOUD/CONTAINER/OBJECT (default: s2d.state.json beside the plan).
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<Location>,
    /// Only this resource and what it depends on (repeatable), e.g. `server.web`.
    #[arg(long = "target", value_name = "ADDRESS")]
    pub targets: Vec<String>,
}

/// How apply and destroy run.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Do not ask for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Resources making cloud calls at once (one waiting for a snapshot, an upload or a boot
    /// does not count).
    #[arg(long, default_value_t = defaults::PARALLELISM, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub parallelism: u32,
    /// Image copies running at once.
    #[arg(long, default_value_t = defaults::TRANSFERS, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub transfers: u32,
    /// Snapshots taken in the source at once (from createImage until the snapshot is active).
    #[arg(long, default_value_t = defaults::SNAPSHOTS, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub snapshots: u32,
    /// Seconds to wait for a source snapshot to become active.
    #[arg(long, default_value_t = defaults::SNAPSHOT_TIMEOUT_S, value_name = "SECONDS")]
    pub snapshot_timeout: u64,
    /// Seconds to wait for a target image to become active after its upload.
    #[arg(long, default_value_t = defaults::IMAGE_TIMEOUT_S, value_name = "SECONDS")]
    pub image_timeout: u64,
    /// Seconds to wait for a volume or volume snapshot to become available, and for a volume's
    /// upload into an image (a target volume made from a large image takes long).
    #[arg(long, default_value_t = defaults::VOLUME_TIMEOUT_S, value_name = "SECONDS")]
    pub volume_timeout: u64,
    /// Seconds to wait for a server to become ACTIVE.
    #[arg(long, default_value_t = defaults::SERVER_TIMEOUT_S, value_name = "SECONDS")]
    pub server_timeout: u64,
    /// Where spooled image downloads live until uploaded (default: `.s2d-spool` beside the
    /// state); a download broken off by a kill resumes from here.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,
    /// Seconds to wait for a deleted server to be gone.
    #[arg(long, default_value_t = defaults::DELETE_TIMEOUT_S, value_name = "SECONDS")]
    pub delete_timeout: u64,
    /// Seconds a create refused for a quota (Glance's images uploading at once, Nova's
    /// instances, Neutron's ports or floating IPs taken by others) waits, in all, for room
    /// before it fails.
    #[arg(long, default_value_t = defaults::QUOTA_TIMEOUT_S, value_name = "SECONDS")]
    pub quota_timeout: u64,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file, or a plan saved with `s2d plan --out`.
    pub plan: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub scope: Scope,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The plan file (its clouds are used; what is deleted comes from the state).
    pub plan: PathBuf,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub scope: Scope,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The state: a file, postgres://… or swift://….
    #[arg(default_value = "s2d.state.json", value_name = "PATH|URL")]
    pub state: Location,
    /// Print the state as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UsageArgs {
    /// The plan whose source and target clouds to read.
    pub plan: Option<PathBuf>,
    /// Read this cloud from clouds.yaml instead (repeatable).
    #[arg(long)]
    pub cloud: Vec<String>,
    /// Start of the period (ISO 8601, local time unless it has an offset; default: the first
    /// of this month).
    #[arg(long)]
    pub start: Option<String>,
    /// End of the period (default: now).
    #[arg(long)]
    pub end: Option<String>,
    /// Only the servers the state file says s2d migrated.
    #[arg(long)]
    pub managed: bool,
    /// Every project's instances, not only the token's own (needs an admin role on most
    /// clouds; the table then shows CLOUD/PROJECT).
    #[arg(long)]
    pub all_projects: bool,
    /// The state for --managed: a file, postgres://… or swift://… (default: s2d.state.json
    /// beside the plan).
    #[arg(long, value_name = "PATH|URL")]
    pub state: Option<Location>,
    /// Prices (TOML: currency, vcpu_hour, ram_gb_hour, disk_gb_hour) for a cost column.
    #[arg(long)]
    pub rates: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the rows as CSV.
    #[arg(long)]
    pub csv: bool,
    /// Exit 1 when a cloud refuses the call (default: warn and print the others).
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The plan file.
    pub plan: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_is_listed_in_help() {
        let cmd = Cli::command();
        let help = cmd.clone().render_long_help().to_string();
        let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
        assert!(names.len() >= 14, "{names:?}");
        for name in names {
            assert!(help.contains(name), "`{name}` missing from --help:\n{help}");
        }
    }

    #[test]
    fn global_flags_parse_after_the_subcommand() {
        let cli = Cli::try_parse_from(["s2d", "validate", "a.toml", "--color", "never", "-vv"])
            .expect("parses");
        assert_eq!(cli.global.color, ColorChoice::Never);
        assert_eq!(cli.global.verbose, 2);
    }

    #[test]
    fn verbose_and_quiet_conflict() {
        assert!(Cli::try_parse_from(["s2d", "-v", "-q", "validate", "a.toml"]).is_err());
    }
}
