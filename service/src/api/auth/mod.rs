//! Authentication (API keys and JWTs: HS256, RS256/ES256, JWKS; see [`jwt`]) and per-key/IP
//! rate limiting.
//!
//! Authentication is off unless `API_KEYS`, `API_KEYS_FILE`, `JWT_SECRET`, `JWT_PUBLIC_KEY_FILE` or
//! `JWT_JWKS_FILE` is set. When it is on,
//! every route under `/api/v1` needs credentials, except `GET /api/v1/health` and the signed
//! downloads under `/api/v1/files/` (their HMAC signature is the credential); `/health`, `/metrics`,
//! `/api/openapi.json` and `/api/docs` stay public. Credentials are sent as
//! `Authorization: Bearer <api key or JWT>` or `x-api-key: <api key>`.
//!
//! The authenticated subject is the [`Caller`]: handlers give created projects (and so jobs) the
//! caller's userId and answer 404 for another user's project or job; the admin role sees all.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::config::{ApiKeyEntry, Settings};
use crate::policy::quota::Subject;

pub mod jwt;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Authentication is off: everything is visible, projects keep the userId they carry.
    Open,
    /// An authenticated user.
    User { user_id: String, admin: bool },
}

impl Caller {
    /// Whether the caller may see a project or job of `owner`.
    pub fn can_access(&self, owner: &str) -> bool {
        match self {
            Caller::Open => true,
            Caller::User { user_id, admin } => *admin || user_id == owner,
        }
    }

    /// The user whose data the caller is limited to (`None`: everything).
    pub fn restricted_to(&self) -> Option<&str> {
        match self {
            Caller::User {
                user_id,
                admin: false,
            } => Some(user_id),
            _ => None,
        }
    }

    /// Whose quota an action on `owner`'s project counts against (an admin's counts against none).
    pub fn quota_subject<'a>(&self, owner: &'a str) -> Subject<'a> {
        Subject {
            user_id: owner,
            admin: matches!(self, Caller::User { admin: true, .. }),
        }
    }

    /// The authenticated userId, admins included.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Caller::User { user_id, .. } => Some(user_id),
            Caller::Open => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("API_KEYS_FILE {path}: {source}")]
    ReadKeys {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("API_KEYS_FILE {path} line {line}: {message}")]
    BadKey {
        path: String,
        line: usize,
        message: String,
    },
    #[error(transparent)]
    Jwt(#[from] jwt::JwtConfigError),
}

/// The authentication settings in usable form.
pub struct Auth {
    keys: HashMap<[u8; 32], ApiKeyEntry>,
    jwt: Option<jwt::JwtVerifier>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

impl Auth {
    pub fn from_settings(settings: &Settings) -> Result<Auth, AuthConfigError> {
        let mut keys: HashMap<[u8; 32], ApiKeyEntry> = settings
            .api_keys
            .iter()
            .map(|e| (e.sha256, e.clone()))
            .collect();
        if let Some(path) = &settings.api_keys_file {
            for e in read_keys_file(path)? {
                keys.insert(e.sha256, e);
            }
        }
        let jwt = jwt::JwtVerifier::from_settings(settings)?;
        Ok(Auth { keys, jwt })
    }

    pub fn enabled(&self) -> bool {
        !self.keys.is_empty() || self.jwt.is_some()
    }

    /// Checks the request's credentials.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, &'static str> {
        let token = credential(headers)
            .ok_or("missing credentials (Authorization: Bearer … or x-api-key)")?;
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(e) = self.keys.get(&hash) {
            return Ok(Caller::User {
                user_id: e.user_id.clone(),
                admin: e.admin,
            });
        }
        if let Some(jwt) = &self.jwt {
            if token.matches('.').count() == 2 {
                let c: Claims = jwt.verify(token).map_err(|e| {
                    tracing::debug!(error = %e, "token refused");
                    "invalid or expired token"
                })?;
                if c.sub.trim().is_empty() {
                    return Err("invalid or expired token");
                }
                let admin =
                    c.role.as_deref() == Some("admin") || c.roles.iter().any(|r| r == "admin");
                return Ok(Caller::User {
                    user_id: c.sub,
                    admin,
                });
            }
        }
        Err("invalid credentials")
    }
}

fn read_keys_file(path: &Path) -> Result<Vec<ApiKeyEntry>, AuthConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| AuthConfigError::ReadKeys {
        path: shown.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(
            ApiKeyEntry::parse(line).map_err(|message| AuthConfigError::BadKey {
                path: shown.clone(),
                line: i + 1,
                message,
            })?,
        );
    }
    Ok(out)
}

/// The bearer token or `x-api-key` value.
fn credential(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, token) = v.trim().split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            return Some(token.trim());
        }
        return None;
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Routes that never need credentials.
fn is_public(path: &str) -> bool {
    !path.starts_with("/api/v1/")
        || path == "/api/v1/health"
        || path == "/api/v1/schema/project.json"
        || path.starts_with("/api/v1/files/")
}

/// Middleware: sets the [`Caller`] of every request; 401 without valid credentials when
/// authentication is on.
pub async fn authenticate(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    if !auth.enabled() {
        req.extensions_mut().insert(Caller::Open);
        return next.run(req).await;
    }
    match auth.authenticate(req.headers()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(_) if is_public(req.uri().path()) => {
            req.extensions_mut().insert(Caller::Open);
            next.run(req).await
        }
        Err(why) => {
            let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, why).into_response();
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            resp
        }
    }
}

/// Per-key/IP rate limiter.
pub struct Limiter {
    limiter: DefaultKeyedRateLimiter<String>,
    /// `TRUST_PROXY_HEADERS`: proxies whose `X-Forwarded-For` entries are believed.
    trusted_proxies: u32,
}

impl Limiter {
    /// `None` when `RATE_LIMIT_PER_SECOND` is unset.
    pub fn from_settings(settings: &Settings) -> Option<Arc<Limiter>> {
        let rate = settings.rate_limit_per_second?;
        let burst = settings
            .rate_limit_burst
            .unwrap_or_else(|| rate.ceil().clamp(1.0, u32::MAX as f64) as u32);
        let period = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?);
        let limiter = Arc::new(Limiter {
            limiter: RateLimiter::keyed(quota),
            trusted_proxies: settings.trust_proxy_headers,
        });
        // Forget idle keys now and then so the map does not grow without bound.
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(l) = weak.upgrade() else { break };
                l.limiter.retain_recent();
                l.limiter.shrink_to_fit();
            }
        });
        Some(limiter)
    }

    /// `Err(seconds to wait)` when `key` is over its rate.
    pub fn check(&self, key: &String) -> Result<(), u64> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

/// The rate-limit key of a request: its credential (hashed) when it has one, else the client IP.
fn rate_key(req: &Request, trusted_proxies: u32) -> String {
    if let Some(token) = credential(req.headers()) {
        let h = Sha256::digest(token.as_bytes());
        return format!("key:{}", hex::encode(&h[..16]));
    }
    let socket = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(a)| a.ip());
    match client_ip(req.headers(), socket, trusted_proxies) {
        Some(ip) => format!("ip:{ip}"),
        None => "ip:unknown".into(),
    }
}

/// The client's IP behind `trusted_proxies` proxies. Each proxy appends the address it received
/// the request from to `X-Forwarded-For`, so the client is the entry `trusted_proxies` from the
/// right; entries left of it were written by the client and can be forged. With fewer entries than
/// proxies (a request that skipped a proxy) the left-most entry is used; a malformed entry, or no
/// header, falls back to the socket address.
pub fn client_ip(
    headers: &HeaderMap,
    socket: Option<std::net::IpAddr>,
    trusted_proxies: u32,
) -> Option<std::net::IpAddr> {
    if trusted_proxies == 0 {
        return socket;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let Some(i) = entries.len().checked_sub(1) else {
        return socket;
    };
    let pick = entries[i.saturating_sub(trusted_proxies as usize - 1)];
    pick.parse().ok().or(socket)
}

/// Middleware: 429 with `Retry-After` when the key/IP is over `RATE_LIMIT_PER_SECOND` /
/// `RATE_LIMIT_BURST`. `/health`, `/api/v1/health` and `/metrics` are not limited (probes and
/// scrapers).
pub async fn rate_limit(
    State(limiter): State<Option<Arc<Limiter>>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(limiter) = limiter else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if matches!(path, "/health" | "/api/v1/health" | "/metrics") {
        return next.run(req).await;
    }
    match limiter.check(&rate_key(&req, limiter.trusted_proxies)) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let mut resp = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "rate limit exceeded (RATE_LIMIT_PER_SECOND / RATE_LIMIT_BURST); retry in {wait} s"
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_either_header() {
        let mut h = HeaderMap::new();
        assert_eq!(credential(&h), None);
        h.insert("x-api-key", HeaderValue::from_static(" k1 "));
        assert_eq!(credential(&h), Some("k1"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t2"));
        assert_eq!(credential(&h), Some("t2"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic dTpw"),
        );
        assert_eq!(credential(&h), None);
    }

    #[test]
    fn client_ip_trusts_only_the_configured_proxies() {
        let socket = Some("10.0.0.9".parse().unwrap());
        let mut h = HeaderMap::new();
        assert_eq!(client_ip(&h, socket, 1), socket);
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4, 10.0.0.2"),
        );
        assert_eq!(client_ip(&h, socket, 0), socket);
        assert_eq!(client_ip(&h, socket, 1), Some("10.0.0.2".parse().unwrap()));
        assert_eq!(client_ip(&h, socket, 2), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(client_ip(&h, socket, 9), Some("6.6.6.6".parse().unwrap()));
        h.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(client_ip(&h, socket, 1), socket);
    }

    #[test]
    fn public_paths() {
        assert!(is_public("/health"));
        assert!(is_public("/metrics"));
        assert!(is_public("/api/v1/health"));
        assert!(is_public("/api/v1/files/renders/x.mp4"));
        assert!(is_public("/api/docs"));
        assert!(!is_public("/api/v1/render/jobs"));
        assert!(!is_public("/api/v1/healthz"));
    }

    #[test]
    fn callers_see_their_own_data() {
        let a = Caller::User {
            user_id: "a".into(),
            admin: false,
        };
        let root = Caller::User {
            user_id: "r".into(),
            admin: true,
        };
        assert!(a.can_access("a") && !a.can_access("b"));
        assert!(root.can_access("b") && Caller::Open.can_access("b"));
        assert_eq!(a.restricted_to(), Some("a"));
        assert_eq!(root.restricted_to(), None);
    }
}
