//! Reading the report's rows from clouds: Nova's `os-simple-tenant-usage` through
//! [`crate::cloud`], every cloud at once, a refusal kept as that cloud's [`CloudProblem`].
//! Shared by `s2d usage` and `s2d serve`'s `/v1/usage`.

use std::collections::BTreeSet;

use crate::cloud::{self, CloudConfig};

use super::{CloudProblem, InstanceUsage, Period, Rates, Report};

/// What to read and how to shape the report.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// Every project's instances (an admin call on most clouds), not only the token's own.
    pub all_projects: bool,
    /// Ids of the servers s2d made (from a state file): their rows are marked `managed`.
    pub managed: BTreeSet<String>,
    /// Keep only the managed rows.
    pub managed_only: bool,
    /// Prices for the cost column.
    pub rates: Option<&'a Rates>,
}

/// Read every cloud (`name`, its configuration or why there is none) concurrently and build
/// the report. The flag is true when no cloud answered at all.
pub async fn collect(
    clouds: Vec<(String, Result<CloudConfig, String>)>,
    period: &Period,
    request: &Request<'_>,
) -> (Report, bool) {
    let asked = clouds.len();
    let reads = clouds.into_iter().map(|(name, config)| async move {
        let result = match config {
            Ok(config) => read_cloud(&name, config, period, request.all_projects).await,
            Err(e) => Err(e),
        };
        (name, result)
    });
    let results = futures_util::future::join_all(reads).await;
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    for (name, result) in results {
        match result {
            Ok(mut found) => {
                for row in &mut found {
                    row.managed = request.managed.contains(&row.id);
                }
                rows.extend(found);
            }
            Err(message) => problems.push(CloudProblem {
                cloud: name,
                message,
            }),
        }
    }
    let all_failed = asked > 0 && problems.len() == asked;
    let report = Report::build(period, rows, problems, request.rates, request.managed_only);
    (report, all_failed)
}

/// One cloud's rows for the period (the token's project, or every project).
pub async fn read_cloud(
    name: &str,
    config: CloudConfig,
    period: &Period,
    all_projects: bool,
) -> Result<Vec<InstanceUsage>, String> {
    let cloud = cloud::Cloud::connect(config)
        .await
        .map_err(|e| e.to_string())?;
    let usages = if all_projects {
        // Every project's usage: an admin call on most clouds (a refusal is this cloud's
        // message; the others still print).
        cloud
            .compute
            .usage_all(period.start, period.end)
            .await
            .map_err(|e| e.to_string())?
    } else {
        let project = cloud
            .session
            .project_id()
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the token is not scoped to a project".to_string())?;
        cloud
            .compute
            .usage_project(&project, period.start, period.end)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .collect()
    };
    Ok(usages
        .into_iter()
        .flat_map(|tenant| {
            let project = tenant.tenant_id.clone();
            tenant
                .server_usages
                .into_iter()
                .map(move |s| (project.clone(), s))
        })
        .map(|(project, s)| InstanceUsage {
            cloud: name.to_string(),
            project: s.tenant_id.clone().unwrap_or(project),
            id: s
                .instance_id
                .map(|i| i.as_str().to_string())
                .unwrap_or_default(),
            name: s.name,
            state: s.state.unwrap_or_default(),
            started_at: s.started_at.as_deref().map(rfc3339),
            ended_at: s.ended_at.as_deref().map(rfc3339),
            uptime_seconds: if s.uptime > 0 {
                s.uptime
            } else {
                (s.hours * 3600.0) as u64
            },
            flavor: s.flavor,
            vcpus: u64::from(s.vcpus),
            memory_mb: s.memory_mb,
            local_gb: s.local_gb,
            hours: s.hours,
            managed: false,
        })
        .collect())
}

/// Nova's `started_at`/`ended_at` are Python's naive ISO form in UTC
/// (`2026-11-24T02:17:34.172747`): the report promises RFC 3339, so add the `Z` (a value that
/// does not parse is kept as the cloud sent it).
fn rfc3339(nova: &str) -> String {
    cloud::auth::parse_time(nova)
        .and_then(|t| {
            t.to_offset(time::UtcOffset::UTC)
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| nova.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nova_times_become_rfc3339() {
        assert_eq!(
            rfc3339("2026-11-24T02:17:34.172747"),
            "2026-11-24T02:17:34.172747Z"
        );
        assert_eq!(rfc3339("not a time"), "not a time");
    }
}
