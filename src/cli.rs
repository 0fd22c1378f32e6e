//! Command-line definitions (clap) and nothing else: parsing only, no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

/// `0.1.0 (1a2b3c4d5e6f x86_64-unknown-linux-musl)`: the version, the commit it was built from
/// (`-dirty` with uncommitted changes) and the target (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("STAMP_BUILD_COMMIT"),
    " ",
    env!("STAMP_BUILD_TARGET"),
    ")"
);

/// Tenants at once inside a ring for every command that writes through the rollout engine
/// (deploy, up, down, run, infra apply). Tenants are separate accounts, so AWS's per-account
/// limits do not bound it; measured for deploy (README "Why 32"), where a ring of up to 32
/// tenants then goes in one round instead of several.
pub const WRITE_CONCURRENCY: usize = 32;

const ABOUT: &str =
    "Deploy one containerised application into many customer AWS accounts, reproducibly.";

const LONG_ABOUT: &str = "\
stamp deploys one containerised application into many customer AWS accounts (\"tenants\", one
account each). The fleet lives in git: one file per tenant (tenants/*.toml) over shared
defaults, ECS task definition templates (templates/*.json.j2) and CloudFormation templates
(templates/*.cfn.yaml). From them stamp renders every tenant's task definitions (each value
showing where it came from), plans against what runs in each account (reading it through the
tenant's read-only role), deploys ring by ring within each tenant's windows, with locks and
rollbacks, builds each tenant's stacks, and shows the state of the whole fleet.

The fleet root is the first folder upwards from the working directory that holds
tenants/_defaults.toml (or --root DIR).";

const EXAMPLES: &str = "\
Examples:
  stamp validate                         check every tenant file and template
  stamp explain acme -s api LOG_LEVEL    where LOG_LEVEL's value comes from
  stamp plan --all                       what a deploy would change, tenant by tenant
  stamp deploy --all --yes               deploy the fleet ring by ring (as CI does)
  stamp status --all                     what runs where, and whether it drifted from git
  stamp infra apply acme                 create or update acme's CloudFormation stacks
  stamp schedule                         which tenants may deploy now
  stamp whoami                           can I reach every tenant's account, with both roles?
  stamp login acme                       acme's AWS console, read-only, in the browser
  stamp exec acme -- aws s3 ls           a command with acme's read-only credentials

Exit codes: 0 success, 1 an operation failed, 2 bad input or usage (nothing was changed).";

#[derive(Debug, Parser)]
#[command(name = "stamp", version = VERSION, about = ABOUT, long_about = LONG_ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Output format: `text` for people, `json` for CI (a stable schema, see README).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// The fleet repository (the folder holding tenants/ and templates/).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// More detail on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// The options of commands that reach AWS (`validate` and `schedule` never do).
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS profile for the base credentials (before tenant roles are assumed); changes no result.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every tenant file and template; render every service with placeholders.
    #[command(after_help = "\
Examples:
  stamp validate
  stamp validate --output json     {\"ok\": false, \"diagnostics\": [{\"file\", \"line\", ...}]}

Needs no AWS access. Every problem of the fleet is reported at once; exit code 2 if any.")]
    Validate(ValidateArgs),

    /// Print the ECS task definition JSON of a tenant's services.
    #[command(after_help = "\
Examples:
  stamp render acme -s api                        one service, values read from acme's account
  stamp render acme -s api --offline              the same with placeholders, no AWS needed
  stamp render acme --offline                     every service of acme (a stream of JSON documents)
  stamp render --all --offline --out-dir out/     one file per tenant and service: out/acme/api.json

Without --offline, stamp assumes each tenant's inspect_role (read-only) and reads its SSM
parameters and stack outputs; --offline shows them as placeholders such as
<ssm:/shop/acme/api_base>. Secrets are always ARNs in `secrets`, never values.")]
    Render(RenderArgs),

    /// Show every variable of a service with its value, kind, layer and source.
    #[command(after_help = "\
Examples:
  stamp explain acme -s api                       every variable, winning value and source
  stamp explain acme -s api --offline             the same without AWS: SSM values as placeholders
  stamp explain acme -s api LOG_LEVEL --offline   one variable with everything it overrode
  stamp explain acme --stack app --offline        the parameters of acme's [infra.app] stack

Layers, lowest first: 1 template, 2 _defaults.toml [env], 3 _defaults.toml [services.S.env],
4 tenant [env], 5 tenant [services.S.env]. Within a layer, env_from imports come first and
explicit keys win over them.")]
    Explain(ExplainArgs),

    /// Per-tenant CloudFormation stacks from `[infra.STACK]`: preview or apply via change sets.
    #[command(
        subcommand,
        after_help = "\
Examples:
  stamp infra plan acme                    what would change in acme's stacks
  stamp infra plan --all --stack app       the [infra.app] stack of every tenant
  stamp infra apply acme                   apply acme's stacks, asking y/N first
  stamp infra apply --all --yes            the whole fleet, ring by ring (as CI does)

Each [infra.STACK] table of the tenant files is one CloudFormation stack per tenant, in the
tenant's account, with parameters from the DSL (see docs/cloudformation.md). Both commands use
the tenant's deploy_role: a change set changes nothing, but creating one is a write API."
    )]
    Infra(InfraCommand),

    /// Resolve, render and compare with what runs: create/update/unchanged, diffs, a digest.
    #[command(after_help = "\
Examples:
  stamp plan acme                      one tenant
  stamp plan --all --stats             the whole fleet, with the AWS calls it made
  stamp plan --all --out plan.json     save exactly this plan (for `deploy --plan`)
  stamp plan --all --output json       {\"digest\", \"tenants\": [...], \"api_calls\": {...}}

Read-only: each tenant is read through its inspect_role. The digest is the sha256 of the
canonical desired state: the same commit and parameter versions give the same digest whoever
runs it, wherever. Exit code 1 if any tenant could not be planned; the others are still shown,
and no plan digest is given (a partial plan cannot be applied).")]
    Plan(PlanArgs),

    /// Apply the plan: waves by ring, windows, locks, wait for rollouts, roll back on failure.
    #[command(after_help = "\
Examples:
  stamp deploy acme                            one tenant, asks y/N on a terminal
  stamp deploy --all --yes                     the fleet, ring by ring (CI)
  stamp deploy --all --yes --shard 0/4         this CI container's quarter of the fleet
  stamp deploy --all --yes --release v1.43.0   unpinned tenants get v1.43.0
  stamp deploy --plan plan.json --yes          exactly a saved plan, refused if anything moved
  stamp deploy acme --yes --ignore-window --reason \"hotfix INC-42\"

Per service: nothing happens if it already runs what the repo says; otherwise a lock in the
tenant's account, a new task definition revision only if it changed, UpdateService, a wait
for the rollout, and on failure or --timeout a rollback to what ran before. Everything
deployed is tagged with commit, digest, release and deployer.
Exit codes: 0 all deployed, unchanged or skipped by schedule; 1 a service failed or was rolled
back; 2 bad input or usage, or a refusal before any write (a declined y/N included); 130
interrupted twice.")]
    Deploy(DeployArgs),

    /// Roll a service back to the newest earlier revision stamp deployed (or --to N), as a deploy.
    #[command(after_help = "\
Examples:
  stamp rollback acme -s api --yes       to the newest earlier revision stamp deployed
  stamp rollback acme -s api --to 41     to revision 41 of the service's family
  stamp history acme -s api              to see the revisions first")]
    Rollback(RollbackArgs),

    /// A one-off task (a migration) from a service's rendered task definition, in each tenant.
    #[command(after_help = "\
Examples:
  stamp run acme -s api -- ./migrate up             one tenant: exits with the container's code
  stamp run --all -s api --yes -- ./migrate up      the fleet, ring by ring; a summary of exit codes
  stamp run acme -s api --container app --timeout 5m -- ./manage check

The task runs the revision a deploy would register (registered first if it changed), where the
service's tasks run (launch type or capacity providers, subnets, security groups: read from the
live service), with only the container's command replaced; its environment and secrets are the
service's own (secrets as valueFrom references). startedBy is `stamp`; the task carries the
stamp:* audit tags. stamp waits until it stops and prints its awslogs group and stream.
Exit codes, one tenant: the container's exit code; 124 when --timeout stopped the task; 1 when
it did not start (ECS's reason is shown). Several tenants: 0 when every task exited 0, else 1.
2: bad input or a refusal before anything started.")]
    Run(RunArgs),

    /// Read-only fleet view: what runs where, who deployed it, and whether it drifted from git.
    #[command(after_help = "\
Examples:
  stamp status --all                       one row per tenant service
  stamp status acme globex -s api          some tenants, one service
  stamp status --all --output json         {\"taken_at\", \"tenants\": [...], \"counts\", \"api_calls\"}
  stamp status --all --html fleet.html     also write a self-contained page: tenants x services

Read-only: every account is read through its inspect_role, `--concurrency` at a time.
STATE is `in-sync` when the running task definition and desired count equal what this commit
and the current parameter versions render; `drifted` lists what differs (field and variable
names, never values); `not-deployed` when the service does not exist; `unknown` when the
account could not be read or the service could not be rendered (the reason is shown).
Tenants without a release in the repo (pin or _defaults.toml) are compared at the release
they run, unless --release is given.
Exit code 0 when every account was read (drift is data, not failure); with --check, 1 if any
service is not in-sync.")]
    Status(StatusArgs),

    /// A service's task definition revisions, newest first, with commit, digest, release, deployer.
    #[command(after_help = "\
Examples:
  stamp history acme -s api
  stamp history acme -s api --limit 5 --output json
  stamp history --all -s api --limit 3     the api of every tenant

Read-only (inspect_role). The running revision is marked; the audit columns come from the
stamp:* tags that `stamp deploy` writes.")]
    History(HistoryArgs),

    /// List every SSM parameter tenants use: type, version, the variables using it, missing.
    #[command(after_help = "\
Examples:
  stamp params acme
  stamp params --all --output json

Reads each tenant's account through its inspect_role. Values are never shown (secrets are never
read at all); `stamp explain` shows plain values with their provenance. Exit code 1 when a
referenced parameter is missing or has the wrong type, or an account could not be read.")]
    Params(ParamsArgs),

    /// Preflight: every image tag in its ECR repository, every role and log group the task
    /// definitions name, per tenant.
    #[command(after_help = "\
Examples:
  stamp verify acme                     the release acme would deploy
  stamp verify --all --release v1.43.0  before `stamp deploy --all --release v1.43.0`
  stamp verify --all --output json      {\"ok\", \"tenants\": [{\"tenant\", \"checked\", \"problems\"}]}

Read-only (inspect_role: ecr:DescribeImages, iam:GetRole, logs:DescribeLogGroups). Images
outside a private ECR registry and roles of other accounts are not checked. `stamp deploy` runs
the same checks before its first write and refuses the whole run when any fails. Exit code 2
when any tenant has a problem.")]
    Verify(VerifyArgs),

    /// Show deploy windows and freezes per tenant: open now, when it closes, next opening.
    #[command(after_help = "\
Examples:
  stamp schedule
  stamp schedule acme globex --at 2026-12-02T03:00:00Z

Windows are evaluated in each tenant's own timezone; a freeze beats a window; a tenant with
`windows = []` is always open outside freezes.")]
    Schedule(ScheduleArgs),

    /// Open a tenant's AWS console in the browser, signed in with its read-only inspect_role.
    #[command(after_help = "\
Examples:
  stamp login acme                          the console at acme's ECS cluster, in the browser
  stamp login acme --destination logs       at CloudWatch Logs (or ecs, ssm, cloudformation, s3…)
  stamp login acme --print | pbcopy         the sign-in URL on stdout instead
  stamp login acme --duration 8h            a longer console session (see below)

stamp assumes the tenant's inspect_role (account guard first), exchanges the session for a
sign-in token at the AWS federation endpoint and opens the sign-in URL with the platform's
opener (xdg-open, open) on a desktop terminal. With --print, off a terminal or with CI set, the
URL goes to stdout instead, and nowhere else: it signs its holder in for the whole session, so
treat it as a password. It must be used within 15 minutes.

--duration is 15m to 12h (default 1h), up to the role's maximum session duration. When your
own identity is itself an assumed role (SSO, a role profile, CI), AWS allows a role assumed
from it one hour at most: stamp then says so and signs you in for an hour.
STAMP_SIGNIN_ENDPOINT overrides the federation endpoint (https, or http to 127.0.0.1).")]
    Login(LoginArgs),

    /// Run a command with a tenant's credentials (its read-only inspect_role unless --role deploy).
    #[command(after_help = "\
Examples:
  stamp exec acme -- aws ecs list-services --cluster acme-shop
  stamp exec acme -- aws logs tail /ecs/acme/api --follow
  stamp exec acme -- $SHELL                  a shell in acme's account (exit to leave it)
  stamp exec acme --role deploy --reason \"INC-42 restart api\" -- aws ecs update-service …

The child gets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
AWS_CREDENTIAL_EXPIRATION, AWS_REGION and AWS_DEFAULT_REGION (the tenant's region), plus
STAMP_TENANT and STAMP_ROLE; AWS_PROFILE, AWS_DEFAULT_PROFILE and every other credential
variable are removed, AWS_ENDPOINT_URL passes through. --role deploy needs --reason: it is
printed on stderr and written into the STS session name, so CloudTrail shows who and why on
every call.
Exit code: the command's own. Before it runs: 2 for bad usage, 1 when the credentials could not
be had (or the account guard refused the tenant), 127 when the command is not found, 126 when
it cannot be run.")]
    Exec(ExecArgs),

    /// Print a tenant's credentials as credential_process JSON, for ~/.aws/config profiles.
    #[command(after_help = "\
Examples:
  stamp creds acme                               {\"Version\": 1, \"AccessKeyId\", …, \"Expiration\"}
  STAMP_REASON=\"INC-42\" stamp creds acme --role deploy

Meant for `credential_process` (see `stamp profiles`): stdout carries the JSON document and
nothing else, whatever --output says. The credentials are secrets: do not paste them anywhere.
--role deploy needs a reason, from --reason or STAMP_REASON (a profile cannot ask for one).")]
    Creds(CredsArgs),

    /// Print an ~/.aws/config profile per tenant that gets its credentials from `stamp creds`.
    #[command(after_help = "\
Examples:
  stamp profiles >> ~/.aws/config               [profile shop-acme] … for every tenant
  stamp profiles --role deploy >> ~/.aws/config [profile shop-acme-deploy] …
  aws --profile shop-acme ecs list-services --cluster acme-shop
  AWS_PROFILE=shop-globex terraform plan

Each profile runs `stamp --root <this fleet> creds --profile <base> <tenant>` and sets the
tenant's region, so the AWS CLI, Terraform, the SDKs and IDEs reach any tenant by name. The
base profile is --profile, else AWS_PROFILE, else `default`; it is written into every profile
so that a profile selected by AWS_PROFILE does not call itself. Needs no AWS access.")]
    Profiles(ProfilesArgs),

    /// Per tenant: account, region, cluster, both roles, and whether each can be assumed now.
    #[command(after_help = "\
Examples:
  stamp whoami                     every tenant
  stamp whoami acme --output json  {\"caller\", \"tenants\": [{\"roles\": [{\"role\", \"ok\", …}]}], \"ok\"}

For each tenant stamp assumes inspect_role and deploy_role (15-minute sessions, thrown away)
and checks with GetCallerIdentity that each lands in the tenant's account_id. Nothing is
written. The first thing to run when a new customer account is onboarded.
Exit code 1 when any role cannot be assumed or lands in another account.")]
    Whoami(WhoamiArgs),

    /// Print the JSON Schema of tenant files or _defaults.toml, for editors (Taplo).
    #[command(after_help = "\
Examples:
  stamp schema > schema/tenant.schema.json
  stamp schema defaults > schema/defaults.schema.json

Then start each tenant file with `#:schema ../schema/tenant.schema.json` (and _defaults.toml
with the defaults schema): Even Better TOML in VS Code, and any editor through taplo-lsp,
complete keys and mark mistakes as you type. Needs no fleet and no AWS.")]
    Schema(SchemaArgs),

    /// Print the script a shell sources to complete commands, flags, tenants and services.
    #[command(after_help = "\
Examples:
  echo 'source <(stamp completions bash)' >> ~/.bashrc
  echo 'source <(stamp completions zsh)' >> ~/.zshrc
  stamp completions fish > ~/.config/fish/completions/stamp.fish
  stamp completions powershell | Out-String | Invoke-Expression

Tenant, service and stack names are completed from the fleet at hand (the one --root names,
else the one around the working directory) each time you press Tab. The script calls stamp
back with STAMP_COMPLETE set; regenerate it when you upgrade stamp.")]
    Completions(CompletionsArgs),

    /// Write stamp's man pages (one per command) to a folder, or stamp(1) to stdout.
    #[command(after_help = "\
Examples:
  stamp man --out-dir ~/.local/share/man/man1 && man stamp-deploy
  stamp man | man -l -")]
    Man(ManArgs),

    /// Onboard a customer: write a new tenant file.
    #[command(subcommand)]
    Tenant(TenantCommand),

    /// The tenant account's roles as a CloudFormation stack, from stamp's own list of calls.
    #[command(
        args_conflicts_with_subcommands = true,
        subcommand_negates_reqs = true,
        after_help = "\
Examples:
  stamp bootstrap template acme --trust arn:aws:iam::123456789012:role/stamp-ci > roles.json
  stamp bootstrap acme --apply --trust arn:aws:iam::123456789012:role/stamp-ci --profile acme-admin

The template creates the tenant's deploy_role and inspect_role (names as the tenant files
resolve them) with exactly the AWS actions stamp calls, each scoped to the tenant's resources
where the API allows. --apply creates or updates the stack `stamp-bootstrap` in each tenant's
account with your own credentials for that account (--profile or the environment), which must
be in the tenant's account_id; nothing is written in an account that fails that check."
    )]
    Bootstrap(BootstrapArgs),

    /// Is each tenant ready? Roles, account guard, cluster, parameters, stacks (read-only).
    #[command(after_help = "\
Examples:
  stamp check acme                one tenant
  stamp check --all --output json {\"tenants\": [{\"tenant\", \"problems\": [...]}], \"ok\"}

Assumes both roles (the account guard checks each lands in the tenant's account), then reads,
with inspect_role only: the cluster, the parameters the files reference and the stacks they
name. One line per problem per tenant. Exit code 1 when any tenant has a problem.")]
    Check(CheckArgs),

    /// Build tenants from accounts holding only their roles: stacks, then services (a deploy).
    #[command(after_help = "\
Examples:
  stamp up acme --yes                             stacks in dependency order, then every service
  stamp up acme --instance $CIRCLE_WORKFLOW_ID --yes   a copy beside others in the same account

Runs `infra apply` for each stack (in cfn_output dependency order, waiting for each), then
`deploy` for each service, as one run of the engine: the same refusals, --yes, --reason,
windows, locks and summary. A tenant whose stack fails gets no service deploy.
With --instance ID every name stamp makes in the account ends in -ID (cluster, stacks,
services, families, locks); the stack templates get it as the parameter StampInstance.")]
    Up(UpArgs),

    /// Remove everything stamp made for an ephemeral tenant: services, stacks, families, locks.
    #[command(after_help = "\
Examples:
  stamp down pr-preview --yes
  stamp down acme --instance $CIRCLE_WORKFLOW_ID --yes

Refused (exit 2, before any call) for a tenant whose own file does not say `ephemeral = true`,
whatever the flags. On a terminal, asks for each tenant's name to be typed; elsewhere needs
--yes. Services are scaled to zero and deleted, stacks deleted in reverse dependency order,
every revision of the tenant's task definition families deregistered and deleted, and the
lock parameters under /stamp/locks removed. The account's bootstrap stack (the roles) stays.")]
    Down(DownArgs),
}

/// The copy of a tenant a command addresses: `--instance ID` (see `stamp up --help`).
#[derive(Debug, Args, Clone, Default)]
pub struct InstanceArgs {
    /// Address the copy of the tenant whose names end in -ID (lower-case letters, digits, -; at most 36).
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Tenants to build (file stems in tenants/).
    #[arg(required = true)]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    #[command(flatten)]
    pub instance: InstanceArgs,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Release for tenants that do not pin one.
    #[arg(long, value_parser = release)]
    pub release: Option<String>,
    /// Tenants built at once inside a ring (as deploy's --concurrency).
    #[arg(long, default_value_t = WRITE_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
    /// How long to wait for one stack operation or one rollout.
    #[arg(long, default_value = "30m", value_parser = duration)]
    pub timeout: std::time::Duration,
    /// How often to poll a rollout (e.g. 5s, 200ms).
    #[arg(long, default_value = "5s", value_parser = duration, value_name = "DURATION")]
    pub poll_interval: std::time::Duration,
    /// Print the AWS calls made, per operation, on stderr.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Tenants to remove (file stems in tenants/); each must say `ephemeral = true` in its file.
    #[arg(required = true)]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    #[command(flatten)]
    pub instance: InstanceArgs,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Tenants removed at once inside a ring (as deploy's --concurrency).
    #[arg(long, default_value_t = WRITE_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
    /// How long to wait for one stack deletion or one service to drain.
    #[arg(long, default_value = "30m", value_parser = duration)]
    pub timeout: std::time::Duration,
    /// How often to poll a draining service (e.g. 5s, 200ms).
    #[arg(long, default_value = "5s", value_parser = duration, value_name = "DURATION")]
    pub poll_interval: std::time::Duration,
    /// Print the AWS calls made, per operation, on stderr.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Write a commented tenants/NAME.toml that validates, then print the next steps.
    #[command(after_help = "\
Examples:
  stamp tenant new hooli --account 555555555555 --region eu-west-1 --ring canary

Refused (exit 2, nothing written) when NAME or the account is already in the fleet.
Needs no AWS access.")]
    New(TenantNewArgs),
}

#[derive(Debug, Args)]
pub struct TenantNewArgs {
    /// The tenant's name: the file stem (lowercase letters, digits, `-`).
    pub name: String,
    /// The customer's 12-digit AWS account id.
    #[arg(long, value_name = "ID")]
    pub account: String,
    /// The account's region (default: the fleet's default region).
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
    /// The deploy ring (default: the last of the project's rings).
    #[arg(long, value_name = "R")]
    pub ring: Option<String>,
    /// IANA time zone of the tenant's deploy windows.
    #[arg(long, value_name = "TZ")]
    pub timezone: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum BootstrapCommand {
    /// Print the CloudFormation template of a tenant's roles (JSON) on stdout.
    Template(BootstrapTemplateArgs),
}

/// Who the roles trust.
#[derive(Debug, Args)]
pub struct TrustArgs {
    /// A principal the roles trust (the CI role, operators); repeat for more. Default: the
    /// tenant account itself (its administrators grant sts:AssumeRole).
    #[arg(long, value_name = "ARN")]
    pub trust: Vec<String>,
    /// sts:ExternalId the trust requires (default: the tenant's external_id, if any).
    #[arg(long, value_name = "X")]
    pub external_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct BootstrapTemplateArgs {
    /// Tenant (a file stem in tenants/).
    pub tenant: String,
    #[command(flatten)]
    pub trust: TrustArgs,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    #[command(subcommand)]
    pub command: Option<BootstrapCommand>,
    /// Tenants whose accounts get the stack.
    #[arg(required = true)]
    pub tenants: Vec<String>,
    /// Create or update the stack `stamp-bootstrap` (without it nothing happens).
    #[arg(long, required = true)]
    pub apply: bool,
    #[command(flatten)]
    pub trust: TrustArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Tenants (default: all).
    #[arg(conflicts_with = "all")]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// How many tenant accounts to check at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Which file `stamp schema` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFile {
    /// tenants/<tenant>.toml
    Tenant,
    /// tenants/_defaults.toml
    Defaults,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The file the schema is for.
    #[arg(value_enum, default_value_t = SchemaFile::Tenant)]
    pub file: SchemaFile,
}

/// Shells stamp completes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write stamp.1 and one page per command (stamp-deploy.1, …) into DIR.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Which of a tenant's roles a person's session uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessRole {
    /// inspect_role: read-only.
    Inspect,
    /// deploy_role: may write; needs --reason.
    Deploy,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Tenant (a file stem in tenants/).
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenant: String,
    /// Print the sign-in URL on stdout instead of opening the browser.
    #[arg(long)]
    pub print: bool,
    /// Console page to land on: a service (ecs, logs, ssm, cloudformation, s3, …) or a console
    /// URL. Default: the tenant's ECS cluster.
    #[arg(long, value_name = "SERVICE|URL")]
    pub destination: Option<String>,
    /// Console session length, 15m to 12h.
    #[arg(long, default_value = "1h", value_parser = session_duration)]
    pub duration: std::time::Duration,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The role and reason of a session handed to a person (`exec`, `creds`).
#[derive(Debug, Args)]
pub struct SessionArgs {
    /// The tenant's role to use.
    #[arg(long, value_enum, default_value_t = AccessRole::Inspect)]
    pub role: AccessRole,
    /// Why (required with --role deploy): printed, and written into the STS session name.
    #[arg(long, env = "STAMP_REASON", value_name = "TEXT")]
    pub reason: Option<String>,
    /// Session length, 15m to 12h.
    #[arg(long, default_value = "1h", value_parser = session_duration)]
    pub duration: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Tenant (a file stem in tenants/).
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenant: String,
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The command and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "CMD", value_parser = clap::value_parser!(std::ffi::OsString))]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct CredsArgs {
    /// Tenant (a file stem in tenants/).
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenant: String,
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ProfilesArgs {
    /// Tenants (default: all).
    #[arg(conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// The role the profiles use (deploy profiles are named `<project>-<tenant>-deploy`).
    #[arg(long, value_enum, default_value_t = AccessRole::Inspect)]
    pub role: AccessRole,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Tenants (default: all).
    #[arg(conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// How many tenant accounts to check at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// An STS session length: 15 minutes (STS's shortest) to 12 hours (its longest).
fn session_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = duration(s)?;
    if !(900..=43_200).contains(&d.as_secs()) || d.subsec_nanos() != 0 {
        return Err(format!(
            "`{s}`: a session lasts 15m to 12h, in whole seconds (write e.g. 1h or 8h)"
        ));
    }
    Ok(d)
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Tenants to show (file stems in tenants/).
    #[arg(conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// Only this service.
    #[arg(short, long)]
    #[arg(add = ArgValueCompleter::new(crate::complete::services))]
    pub service: Option<String>,
    /// Release to compare unpinned tenants at (default: _defaults.toml, else what runs).
    #[arg(long, value_parser = release)]
    pub release: Option<String>,
    /// How many tenant accounts to read at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    /// Also write the fleet as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit 1 unless every service is in-sync (for CI drift checks).
    #[arg(long)]
    pub check: bool,
    #[command(flatten)]
    pub instance: InstanceArgs,
    /// Print the AWS calls made, by operation, on stderr.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Tenant to render (a file stem in tenants/).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenant: Option<String>,
    /// Only this service.
    #[arg(short, long)]
    #[arg(add = ArgValueCompleter::new(crate::complete::services))]
    pub service: Option<String>,
    /// Every tenant of the fleet (needs --out-dir).
    #[arg(long, requires = "out_dir")]
    pub all: bool,
    /// Write one file per tenant and service (DIR/TENANT/SERVICE.json) instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Use placeholders for SSM and CloudFormation values instead of reading the account.
    #[arg(long)]
    pub offline: bool,
    /// How many tenant accounts to read at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    /// Release for tenants that do not pin one (default: `release` in _defaults.toml).
    #[arg(long, value_parser = release)]
    pub release: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Tenant (a file stem in tenants/).
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenant: String,
    /// Service.
    #[arg(
        short,
        long,
        required_unless_present = "stack",
        conflicts_with = "stack"
    )]
    #[arg(add = ArgValueCompleter::new(crate::complete::services))]
    pub service: Option<String>,
    /// A stack of `[infra.STACK]` instead of a service: each parameter and where it came from.
    #[arg(long)]
    #[arg(add = ArgValueCompleter::new(crate::complete::stacks))]
    pub stack: Option<String>,
    /// Only this variable, with its full provenance chain.
    pub var: Option<String>,
    /// Use placeholders for SSM and CloudFormation values instead of reading the account.
    #[arg(long)]
    pub offline: bool,
    /// Release for tenants that do not pin one.
    #[arg(long, value_parser = release)]
    pub release: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Tenants to plan (file stems in tenants/).
    #[arg(conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// Only this service.
    #[arg(short, long)]
    #[arg(add = ArgValueCompleter::new(crate::complete::services))]
    pub service: Option<String>,
    /// Release for tenants that do not pin one.
    #[arg(long, value_parser = release)]
    pub release: Option<String>,
    /// How many tenant accounts to read at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    /// Save the plan with every input version, for `deploy --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Print the AWS calls made, per operation, on stderr.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// The flags every command that writes to tenant accounts shares: what the engine refuses
/// without, and the overrides it records in the audit tags.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Go ahead without asking (required when not on a terminal, as in CI).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Go ahead even outside the tenants' deploy windows (needs --reason; recorded in tags).
    #[arg(long)]
    pub ignore_window: bool,
    /// Go ahead even during a freeze (needs --reason; recorded in tags).
    #[arg(long)]
    pub ignore_freeze: bool,
    /// Why a window or freeze is overridden.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Take a live lock held by another run (recorded in tags).
    #[arg(long)]
    pub force_unlock: bool,
    /// Allow uncommitted changes under tenants/ and templates/ (the commit tag ends in -dirty).
    #[arg(long)]
    pub allow_dirty: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Tenants to deploy (file stems in tenants/).
    #[arg(conflicts_with_all = ["all", "plan"])]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long, conflicts_with = "plan")]
    pub all: bool,
    /// Apply exactly this saved plan (`stamp plan --out FILE`); refused if anything moved since.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Release for tenants that do not pin one.
    #[arg(long, value_parser = release)]
    pub release: Option<String>,
    /// Only this service (repeatable), as `plan` and `status` select them.
    #[arg(short, long = "service", value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Only this ring of project.rings.
    #[arg(long)]
    pub ring: Option<String>,
    /// This CI container's share of the fleet: INDEX/TOTAL, 0-based (CIRCLE_NODE_INDEX/CIRCLE_NODE_TOTAL).
    // Hyphen values reach the shard parser, which names the mistake; otherwise `-1/3` is
    // taken for an unknown flag and the parser suggests `-- -1/3`, which would name a tenant.
    #[arg(long, value_name = "INDEX/TOTAL", allow_hyphen_values = true)]
    pub shard: Option<crate::fleet::Shard>,
    /// Tenants deployed at once inside a ring (tenants are separate accounts: the limit is this
    /// machine and the network, not AWS; README "Deploying" has the measurement).
    #[arg(long, default_value_t = WRITE_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
    /// Services of one tenant rolled out at once, each under its own lock.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub service_concurrency: usize,
    /// Failed tenants tolerated before no new tenant starts (the rest are reported skipped).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub failure_tolerance: u32,
    /// How long to wait for one rollout before rolling back (e.g. 10m, 90s, 1h).
    #[arg(long, default_value = "10m", value_parser = duration, allow_hyphen_values = true)]
    pub timeout: std::time::Duration,
    /// How often to poll a rollout (e.g. 5s, 200ms).
    #[arg(long, default_value = "5s", value_parser = duration, value_name = "DURATION")]
    pub poll_interval: std::time::Duration,
    /// Print the AWS calls made, per operation, on stderr.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Tenant (a file stem in tenants/).
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenant: String,
    /// Service.
    #[arg(short, long)]
    #[arg(add = ArgValueCompleter::new(crate::complete::services))]
    pub service: String,
    /// Revision of the service's task definition family to go back to.
    #[arg(long, value_name = "REVISION", value_parser = revision, allow_hyphen_values = true)]
    pub to: Option<i32>,
    #[command(flatten)]
    pub write: WriteArgs,
    /// How long to wait for the rollout.
    #[arg(long, default_value = "10m", value_parser = duration, allow_hyphen_values = true)]
    pub timeout: std::time::Duration,
    /// How often to poll the rollout (e.g. 5s, 200ms).
    #[arg(long, default_value = "5s", value_parser = duration, value_name = "DURATION")]
    pub poll_interval: std::time::Duration,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Tenants to run the task in (file stems in tenants/).
    #[arg(conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// The service whose task definition the task runs.
    #[arg(short, long)]
    #[arg(add = ArgValueCompleter::new(crate::complete::services))]
    pub service: String,
    /// The container whose command is replaced (default: the first essential container).
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Release for tenants that do not pin one.
    #[arg(long, value_parser = release)]
    pub release: Option<String>,
    /// How long the task may run before stamp stops it (StopTask).
    #[arg(long, default_value = "15m", value_parser = duration, allow_hyphen_values = true)]
    pub timeout: std::time::Duration,
    /// How often to poll the task (e.g. 5s, 200ms).
    #[arg(long, default_value = "5s", value_parser = duration, value_name = "DURATION")]
    pub poll_interval: std::time::Duration,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Only this ring of project.rings.
    #[arg(long)]
    pub ring: Option<String>,
    /// This CI container's share of the fleet: INDEX/TOTAL, 0-based.
    #[arg(long, value_name = "INDEX/TOTAL", allow_hyphen_values = true)]
    pub shard: Option<crate::fleet::Shard>,
    /// Tenants at once inside a ring (as deploy's --concurrency).
    #[arg(long, default_value_t = WRITE_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
    /// Failed tenants tolerated before no new tenant starts (the rest are reported skipped).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub failure_tolerance: u32,
    /// Print the AWS calls made, per operation, on stderr.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The container's command, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Tenants (file stems in tenants/).
    #[arg(conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// Service.
    #[arg(short, long)]
    #[arg(add = ArgValueCompleter::new(crate::complete::services))]
    pub service: String,
    /// How many revisions to show.
    #[arg(long, default_value_t = 20, value_name = "N", value_parser = count, allow_hyphen_values = true)]
    pub limit: usize,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ParamsArgs {
    /// Tenants (file stems in tenants/).
    #[arg(conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// How many tenant accounts to read at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Tenants to check (file stems in tenants/).
    #[arg(conflicts_with = "all")]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// Release for tenants that do not pin one.
    #[arg(long, value_parser = release)]
    pub release: Option<String>,
    /// How many tenant accounts to read at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Tenants to show (default: all).
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Evaluate at this instant instead of now (RFC 3339, e.g. 2026-12-02T03:00:00Z).
    #[arg(long, value_name = "INSTANT")]
    pub at: Option<String>,
}

/// A release is an image tag: checked here so a bad one never reaches a task definition.
fn release(s: &str) -> Result<String, String> {
    crate::dsl::check_release(s)
        .map(|()| s.to_owned())
        .map_err(|why| {
            format!("`{s}` cannot be an image tag: {why} (a tag has letters, digits, `.`, `_` and `-`, e.g. `v1.42.0`)")
        })
}

/// A task definition revision: ECS numbers them from 1.
fn revision(s: &str) -> Result<i32, String> {
    match s.trim().parse::<i32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a revision number (write e.g. `41`; `stamp history T -s S` lists the revisions)"
        )),
    }
}

/// A count of one or more.
fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a count of one or more (write e.g. `5`)"
        )),
    }
}

/// `90s`, `10m`, `1h`, `250ms`, or plain seconds; at most 24h (which keeps the lock expiry, the
/// wait plus five minutes, and deadlines, now plus the wait, from overflowing).
pub(crate) fn duration(s: &str) -> Result<std::time::Duration, String> {
    crate::duration::parse(s)
}

#[derive(Debug, Subcommand)]
pub enum InfraCommand {
    /// What would change per tenant stack: parameters (old → new, with provenance), the
    /// template diff, and the change set's resource changes.
    #[command(after_help = "\
Examples:
  stamp infra plan acme                 every stack of acme
  stamp infra plan --all --stack app    one stack of every tenant

Uses each tenant's deploy_role: a change set changes no resource, but CreateChangeSet is a
write API. The change set is deleted after it is read. A stack that does not exist is shown
as a create with the template's resources, without a change set.")]
    Plan(InfraPlanArgs),
    /// Create or update the stacks via change sets: waves, windows, locks, confirmation.
    #[command(after_help = "\
Examples:
  stamp infra apply acme               asks before applying (on a terminal)
  stamp infra apply --all --yes        the whole fleet, ring by ring, as CI does")]
    Apply(InfraApplyArgs),
}

#[derive(Debug, Args)]
pub struct InfraPlanArgs {
    #[command(flatten)]
    pub select: InfraSelect,
    /// Tenant accounts read at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
}

/// Which tenants and stacks `infra plan` and `infra apply` work on.
#[derive(Debug, Args)]
pub struct InfraSelect {
    /// Tenants (file stems in tenants/).
    #[arg(conflicts_with = "all")]
    #[arg(add = ArgValueCompleter::new(crate::complete::tenants))]
    pub tenants: Vec<String>,
    /// Every tenant of the fleet.
    #[arg(long)]
    pub all: bool,
    /// Only this stack (`[infra.STACK]`).
    #[arg(long)]
    #[arg(add = ArgValueCompleter::new(crate::complete::stacks))]
    pub stack: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct InfraApplyArgs {
    #[command(flatten)]
    pub select: InfraSelect,
    /// Tenants whose stacks are applied at once inside a ring (as deploy's --concurrency; the
    /// plan shown before the question reads as many at once).
    #[arg(long, default_value_t = WRITE_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
    #[command(flatten)]
    pub write: WriteArgs,
    /// Only this ring of project.rings.
    #[arg(long)]
    pub ring: Option<String>,
    /// Failed tenants tolerated before no new tenant starts (the rest are reported skipped).
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub failure_tolerance: u32,
    /// How long to wait for one stack operation.
    #[arg(long, default_value = "30m", value_parser = duration)]
    pub timeout: std::time::Duration,
    /// Print the AWS calls made, per operation, on stderr.
    #[arg(long)]
    pub stats: bool,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, InfraCommand, WRITE_CONCURRENCY};

    fn concurrency(args: &[&str]) -> usize {
        let cli = Cli::try_parse_from(["stamp"].iter().chain(args)).expect("parses");
        match cli.command {
            Command::Deploy(a) => a.concurrency,
            Command::Up(a) => a.concurrency,
            Command::Down(a) => a.concurrency,
            Command::Run(a) => a.concurrency,
            Command::Infra(InfraCommand::Apply(a)) => a.concurrency,
            Command::Infra(InfraCommand::Plan(a)) => a.concurrency,
            Command::Plan(a) => a.concurrency,
            other => panic!("not a command with --concurrency: {other:?}"),
        }
    }

    #[test]
    fn every_command_writing_through_the_engine_starts_as_many_tenants_at_once_as_deploy() {
        for args in [
            &["deploy", "acme"][..],
            &["up", "acme"],
            &["down", "acme"],
            &["run", "acme", "-s", "api", "--", "migrate"],
            &["infra", "apply", "acme"],
        ] {
            assert_eq!(concurrency(args), WRITE_CONCURRENCY, "{args:?}");
        }
        // Reads keep their own default; `infra plan` no longer shares apply's.
        assert_eq!(concurrency(&["infra", "plan", "acme"]), 8);
        assert_eq!(concurrency(&["plan", "acme"]), 8);
    }
}
