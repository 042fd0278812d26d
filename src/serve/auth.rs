//! The API token: made at the first start (256 random bits, hex), kept 0600 in the data
//! directory, and required as `Authorization: Bearer <token>` on every `/v1` call. A wrong or
//! missing token gets a bare 401: nothing about why.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::store::{self, StoreError};

/// The token file's name in the data directory.
pub const TOKEN_FILE: &str = "token";

/// The service's token.
#[derive(Clone)]
pub struct Token(Arc<String>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

impl Token {
    /// Read the token from the data directory, or make one. The flag says it is new (and is
    /// to be shown once).
    pub fn load_or_create(data_dir: &Path) -> Result<(Token, bool), StoreError> {
        let path = data_dir.join(TOKEN_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => {
                return Ok((Token(Arc::new(text.trim().to_string())), false));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| StoreError::Io {
            action: "drawing random bytes for",
            path: path.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let token = hex::encode(bytes);
        store::write_private(&path, format!("{token}\n").as_bytes())?;
        Ok((Token(Arc::new(token)), true))
    }

    /// The token itself, to print once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether a presented token is this one, in time independent of where they differ.
    fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Middleware: pass only requests with the right bearer token.
pub async fn require(State(token): State<Token>, request: Request, next: Next) -> Response {
    let ok = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .is_some_and(|t| token.matches(t.trim()));
    if ok {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().expect("dir");
        let (first, new) = Token::load_or_create(dir.path()).expect("made");
        assert!(new);
        assert_eq!(first.expose().len(), 64);
        let (again, new) = Token::load_or_create(dir.path()).expect("read");
        assert!(!new);
        assert_eq!(first.expose(), again.expose());
        assert!(first.matches(again.expose()));
        assert!(!first.matches("nope"));
        assert_eq!(format!("{first:?}"), "Token(***)");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
