//! The HTTP client of one cloud: connect timeout, user agent, TLS (the CA bundle, a client
//! certificate, `verify: false` with a warning) and redirects followed only within the same
//! origin, so the token never goes to another host.

use super::config::CloudConfig;
use super::error::{Error, Result};

pub(crate) fn build_client(config: &CloudConfig) -> Result<reqwest::Client> {
    let cfg_err = |m: String| Error::Config {
        cloud: Some(config.name.clone()),
        message: format!("cloud {:?}: {m}", config.name),
    };
    let mut b = reqwest::Client::builder()
        .connect_timeout(config.timeouts.connect)
        .user_agent(concat!("s2d/", env!("CARGO_PKG_VERSION")))
        .redirect(same_origin_redirects());
    let tls = &config.tls;
    if let Some(ca) = &tls.cacert {
        let pem = crate::files::read(ca, crate::files::MAX_PEM_BYTES)
            .map_err(|e| cfg_err(format!("cacert {}: {e}", ca.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| cfg_err(format!("cacert {}: {e}", ca.display())))?;
        if certs.is_empty() {
            return Err(cfg_err(format!(
                "cacert {}: no PEM certificate in it",
                ca.display()
            )));
        }
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    if let Some(cert) = &tls.cert {
        let mut pem = crate::files::read(cert, crate::files::MAX_PEM_BYTES)
            .map_err(|e| cfg_err(format!("cert {}: {e}", cert.display())))?;
        if let Some(key) = &tls.key {
            pem.push(b'\n');
            pem.extend(
                crate::files::read(key, crate::files::MAX_PEM_BYTES)
                    .map_err(|e| cfg_err(format!("key {}: {e}", key.display())))?,
            );
        }
        let id = reqwest::Identity::from_pem(&pem)
            .map_err(|e| cfg_err(format!("client certificate {}: {e}", cert.display())))?;
        b = b.identity(id);
    }
    if !tls.verify {
        tracing::warn!(
            cloud = %config.name,
            "TLS certificate verification is OFF for cloud {} (verify: false): anyone on the path can read its token",
            config.name
        );
        b = b.danger_accept_invalid_certs(true);
    }
    b.build()
        .map_err(|e| cfg_err(format!("building the HTTP client: {e}")))
}

/// Follow redirects only to the same scheme, host and port (at most 5): the token travels
/// in `X-Auth-Token`, which reqwest does not strip on a redirect to another host.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt.previous().first().is_some_and(|first| {
            first.scheme() == attempt.url().scheme()
                && first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
        });
        if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Secret;

    #[test]
    fn a_missing_cacert_is_a_config_error() {
        let mut cfg = crate::cloud::config::from_inline(
            "hospital",
            &crate::cloud::config::InlineAuth {
                auth_url: "https://k/v3".into(),
                username: Some("u".into()),
                password: Some(Secret::new("p")),
                cacert: Some("/nonexistent/ca.pem".into()),
                ..Default::default()
            },
            &crate::cloud::config::ConfigEnv::default(),
        )
        .unwrap();
        let e = build_client(&cfg).unwrap_err().to_string();
        assert!(
            e.contains("cloud \"hospital\": cacert /nonexistent/ca.pem"),
            "{e}"
        );
        cfg.tls.cacert = None;
        cfg.tls.verify = false;
        assert!(build_client(&cfg).is_ok());
    }
}
