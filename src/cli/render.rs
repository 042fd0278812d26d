//! Rendering for people: pure functions from the engine's data to text (the diff, the
//! end-of-run report, the overview table), the one table renderer and the one byte formatter
//! of the CLI. The human diff is rendered from the same [`PlanOutcome`] that `--json` prints.
//! Nothing here prints; colour is decided by the caller ([`Style`]).

use std::fmt::Write;

use owo_colors::OwoColorize;
use serde_json::Value;

use crate::engine::{
    Action, ApplyReport, Change, NodeStatus, Operation, PlanOutcome, ServerOverview,
};
use crate::graph::FleetMatch;

/// How to render.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours (on a terminal).
    pub color: bool,
}

impl Style {
    fn paint(&self, action: &Action, text: &str) -> String {
        let tone = match action {
            Action::Create => Tone::Add,
            Action::Delete { .. } => Tone::Remove,
            Action::Update { .. } | Action::Adopt { .. } => Tone::Change,
            Action::Replace { .. } => Tone::Replace,
            Action::NoOp { .. } | Action::Forget { .. } => Tone::Quiet,
        };
        self.tone(tone, text)
    }

    fn tone(&self, tone: Tone, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        match tone {
            Tone::Add => text.green().to_string(),
            Tone::Remove => text.red().to_string(),
            Tone::Change => text.yellow().to_string(),
            Tone::Replace => text.magenta().to_string(),
            Tone::Quiet => text.dimmed().to_string(),
        }
    }
}

/// The colour of a line, by what it says happens.
#[derive(Debug, Clone, Copy)]
enum Tone {
    Add,
    Remove,
    Change,
    Replace,
    Quiet,
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

/// The Terraform-like diff: one block per resource that changes, then the `Plan:` line.
pub fn render_plan(plan: &PlanOutcome, style: Style) -> String {
    let mut out = String::new();
    for fleet in &plan.selected {
        render_fleet(&mut out, fleet);
    }
    let changing: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| !c.action.is_no_op())
        .collect();
    if changing.is_empty() {
        out.push_str("No changes. The target matches the plan.\n");
        return out;
    }
    for change in &changing {
        render_change(&mut out, change, style);
    }
    render_boot(&mut out, plan, &changing);
    let s = plan.summary;
    let verb = match plan.operation {
        Operation::Apply => "Plan",
        Operation::Destroy => "Destroy plan",
    };
    let _ = write!(
        out,
        "{verb}: {} to add, {} to change, {} to destroy",
        s.add, s.change, s.destroy
    );
    if s.adopt > 0 {
        let _ = write!(out, ", {} to adopt", s.adopt);
    }
    out.push_str(".\n");
    out
}

/// What the servers being made take along from their sources and what they leave behind:
/// one line per server (a count beyond ten), and each thing left behind once, with why and
/// which servers.
fn render_boot(out: &mut String, plan: &PlanOutcome, changing: &[&Change]) {
    const SHOWN: usize = 10;
    let made: Vec<&crate::graph::BootReport> = plan
        .boot
        .iter()
        .filter(|r| {
            changing.iter().any(|c| {
                matches!(c.action, Action::Create | Action::Replace { .. })
                    && c.address
                        == (crate::graph::Address::Server {
                            name: r.server.clone(),
                        })
            })
        })
        .collect();
    if made.is_empty() {
        return;
    }
    let carrying: Vec<_> = made.iter().filter(|r| !r.carried.is_empty()).collect();
    for r in carrying.iter().take(SHOWN) {
        let _ = writeln!(
            out,
            "server.{} takes along: {}.",
            r.server,
            r.carried.join("; ")
        );
    }
    if carrying.len() > SHOWN {
        let _ = writeln!(
            out,
            "... and {} more servers take along their own.",
            carrying.len() - SHOWN
        );
    }
    let mut left: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for r in &made {
        for l in &r.left {
            match left
                .iter_mut()
                .find(|(what, why, _)| *what == l.what && *why == l.why)
            {
                Some((_, _, servers)) => servers.push(&r.server),
                None => left.push((&l.what, &l.why, vec![&r.server])),
            }
        }
    }
    for (what, why, servers) in &left {
        let names: Vec<&str> = servers.iter().take(5).copied().collect();
        let mut who = names.join(", ");
        if servers.len() > 5 {
            let _ = write!(who, " and {} more", servers.len() - 5);
        }
        let _ = writeln!(out, "Left behind: {what} of {who}: {why}.");
    }
    out.push('\n');
}

/// What a fleet matched: the count and the names (the first ten, then how many more).
fn render_fleet(out: &mut String, fleet: &FleetMatch) {
    const SHOWN: usize = 10;
    let n = fleet.servers.len();
    let noun = if n == 1 { "server" } else { "servers" };
    let _ = write!(out, "Fleet `{}` selects {n} source {noun}", fleet.selection);
    if n == 0 {
        out.push_str(" (nothing matches: check the pattern, tags and metadata)\n\n");
        return;
    }
    let names: Vec<&str> = fleet
        .servers
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect();
    let _ = write!(out, ": {}", names.join(", "));
    if n > SHOWN {
        let _ = write!(out, ", and {} more", n - SHOWN);
    }
    out.push_str(".\n\n");
}

fn render_change(out: &mut String, change: &Change, style: Style) {
    let glyph = change.action.glyph();
    let headline = match &change.action {
        Action::Create => "will be created".to_string(),
        Action::Adopt { .. } => "exists and will be adopted (used, not duplicated)".to_string(),
        Action::Update { .. } => "will be updated in place".to_string(),
        Action::Replace { reason, .. } => format!("must be replaced: {reason}"),
        Action::Delete { .. } => "will be destroyed".to_string(),
        Action::Forget { .. } => {
            "will be forgotten (left in the cloud, dropped from the state)".into()
        }
        Action::NoOp { .. } => "is up to date".into(),
    };
    let mut head = format!("# {} {headline}", change.address);
    if let Some(reason) = &change.reason {
        let _ = write!(head, " ({reason})");
    }
    let _ = writeln!(out, "  {}", style.paint(&change.action, &head));
    let _ = writeln!(
        out,
        "  {} {} {{",
        style.paint(&change.action, glyph),
        change.address
    );
    let empty = serde_json::Map::new();
    match &change.action {
        Action::Update { changes, .. } => {
            for attr in changes {
                render_update(out, &attr.name, &attr.before, &attr.after, style);
            }
        }
        Action::Delete { .. } | Action::Forget { .. } => {
            for (key, value) in change.before.as_ref().unwrap_or(&empty) {
                let _ = writeln!(out, "      - {key} = {}", show(value));
            }
        }
        _ => {
            let after = change.after.as_ref().unwrap_or(&empty);
            let before = change.before.as_ref().unwrap_or(&empty);
            for (key, value) in after {
                match before.get(key) {
                    Some(old) if old != value && change.action != Action::Create => {
                        render_update(out, key, old, value, style)
                    }
                    _ => {
                        let _ = writeln!(out, "      {key} = {}", show(value));
                    }
                }
            }
            if let Some(id) = change.id() {
                let _ = writeln!(out, "      id = {id:?}");
            }
        }
    }
    out.push_str("    }\n\n");
}

fn render_update(out: &mut String, key: &str, before: &Value, after: &Value, style: Style) {
    let (old, new) = (show(before), show(after));
    let multiline = matches!((before, after), (Value::String(a), Value::String(b)) if a.contains('\n') || b.contains('\n'));
    if multiline {
        let _ = writeln!(out, "    ~ {key} = <<-EOT");
        let diff = similar::TextDiff::from_lines(
            before.as_str().unwrap_or_default(),
            after.as_str().unwrap_or_default(),
        );
        for line in diff.unified_diff().context_radius(3).to_string().lines() {
            let painted = match line.chars().next() {
                Some('+') => style.tone(Tone::Add, line),
                Some('-') => style.tone(Tone::Remove, line),
                _ => line.to_string(),
            };
            let _ = writeln!(out, "          {painted}");
        }
        let _ = writeln!(out, "      EOT");
    } else {
        let _ = writeln!(
            out,
            "    {} {key} = {old} -> {new}",
            style.tone(Tone::Change, "~")
        );
    }
}

/// The end-of-run summary: what succeeded, what failed (with the cloud's message), what was
/// skipped because of what.
pub fn render_report(report: &ApplyReport) -> String {
    let mut out = String::new();
    let done = report.count(|s| *s == NodeStatus::Done);
    let failed = report.count(|s| matches!(s, NodeStatus::Failed { .. }));
    let skipped = report.count(|s| matches!(s, NodeStatus::Skipped { .. }));
    let cancelled = report.count(|s| *s == NodeStatus::Cancelled);
    for node in &report.nodes {
        match &node.status {
            NodeStatus::Failed { message, diagnosis } => {
                let _ = writeln!(
                    out,
                    "failed: {}: {message} [{}]",
                    node.address, diagnosis.code
                );
                if let Some(help) = &diagnosis.help {
                    let _ = writeln!(out, "  help: {help}");
                }
                if let Some(id) = &diagnosis.request_id {
                    let _ = writeln!(out, "  request id: {id}");
                }
            }
            NodeStatus::Skipped { because } => {
                let _ = writeln!(out, "skipped: {} (because {because} failed)", node.address);
            }
            NodeStatus::Cancelled => {
                let _ = writeln!(out, "cancelled: {}", node.address);
            }
            NodeStatus::Done => {}
        }
    }
    if let Some(error) = &report.state_error {
        let _ = writeln!(out, "error: the state could not be written: {error}");
    }
    let _ = writeln!(
        out,
        "{done} succeeded, {failed} failed, {skipped} skipped, {cancelled} cancelled in {:.1}s.",
        report.total_ms as f64 / 1000.0
    );
    out
}

/// A byte count for people: `512 B`, `1.5 KiB`, `3.0 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The overview table after apply.
pub fn render_overview(servers: &[ServerOverview]) -> String {
    let header = [
        "SERVER",
        "ID",
        "STATUS",
        "FLAVOR",
        "IMAGE",
        "KEYPAIR",
        "SECURITY GROUP",
        "FIXED IP",
        "FLOATING IP",
        "CARRIED",
        "STEPS",
    ];
    let rows: Vec<[String; 11]> = servers
        .iter()
        .map(|s| {
            let steps = s
                .steps
                .iter()
                .map(|step| {
                    let secs = step.elapsed_ms as f64 / 1000.0;
                    match step.bytes {
                        // An image step: its transfer's size and average rate.
                        Some(bytes) => format!(
                            "{} {secs:.1}s ({}, {}/s)",
                            step.address.kind(),
                            human_bytes(bytes),
                            human_bytes((bytes as f64 / secs.max(0.001)) as u64)
                        ),
                        None => format!("{} {secs:.1}s", step.address.kind()),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            [
                s.address.name().to_string(),
                s.id.clone(),
                s.status.clone(),
                s.flavor.clone(),
                s.image.clone(),
                s.keypair.clone(),
                s.security_groups.join(","),
                s.fixed_ips.join(","),
                s.floating_ips.join(","),
                s.carried.join(", "),
                steps,
            ]
        })
        .collect();
    table(header, &rows)
}

/// A plain aligned table: a header row, then the rows, columns separated by two spaces.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < N {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let rows = [
            ["server.web".to_string(), "abc".to_string()],
            ["keypair.k".to_string(), "d".to_string()],
        ];
        assert_eq!(
            table(["ADDRESS", "ID"], &rows),
            "ADDRESS     ID\nserver.web  abc\nkeypair.k   d\n"
        );
    }
}
