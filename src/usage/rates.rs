//! Prices for the cost column: a small TOML file.
//!
//! ```toml
//! currency = "EUR"
//! vcpu_hour = 0.021      # per vCPU-hour
//! ram_gb_hour = 0.004    # per GB of RAM per hour
//! disk_gb_hour = 0.0001  # per GB of disk per hour
//! ```

use serde::Deserialize;

use super::InstanceUsage;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub currency: String,
    #[serde(default)]
    pub vcpu_hour: f64,
    #[serde(default)]
    pub ram_gb_hour: f64,
    #[serde(default)]
    pub disk_gb_hour: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum RatesError {
    #[error("reading {file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

impl Rates {
    /// Parse a rates file's text; `file` names it in errors (with line and column from toml).
    pub fn parse(text: &str, file: &str) -> Result<Rates, RatesError> {
        let rates: Rates = toml::from_str(text).map_err(|e| RatesError::Invalid {
            file: file.into(),
            message: e.to_string(),
        })?;
        for (name, value) in [
            ("vcpu_hour", rates.vcpu_hour),
            ("ram_gb_hour", rates.ram_gb_hour),
            ("disk_gb_hour", rates.disk_gb_hour),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(RatesError::Invalid {
                    file: file.into(),
                    message: format!("`{name}` must be a price of zero or more, not {value}"),
                });
            }
        }
        Ok(rates)
    }

    pub fn load(path: &std::path::Path) -> Result<Rates, RatesError> {
        let file = path.display().to_string();
        let text =
            crate::files::read_text(path, crate::files::MAX_RATES_BYTES).map_err(|source| {
                RatesError::Read {
                    file: file.clone(),
                    source,
                }
            })?;
        Rates::parse(&text, &file)
    }

    /// What one instance's usage costs.
    pub fn cost(&self, row: &InstanceUsage) -> f64 {
        row.cpu_hours() * self.vcpu_hour
            + row.ram_gb_hours() * self.ram_gb_hour
            + row.disk_gb_hours() * self.disk_gb_hour
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_negative_prices_are_refused() {
        let err = Rates::parse("currency = \"EUR\"\nvcpu_hours = 1.0\n", "r.toml")
            .expect_err("unknown key");
        assert!(err.to_string().contains("vcpu_hours"), "{err}");
        let err =
            Rates::parse("currency = \"EUR\"\nvcpu_hour = -1.0\n", "r.toml").expect_err("negative");
        assert!(err.to_string().contains("zero or more"), "{err}");
        let err = Rates::parse("vcpu_hour = 1.0\n", "r.toml").expect_err("no currency");
        assert!(err.to_string().contains("currency"), "{err}");
    }
}
