//! The rules both syntaxes share: allowed values, and "did you mean" hints for misspellings.

pub const DISK_FORMATS: &[&str] = &[
    "raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso", "ami", "aki", "ari", "ploop",
];
pub const VISIBILITIES: &[&str] = &["private", "shared", "community", "public"];
pub const INTERFACES: &[&str] = &["public", "internal", "admin"];
pub const TRANSFER_MODES: &[&str] = &["stream", "spool"];

/// The closest of `candidates` to a misspelt `word`, if any is close.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

/// "allowed: a, b, c" for an enum-valued key.
pub fn allowed(values: &[&str]) -> String {
    format!("allowed values: {}", values.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_get_a_hint() {
        assert_eq!(
            did_you_mean("diskformat", &["disk_format", "visibility"]).as_deref(),
            Some("did you mean `disk_format`?")
        );
        assert_eq!(did_you_mean("zzz", &["disk_format", "visibility"]), None);
    }
}
