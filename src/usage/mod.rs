//! Instance usage for billing: what the migrated software consumed, per instance, per cloud and
//! overall, for a period.
//!
//! Owns the report model ([`Report`], [`InstanceUsage`]), the arithmetic (hours, CPU hours,
//! GB-hours, cost from [`Rates`]), the period ([`Period`], ISO 8601 dates, local or UTC), the
//! human form of an up-time (`3d 4h 12m`) and the machine forms (JSON, CSV). [`collect`] reads
//! Nova's `os-simple-tenant-usage` through `cloud` (no HTTP here); `cli` draws the table and
//! `serve` answers `/v1/usage` with the same report.

pub mod collect;
mod period;
mod rates;

use std::collections::BTreeMap;

use serde::Serialize;

pub use period::{Period, PeriodError, parse_instant};
pub use rates::{Rates, RatesError};

/// One instance's usage in the period, as a cloud reported it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceUsage {
    /// The cloud's name (clouds.yaml entry or plan side).
    pub cloud: String,
    /// The project (tenant) id the instance belongs to.
    pub project: String,
    pub name: String,
    pub id: String,
    /// Nova's state: active, stopped, terminated, ...
    pub state: String,
    /// RFC 3339.
    pub started_at: Option<String>,
    /// RFC 3339; `None` while it runs.
    pub ended_at: Option<String>,
    /// Seconds up, as Nova's `uptime` (or derived from hours when the cloud gives none).
    pub uptime_seconds: u64,
    pub flavor: Option<String>,
    pub vcpus: u64,
    pub memory_mb: u64,
    pub local_gb: u64,
    /// Hours in the period.
    pub hours: f64,
    /// Whether the state file says s2d migrated it.
    pub managed: bool,
}

impl InstanceUsage {
    pub fn cpu_hours(&self) -> f64 {
        self.vcpus as f64 * self.hours
    }

    pub fn ram_gb_hours(&self) -> f64 {
        self.memory_mb as f64 / 1024.0 * self.hours
    }

    pub fn disk_gb_hours(&self) -> f64 {
        self.local_gb as f64 * self.hours
    }
}

/// Sums over a set of instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub instances: usize,
    pub hours: f64,
    pub cpu_hours: f64,
    pub ram_gb_hours: f64,
    pub disk_gb_hours: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

impl Totals {
    fn add(&mut self, row: &InstanceUsage, rates: Option<&Rates>) {
        self.instances += 1;
        self.hours += row.hours;
        self.cpu_hours += row.cpu_hours();
        self.ram_gb_hours += row.ram_gb_hours();
        self.disk_gb_hours += row.disk_gb_hours();
        if let Some(rates) = rates {
            *self.cost.get_or_insert(0.0) += rates.cost(row);
        }
    }
}

/// A cloud whose figures could not be read (e.g. its policy refuses the call).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudProblem {
    pub cloud: String,
    pub message: String,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub start: String,
    pub end: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub instances: Vec<ReportRow>,
    pub per_cloud: BTreeMap<String, Totals>,
    pub total: Totals,
    pub problems: Vec<CloudProblem>,
}

/// One row with its derived figures (and cost with rates).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    #[serde(flatten)]
    pub usage: InstanceUsage,
    pub uptime: String,
    pub cpu_hours: f64,
    pub ram_gb_hours: f64,
    pub disk_gb_hours: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

impl Report {
    /// Build the report: derived figures per row, totals per cloud and overall. With
    /// `managed_only`, rows s2d did not migrate are left out (and out of the totals).
    pub fn build(
        period: &Period,
        rows: Vec<InstanceUsage>,
        problems: Vec<CloudProblem>,
        rates: Option<&Rates>,
        managed_only: bool,
    ) -> Report {
        let mut per_cloud: BTreeMap<String, Totals> = BTreeMap::new();
        let mut total = Totals::default();
        let mut instances: Vec<ReportRow> = rows
            .into_iter()
            .filter(|row| !managed_only || row.managed)
            .map(|usage| {
                per_cloud
                    .entry(usage.cloud.clone())
                    .or_default()
                    .add(&usage, rates);
                total.add(&usage, rates);
                ReportRow {
                    uptime: human_duration(usage.uptime_seconds),
                    cpu_hours: usage.cpu_hours(),
                    ram_gb_hours: usage.ram_gb_hours(),
                    disk_gb_hours: usage.disk_gb_hours(),
                    cost: rates.map(|r| r.cost(&usage)),
                    usage,
                }
            })
            .collect();
        instances.sort_by(|a, b| {
            (&a.usage.cloud, &a.usage.name, &a.usage.id).cmp(&(
                &b.usage.cloud,
                &b.usage.name,
                &b.usage.id,
            ))
        });
        if rates.is_some() {
            total.cost.get_or_insert(0.0);
        }
        Report {
            format_version: 1,
            start: period.start_rfc3339(),
            end: period.end_rfc3339(),
            currency: rates.map(|r| r.currency.clone()),
            instances,
            per_cloud,
            total,
            problems,
        }
    }

    /// The rows as CSV (exact figures, one header line), for a billing spreadsheet.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        let mut header = vec![
            "cloud",
            "project",
            "name",
            "id",
            "state",
            "managed",
            "started_at",
            "ended_at",
            "uptime_seconds",
            "flavor",
            "vcpus",
            "memory_mb",
            "local_gb",
            "hours",
            "cpu_hours",
            "ram_gb_hours",
            "disk_gb_hours",
        ];
        if self.currency.is_some() {
            header.push("cost");
        }
        out.write_record(&header)?;
        for row in &self.instances {
            let u = &row.usage;
            let mut record = vec![
                u.cloud.clone(),
                u.project.clone(),
                u.name.clone(),
                u.id.clone(),
                u.state.clone(),
                u.managed.to_string(),
                u.started_at.clone().unwrap_or_default(),
                u.ended_at.clone().unwrap_or_default(),
                u.uptime_seconds.to_string(),
                u.flavor.clone().unwrap_or_default(),
                u.vcpus.to_string(),
                u.memory_mb.to_string(),
                u.local_gb.to_string(),
                u.hours.to_string(),
                row.cpu_hours.to_string(),
                row.ram_gb_hours.to_string(),
                row.disk_gb_hours.to_string(),
            ];
            if let Some(cost) = row.cost {
                record.push(cost.to_string());
            }
            out.write_record(&record)?;
        }
        let bytes = out.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// An up-time for people: `3d 4h 12m`, `4h 0m`, `12m`, `0m`.
pub fn human_duration(seconds: u64) -> String {
    let minutes = seconds / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h {minutes}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cloud: &str, name: &str, vcpus: u64, hours: f64, managed: bool) -> InstanceUsage {
        InstanceUsage {
            cloud: cloud.into(),
            project: "p1".into(),
            name: name.into(),
            id: format!("id-{name}"),
            state: "active".into(),
            started_at: Some("2026-11-01T00:00:00Z".into()),
            ended_at: None,
            uptime_seconds: (hours * 3600.0) as u64,
            flavor: Some("m1.small".into()),
            vcpus,
            memory_mb: 2048,
            local_gb: 20,
            hours,
            managed,
        }
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(0), "0m");
        assert_eq!(human_duration(59), "0m");
        assert_eq!(human_duration(12 * 60), "12m");
        assert_eq!(human_duration(4 * 3600), "4h 0m");
        assert_eq!(
            human_duration(3 * 86400 + 4 * 3600 + 12 * 60 + 5),
            "3d 4h 12m"
        );
    }

    #[test]
    fn totals_per_cloud_and_overall() {
        let period = Period::parse(
            Some("2026-11-01T00:00:00Z"),
            Some("2026-11-11T00:00:00Z"),
            time::UtcOffset::UTC,
        )
        .expect("period");
        let rows = vec![
            row("provider", "a", 2, 10.0, false),
            row("hospital", "b", 1, 5.0, true),
            row("hospital", "c", 4, 2.5, true),
        ];
        let report = Report::build(&period, rows, vec![], None, false);
        assert_eq!(report.total.instances, 3);
        assert_eq!(report.total.cpu_hours, 20.0 + 5.0 + 10.0);
        assert_eq!(report.per_cloud["hospital"].cpu_hours, 15.0);
        assert_eq!(report.per_cloud["hospital"].ram_gb_hours, 2.0 * 7.5);
        assert_eq!(report.per_cloud["provider"].disk_gb_hours, 200.0);
        // Sorted by cloud, then name.
        let names: Vec<_> = report
            .instances
            .iter()
            .map(|r| r.usage.name.as_str())
            .collect();
        assert_eq!(names, ["b", "c", "a"]);

        let managed = Report::build(
            &period,
            vec![
                row("provider", "a", 2, 10.0, false),
                row("hospital", "b", 1, 5.0, true),
            ],
            vec![],
            None,
            true,
        );
        assert_eq!(managed.instances.len(), 1);
        assert_eq!(managed.total.cpu_hours, 5.0);
    }

    #[test]
    fn rates_add_a_cost() {
        let period = Period::parse(Some("2026-11-01"), Some("2026-11-02"), time::UtcOffset::UTC)
            .expect("period");
        let rates: Rates = Rates::parse(
            "currency = \"EUR\"\nvcpu_hour = 0.02\nram_gb_hour = 0.005\ndisk_gb_hour = 0.0001\n",
            "rates.toml",
        )
        .expect("rates");
        let report = Report::build(
            &period,
            vec![row("hospital", "b", 2, 10.0, true)],
            vec![],
            Some(&rates),
            false,
        );
        let expected = 2.0 * 10.0 * 0.02 + 2.0 * 10.0 * 0.005 + 20.0 * 10.0 * 0.0001;
        assert!((report.total.cost.expect("cost") - expected).abs() < 1e-12);
        assert_eq!(report.currency.as_deref(), Some("EUR"));
        let csv = report.to_csv().expect("csv");
        let mut lines = csv.lines();
        assert!(lines.next().expect("header").ends_with(",cost"));
        assert!(
            lines
                .next()
                .expect("row")
                .starts_with("hospital,p1,b,id-b,active,true,")
        );
    }

    #[test]
    fn json_shape_is_flat_per_row() {
        let period = Period::parse(Some("2026-11-01"), Some("2026-11-02"), time::UtcOffset::UTC)
            .expect("period");
        let report = Report::build(
            &period,
            vec![row("hospital", "b", 2, 1.5, true)],
            vec![],
            None,
            false,
        );
        let json = serde_json::to_value(&report).expect("json");
        let first = &json["instances"][0];
        for key in [
            "cloud",
            "name",
            "id",
            "state",
            "hours",
            "vcpus",
            "cpu_hours",
            "uptime",
            "managed",
        ] {
            assert!(first.get(key).is_some(), "{key} missing: {first}");
        }
        assert_eq!(json["start"], "2026-11-01T00:00:00Z");
        assert_eq!(json["total"]["cpu_hours"], 3.0);
    }
}
