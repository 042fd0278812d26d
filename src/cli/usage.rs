//! `s2d usage`: instance usage from the plan's clouds (or the named ones), as a table, JSON or
//! CSV, for the provider's billing.

use std::collections::BTreeSet;

use anyhow::Context;

use super::args::UsageArgs;
use super::render::table;
use super::{ExitStatus, Ui};
use crate::cloud::{self, CloudConfig, ConfigEnv};
use crate::plan;
use crate::usage::{Period, Rates, Report, collect};

/// Which clouds to read: the `--cloud` names, else the plan's source and target.
fn clouds(
    args: &UsageArgs,
    env: &ConfigEnv,
) -> anyhow::Result<Vec<(String, Result<CloudConfig, String>)>> {
    if !args.cloud.is_empty() {
        return Ok(args
            .cloud
            .iter()
            .map(|name| {
                (
                    name.clone(),
                    cloud::config::from_clouds_yaml(name, env).map_err(|e| e.to_string()),
                )
            })
            .collect());
    }
    let Some(path) = &args.plan else {
        anyhow::bail!(
            "name a plan (its source and target clouds are read) or one or more --cloud NAME"
        );
    };
    let loaded = plan::load(path, None);
    if loaded.has_errors() {
        for report in loaded.reports() {
            eprintln!("{:?}", miette::Report::new(report));
        }
        anyhow::bail!(
            "{} is not a valid plan (see `s2d validate`)",
            path.display()
        );
    }
    let plan = loaded.plan.context("the plan could not be read")?;
    let mut out = Vec::new();
    for (side, cloud_ref) in [("source", &plan.source), ("target", &plan.target)] {
        out.push((
            crate::workflow::clouds::label(side, cloud_ref),
            crate::workflow::clouds::config(side, cloud_ref, env).map_err(|e| e.to_string()),
        ));
    }
    Ok(out)
}

/// The plan's `[state] location` (a relative path beside the plan), else `s2d.state.json`
/// beside it; a plan that does not read falls back to the default (its errors are reported
/// when its clouds are read).
fn plan_state(plan_path: &std::path::Path) -> crate::state::Location {
    let named = plan::load(plan_path, None)
        .plan
        .and_then(|p| p.state)
        .and_then(|text| text.parse::<crate::state::Location>().ok());
    match named {
        Some(crate::state::Location::File(path)) if path.is_relative() => {
            crate::state::Location::File(crate::workflow::folder_of(plan_path).join(path))
        }
        Some(location) => location,
        None => crate::state::Location::File(crate::state::default_path(plan_path)),
    }
}

/// The ids of the servers the state says s2d made or adopted.
fn managed_ids(args: &UsageArgs) -> anyhow::Result<BTreeSet<String>> {
    let path = match (&args.state, &args.plan) {
        (Some(state), _) => state.clone(),
        (None, Some(plan)) => plan_state(plan),
        (None, None) => crate::state::Location::File("s2d.state.json".into()),
    };
    let Some(state) = super::state::read(&path)? else {
        if args.managed {
            anyhow::bail!("--managed needs the state, and there is none at {}", path);
        }
        return Ok(BTreeSet::new());
    };
    Ok(state.server_ids())
}

pub fn run(args: &UsageArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let local = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    let period = Period::parse(args.start.as_deref(), args.end.as_deref(), local)?;
    let rates = args.rates.as_deref().map(Rates::load).transpose()?;
    let env = ConfigEnv::from_process();
    let clouds = clouds(args, &env)?;
    let managed = managed_ids(args)?;

    let runtime = super::runtime()?;
    let request = collect::Request {
        all_projects: args.all_projects,
        managed,
        managed_only: args.managed,
        rates: rates.as_ref(),
    };
    let (report, all_failed) = runtime.block_on(collect::collect(clouds, &period, &request));

    for problem in &report.problems {
        eprintln!(
            "warning: {}: cannot read usage: {}",
            problem.cloud, problem.message
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if args.csv {
        print!("{}", report.to_csv()?);
    } else {
        print!("{}", render_table(&report, ui, args.all_projects));
    }
    // A refused cloud is a warning, unless --strict or no cloud answered at all.
    let failed = !report.problems.is_empty() && (args.strict || all_failed);
    Ok(if failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

fn round(value: f64, places: usize) -> String {
    format!("{value:.places$}")
}

fn render_table(report: &Report, _ui: &Ui, all_projects: bool) -> String {
    let mut out = format!("usage from {} to {}\n", report.start, report.end);
    let with_cost = report.currency.is_some();
    let rows: Vec<[String; 11]> = report
        .instances
        .iter()
        .map(|r| {
            let u = &r.usage;
            [
                if all_projects {
                    // The project id's first 8 characters tell projects apart in a table.
                    format!(
                        "{}/{}",
                        u.cloud,
                        u.project.chars().take(8).collect::<String>()
                    )
                } else {
                    u.cloud.clone()
                },
                format!("{}{}", u.name, if u.managed { " *" } else { "" }),
                u.state.clone(),
                r.uptime.clone(),
                u.vcpus.to_string(),
                format!("{} MB", u.memory_mb),
                format!("{} GB", u.local_gb),
                round(u.hours, 1),
                round(r.cpu_hours, 1),
                round(r.ram_gb_hours, 1),
                if with_cost {
                    r.cost.map(|c| round(c, 2)).unwrap_or_default()
                } else {
                    round(r.disk_gb_hours, 1)
                },
            ]
        })
        .collect();
    let last = if with_cost { "COST" } else { "DISK GB-H" };
    out.push_str(&table(
        [
            "CLOUD", "NAME", "STATE", "UP", "VCPUS", "RAM", "DISK", "HOURS", "CPU-H", "RAM GB-H",
            last,
        ],
        &rows,
    ));
    for (cloud, totals) in &report.per_cloud {
        out.push_str(&format!(
            "total {cloud}: {} instance{}, {} h, {} CPU-h, {} RAM GB-h, {} disk GB-h{}\n",
            totals.instances,
            if totals.instances == 1 { "" } else { "s" },
            round(totals.hours, 1),
            round(totals.cpu_hours, 1),
            round(totals.ram_gb_hours, 1),
            round(totals.disk_gb_hours, 1),
            totals
                .cost
                .map(|c| format!(
                    ", {} {}",
                    round(c, 2),
                    report.currency.clone().unwrap_or_default()
                ))
                .unwrap_or_default(),
        ));
    }
    let t = &report.total;
    out.push_str(&format!(
        "total: {} instance{}, {} CPU-h{}\n",
        t.instances,
        if t.instances == 1 { "" } else { "s" },
        round(t.cpu_hours, 1),
        t.cost
            .map(|c| format!(
                ", {} {}",
                round(c, 2),
                report.currency.clone().unwrap_or_default()
            ))
            .unwrap_or_default(),
    ));
    if report.instances.iter().any(|r| r.usage.managed) {
        out.push_str("* migrated by s2d (in the state file)\n");
    }
    out
}
